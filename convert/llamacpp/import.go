package llamacpp

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/format/gguf"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// ImportOptions control [Import].
type ImportOptions struct {
	// ToolVersion is recorded in the file's metadata.
	ToolVersion string
	// Limits are the GGUF reader's caps (zero: the defaults).
	Limits *gguf.Limits
	// MMProj, when set, is a llama.cpp gemma3 mmproj file whose vision tower and projector
	// are imported with the text model.
	MMProj string
	// Progress, when not nil, is called with the payload bytes written so far and the total.
	Progress func(done, total int64)
	// Context, when not nil, stops the import when done: the partial output is removed and
	// the error wraps the context's error.
	Context context.Context
}

// ImportReport summarises an import.
type ImportReport struct {
	Output    string         `json:"output"`
	Source    string         `json:"source"`
	SHA256    string         `json:"sha256"`
	Tensors   int            `json:"tensors"`
	Types     map[string]int `json:"types"`
	Tokenizer bool           `json:"tokenizer"`
	Warnings  []string       `json:"warnings,omitempty"`
}

// Open opens and parses a GGUF file with the default limits; errors name the file.
func Open(path string) (*gguf.File, error) { return gguf.Open(path, nil) }

// ImportTemp imports the GGUF at path into a gemmatool file in a new temporary directory and
// returns the file's path and a function that removes it. verify uses it so that
// --model/--reference may name a GGUF.
func ImportTemp(path string, o ImportOptions) (string, func(), error) {
	dir, err := os.MkdirTemp("", "gemmatool-gguf-*")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	out := filepath.Join(dir, "model.gmt")
	if _, err := Import(path, out, o); err != nil {
		cleanup()
		return "", nil, err
	}
	return out, cleanup, nil
}

// IsGGUF reports whether path is a regular file that starts with the GGUF magic. Anything
// else (a named pipe, whose open would block, a directory, a missing file) is not.
func IsGGUF(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == gguf.Magic
}

// Import reads the llama.cpp gemma3 GGUF at path and writes its text model as a gemmatool
// file at out: the configuration from the gemma3.* keys, the tokenizer rebuilt from the
// tokenizer.ggml.* keys (see [tokenizerFiles]), every tensor copied (F32, F16, BF16) or
// regrouped into the planar layout (Q8_0, Q4_0); norm weights stay as llama.cpp stores them
// (1+w, recorded as norm_plus_one_folded). The source's SHA-256 is recorded in the metadata.
func Import(path, out string, o ImportOptions) (*ImportReport, error) {
	f, err := gguf.Open(path, o.Limits)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &ImportReport{Output: out, Source: path, Types: map[string]int{}}
	cfg, err := configFromGGUF(f)
	if err != nil {
		return nil, err
	}
	v, err := readVocab(f)
	if err != nil {
		return nil, err
	}
	var tokJSON, tokCfg []byte
	var tables *format.TokenizerTables
	if v != nil {
		if b, _ := boolKey(f, keySynthetic); !b {
			if tokJSON, tokCfg, err = tokenizerFiles(v); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			tok, err := tokenizer.Load(tokJSON, tokCfg)
			if err != nil {
				return nil, fmt.Errorf("%s: rebuilt tokenizer: %w", path, err)
			}
			tables = tok.Tables()
			rep.Tokenizer = true
		}
		cfg.Text.BOS, cfg.Text.PAD = int(v.bos), int(v.pad)
		cfg.Text.EOS = []int{int(v.eos)}
		if v.eot >= 0 && v.eot != v.eos {
			cfg.Text.EOS = append(cfg.Text.EOS, int(v.eot))
		}
	}
	var mf *gguf.File
	var preproc []byte
	if o.MMProj != "" {
		if mf, err = gguf.Open(o.MMProj, o.Limits); err != nil {
			return nil, err
		}
		defer mf.Close()
		if err := visionFromMMProj(mf, cfg, v); err != nil {
			return nil, err
		}
		if preproc, err = preprocessorJSON(mf, cfg); err != nil {
			return nil, err
		}
	}
	// Tensors: every expected one present with its shape, nothing left over.
	expected := convert.ExpectedTensors(cfg)
	type job struct {
		canon     string
		shape     []int64
		dt        format.DType
		file      *gguf.File
		src       gguf.TensorInfo
		norm      bool
		transpose bool
	}
	var jobs []job
	used := map[*gguf.File]map[string]bool{f: {}, mf: {}}
	var total int64
	for _, e := range expected {
		src, rules := f, textNames
		if !strings.HasPrefix(e.Name, "text.") {
			src, rules = mf, visionNames
		}
		g, norm, ok := toGGUF(rules, e.Name)
		if !ok {
			return nil, errorf("%s: no GGUF name for %q", path, e.Name)
		}
		ti, ok := src.Tensor(g)
		if !ok {
			return nil, errorf("%s: tensor %q missing", src.Path, g)
		}
		shape := reverseToShape(ti.Ne)
		transpose := e.Transpose
		if transpose {
			shape = []int64{int64(ti.Ne[0]), int64(ti.Ne[1])}
			if len(ti.Ne) != 2 {
				shape = nil
			}
		}
		if !slices.Equal(shape, e.Shape) {
			return nil, errorf("%s: tensor %q has ne %v, the configuration implies %v", src.Path, g, ti.Ne, e.Shape)
		}
		dt, ok := dtypeOf(ti.Type)
		if !ok {
			return nil, fmt.Errorf("llamacpp: %s: tensor %q is %v, which gemmatool does not read yet (%s): %w", src.Path, g, ti.Type, mappableNames(), gguf.ErrUnsupported)
		}
		if (norm || transpose) && dt.Quantized() {
			return nil, errorf("%s: tensor %q is %v, want F32, F16 or BF16", src.Path, g, ti.Type)
		}
		if norm {
			dt = format.F32
		}
		if _, err := format.LayoutOf(dt, shape); err != nil {
			return nil, errorf("%s: tensor %q: %v", src.Path, g, err)
		}
		used[src][g] = true
		total += ti.Size
		rep.Types[ti.Type.String()]++
		jobs = append(jobs, job{e.Name, shape, dt, src, ti, norm, transpose})
	}
	for _, src := range []*gguf.File{f, mf} {
		if src == nil {
			continue
		}
		for _, ti := range src.Tensors {
			if used[src][ti.Name] {
				continue
			}
			if ti.Name == "output.weight" {
				return nil, fmt.Errorf("llamacpp: %s: an untied output.weight; gemmatool's Gemma 3 ties the LM head to the embedding: %w", path, gguf.ErrUnsupported)
			}
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: tensor %q ignored", src.Path, ti.Name))
		}
	}

	sum, size, err := hashFile(path)
	if err != nil {
		return nil, err
	}
	rep.SHA256 = sum
	sources := []format.SourceFile{{Name: filepath.Base(path), Bytes: size, SHA256: sum}}
	if mf != nil {
		msum, msize, err := hashFile(o.MMProj)
		if err != nil {
			return nil, err
		}
		sources = append(sources, format.SourceFile{Name: filepath.Base(o.MMProj), Bytes: msize, SHA256: msum})
	}
	name, _ := stringKey(f, "general.name")
	if name == "" {
		name = filepath.Base(path)
	}
	ver := o.ToolVersion
	if ver == "" {
		ver = "dev"
	}
	meta := &format.Metadata{
		Format: "gemmatool",
		Model:  *cfg,
		Source: format.Source{Name: name, Files: sources},
		Tool:   format.Tool{Name: "gemmatool", Version: ver},
		Transforms: format.Transforms{
			NormPlusOneFolded: true,
			TensorSources:     map[string]string{},
		},
	}
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	w, err := format.CreateContext(ctx, out, path)
	if err != nil {
		return nil, err
	}
	var done int64
	for _, j := range jobs {
		meta.Transforms.TensorSources[j.canon] = j.src.Name
		if j.transpose {
			meta.Transforms.Transposed = append(meta.Transforms.Transposed, j.canon)
		}
		err := w.WriteTensor(j.canon, j.dt, j.shape, 1, func(dst io.Writer) error {
			if j.transpose {
				return readTransposed(dst, j.file, j.src, j.dt)
			}
			return readPayload(dst, j.file, j.src, j.dt, j.shape, j.norm)
		})
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		done += j.src.Size
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	w.SetMetadata(meta)
	if preproc != nil {
		if err := w.AddFile("preprocessor_config.json", preproc); err != nil {
			w.Abort()
			return nil, err
		}
	}
	if tokJSON != nil {
		if err := w.AddFile("tokenizer.json", tokJSON); err != nil {
			w.Abort()
			return nil, err
		}
		if err := w.AddFile("tokenizer_config.json", tokCfg); err != nil {
			w.Abort()
			return nil, err
		}
	}
	if tables != nil {
		if err := w.SetTokenizer(tables); err != nil {
			w.Abort()
			return nil, err
		}
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	rep.Tensors = len(jobs)
	return rep, nil
}

func hashFile(path string) (string, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// readPayload copies one GGUF payload into the gemmatool layout of type dt.
func readPayload(dst io.Writer, f *gguf.File, ti gguf.TensorInfo, dt format.DType, shape []int64, norm bool) error {
	r := bufio.NewReaderSize(f.TensorReader(ti), 1<<16)
	if norm {
		n := ti.Size / int64(typeBytes(ti.Type))
		var b [4]byte
		for range n {
			var v float32
			switch ti.Type {
			case gguf.F32:
				if _, err := io.ReadFull(r, b[:4]); err != nil {
					return readErr(f, ti, err)
				}
				v = math.Float32frombits(binary.LittleEndian.Uint32(b[:]))
			case gguf.F16, gguf.BF16:
				if _, err := io.ReadFull(r, b[:2]); err != nil {
					return readErr(f, ti, err)
				}
				h := binary.LittleEndian.Uint16(b[:])
				if ti.Type == gguf.F16 {
					v = format.F16ToFloat32(h)
				} else {
					v = format.BF16ToFloat32(h)
				}
			}
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			if _, err := dst.Write(b[:]); err != nil {
				return err
			}
		}
		return nil
	}
	if layoutOf(dt) == gathered {
		return readGathered(dst, f, ti, dt, shape)
	}
	cb := codeBytesOf(dt)
	if cb == 0 {
		if _, err := io.Copy(dst, io.LimitReader(r, ti.Size)); err != nil {
			return readErr(f, ti, err)
		}
		return nil
	}
	// Blocked: two passes over the GGUF blocks, codes then scales, so memory stays one block.
	l, err := format.LayoutOf(dt, shape)
	if err != nil {
		return err
	}
	blocks := l.Rows * l.Blocks()
	blk := make([]byte, 2+cb)
	for range blocks {
		if _, err := io.ReadFull(r, blk); err != nil {
			return readErr(f, ti, err)
		}
		if _, err := dst.Write(blk[2:]); err != nil {
			return err
		}
	}
	if pad := l.ScalesOff - l.Rows*l.RowStride; pad > 0 {
		if _, err := dst.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	r.Reset(f.TensorReader(ti))
	for range blocks {
		if _, err := io.ReadFull(r, blk); err != nil {
			return readErr(f, ti, err)
		}
		if _, err := dst.Write(blk[:2]); err != nil {
			return err
		}
	}
	return nil
}

// readGathered copies a k-quant or IQ4_NL tensor: two passes over the GGUF blocks, each block
// scattered into a one-block gemmatool payload whose codes are written in the first pass and
// scale fields in the second, so memory stays one block.
func readGathered(dst io.Writer, f *gguf.File, ti gguf.TensorInfo, dt format.DType, shape []int64) error {
	l, err := format.LayoutOf(dt, shape)
	if err != nil {
		return err
	}
	n, codes, scales, _ := format.SuperBlock(dt)
	one, err := format.LayoutOf(dt, []int64{1, int64(n)})
	if err != nil {
		return err
	}
	scratch := make([]byte, one.Size)
	blk := make([]byte, format.GGMLBlockSize(dt))
	blocks := l.Rows * (l.Cols / int64(n))
	for pass := range 2 {
		r := bufio.NewReaderSize(f.TensorReader(ti), 1<<16)
		for range blocks {
			if _, err := io.ReadFull(r, blk); err != nil {
				return readErr(f, ti, err)
			}
			format.PutGGMLBlock(scratch, one, 0, 0, blk)
			part := scratch[:codes]
			if pass == 1 {
				part = scratch[one.ScalesOff : one.ScalesOff+int64(scales)]
			}
			if _, err := dst.Write(part); err != nil {
				return err
			}
		}
		if pad := l.ScalesOff - l.CodesLen; pass == 0 && pad > 0 {
			if _, err := dst.Write(make([]byte, pad)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readTransposed writes the transpose of a 2-D plain-typed GGUF tensor (held in memory: the
// projector matrix, bounded by the file).
func readTransposed(dst io.Writer, f *gguf.File, ti gguf.TensorInfo, dt format.DType) error {
	b := make([]byte, ti.Size)
	if _, err := io.ReadFull(f.TensorReader(ti), b); err != nil {
		return readErr(f, ti, err)
	}
	es := int64(dt.ElemSize())
	inner, outer := int64(ti.Ne[0]), int64(ti.Ne[1])
	bw := bufio.NewWriterSize(dst, 1<<16)
	for c := range inner {
		for r := range outer {
			off := (r*inner + c) * es
			if _, err := bw.Write(b[off : off+es]); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

func typeBytes(t gguf.Type) int {
	i, _ := t.Info()
	return int(i.BlockBytes / i.BlockSize)
}

func readErr(f *gguf.File, ti gguf.TensorInfo, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &gguf.Error{Path: f.Path, Offset: f.DataOffset + int64(ti.Offset), What: fmt.Sprintf("tensor %q", ti.Name), Msg: "data ends early", Err: gguf.ErrFormat}
	}
	return fmt.Errorf("read tensor %q of %s: %w", ti.Name, f.Path, err)
}

// configFromGGUF resolves the model configuration from the gemma3.* keys, with llama.cpp's
// defaults where a key is optional.
func configFromGGUF(f *gguf.File) (*format.ModelConfig, error) {
	arch, _ := stringKey(f, "general.architecture")
	if arch != "gemma3" {
		return nil, fmt.Errorf("llamacpp: %s: general.architecture %q, want \"gemma3\": %w", f.Path, arch, gguf.ErrUnsupported)
	}
	const a = "gemma3."
	need := func(k string) (int, error) {
		u, ok := uintKey(f, a+k)
		if !ok {
			return 0, errorf("%s: key %s%s missing or not an unsigned integer", f.Path, a, k)
		}
		if u > 1<<24 {
			return 0, errorf("%s: key %s%s = %d, above %d", f.Path, a, k, u, 1<<24)
		}
		return int(u), nil
	}
	opt := func(k string, def int) (int, error) {
		if _, ok := f.Get(a + k); !ok {
			return def, nil
		}
		return need(k)
	}
	fl := func(k string, def float64) (float64, error) {
		kv, ok := f.Get(a + k)
		if !ok {
			return def, nil
		}
		x, ok := floatKey(f, a+k)
		if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, errorf("%s: key %s%s = %v (%v), want a finite float", f.Path, a, k, kv.Value, kv.Type)
		}
		return x, nil
	}
	t := format.TextConfig{HiddenAct: "gelu_pytorch_tanh", TieEmbeddings: true, BOS: 2, EOS: []int{1}, PAD: 0}
	var err error
	for _, p := range []struct {
		k string
		v *int
	}{{"embedding_length", &t.HiddenSize}, {"block_count", &t.NumLayers}, {"feed_forward_length", &t.IntermediateSize},
		{"attention.head_count", &t.NumHeads}, {"attention.sliding_window", &t.SlidingWindow}} {
		if *p.v, err = need(p.k); err != nil {
			return nil, err
		}
	}
	if t.NumLayers > 1024 || t.NumHeads == 0 {
		return nil, errorf("%s: block_count %d / head_count %d out of range", f.Path, t.NumLayers, t.NumHeads)
	}
	if t.NumKVHeads, err = opt("attention.head_count_kv", t.NumHeads); err != nil {
		return nil, err
	}
	if t.HeadDim, err = opt("attention.key_length", t.HiddenSize/t.NumHeads); err != nil {
		return nil, err
	}
	if vl, err := opt("attention.value_length", t.HeadDim); err != nil {
		return nil, err
	} else if vl != t.HeadDim {
		return nil, errorf("%s: value_length %d differs from key_length %d", f.Path, vl, t.HeadDim)
	}
	if t.MaxPositions, err = opt("context_length", 131072); err != nil {
		return nil, err
	}
	if t.RMSNormEps, err = fl("attention.layer_norm_rms_epsilon", 1e-6); err != nil {
		return nil, err
	}
	if t.RopeTheta, err = fl("rope.freq_base", 1e6); err != nil {
		return nil, err
	}
	if t.RopeLocalTheta, err = fl("rope.freq_base_swa", 1e4); err != nil {
		return nil, err
	}
	t.RopeScaling = 1
	if st, ok := stringKey(f, a+"rope.scaling.type"); ok && st != "none" {
		if st != "linear" {
			return nil, fmt.Errorf("llamacpp: %s: rope.scaling.type %q, want linear: %w", f.Path, st, gguf.ErrUnsupported)
		}
		if t.RopeScaling, err = fl("rope.scaling.factor", 1); err != nil {
			return nil, err
		}
	}
	if t.FinalLogitSoftcap, err = fl("final_logit_softcapping", 0); err != nil {
		return nil, err
	}
	if t.AttnLogitSoftcap, err = fl("attn_logit_softcapping", 0); err != nil {
		return nil, err
	}
	t.LayerTypes = make([]string, t.NumLayers)
	if kv, ok := f.Get(a + "attention.sliding_window_pattern"); ok {
		switch v := kv.Value.(type) {
		case gguf.Array:
			b, ok := v.Values.([]bool)
			if !ok || len(b) != t.NumLayers {
				return nil, errorf("%s: sliding_window_pattern has %d entries of %v, want %d bools", f.Path, v.Len(), v.Elem, t.NumLayers)
			}
			for i := range b {
				t.LayerTypes[i] = pick(b[i])
			}
		default:
			n, ok := uintKey(f, a+"attention.sliding_window_pattern")
			if !ok {
				return nil, errorf("%s: sliding_window_pattern is %v, want a bool array or an integer", f.Path, kv.Type)
			}
			setPattern(t.LayerTypes, int(min(n, 1<<20)))
		}
	} else {
		setPattern(t.LayerTypes, 6)
	}
	// embedding rows give the vocabulary size
	if e, ok := f.Tensor("token_embd.weight"); ok && len(e.Ne) == 2 && e.Ne[1] <= 1<<24 {
		t.VocabSize = int(e.Ne[1])
	} else {
		return nil, errorf("%s: no 2-D token_embd.weight", f.Path)
	}
	if t.NumHeads > 0 && t.HiddenSize%t.NumHeads == 0 {
		t.QueryPreAttnScalar = llamaQueryScalar(&t)
	}
	cfg := &format.ModelConfig{Arch: "gemma3", HFClass: "Gemma3ForCausalLM", Text: t}
	if err := cfg.Validate(); err != nil {
		return nil, errorf("%s: %v", f.Path, err)
	}
	return cfg, nil
}

func pick(sliding bool) string {
	if sliding {
		return format.LayerSliding
	}
	return format.LayerFull
}

// setPattern applies llama.cpp's integer pattern: layer i slides unless (i+1) % n == 0
// (n = 0: every layer slides).
func setPattern(lt []string, n int) {
	for i := range lt {
		lt[i] = pick(n == 0 || (i+1)%n != 0)
	}
}
