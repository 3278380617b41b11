package llamacpp

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/format/gguf"
)

// Alignment is the data alignment of exported files: GGUF's default, which every llama.cpp
// version reads without a general.alignment key.
const Alignment = gguf.DefaultAlignment

// ExportOptions control [Export].
type ExportOptions struct {
	// Requantize, when not zero (format.Q8_0, format.Q4_0 or format.BF16), is the type that
	// tensors of a type GGUF cannot hold (I4, FP8, SFP8) are re-encoded to. Without it such a
	// tensor is an error.
	Requantize format.DType
	// EncodeBlock encodes 32 values into one GGUF Q8_0 (34 bytes) or Q4_0 (18 bytes) block;
	// it is needed only when Requantize is Q8_0 or Q4_0 (package quantize has the encoders).
	EncodeBlock func(t format.DType, dst []byte, x []float32) error
	// Progress, when not nil, is called with the payload bytes written so far and the total.
	Progress func(done, total int64)
	// Context, when not nil, stops the export when done: the partial output is removed and
	// the error wraps the context's error.
	Context context.Context
	// Inputs are files the output may not resolve to (see [format.CheckOutput]).
	Inputs []string
}

// ExportReport summarises an export.
type ExportReport struct {
	Output      string         `json:"output"`
	Tensors     int            `json:"tensors"`
	Types       map[string]int `json:"types"`
	Requantized []string       `json:"requantized,omitempty"`
	QueryFold   float64        `json:"query_scale_folded,omitempty"`
	Tokenizer   string         `json:"tokenizer"` // "real" or "synthetic"
	Warnings    []string       `json:"warnings,omitempty"`
}

// plannedTensor is one GGUF tensor and how to produce it from the source.
type plannedTensor struct {
	info     gguf.TensorInfo
	src      format.Tensor
	norm     bool    // add 1 unless the source is folded; written as F32
	scale    float32 // extra factor on a norm (query_pre_attn_scalar fold), 1 if none
	requant  bool    // decode and re-encode to info.Type
	srcDType format.DType
}

// Export writes the text model of in as a llama.cpp gemma3 GGUF at out.
func Export(in *format.File, out string, o ExportOptions) (*ExportReport, error) {
	cfg := in.Meta.Model
	t := &cfg.Text
	if err := cfg.Validate(); err != nil {
		return nil, errorf("%s: %v", in.Path, err)
	}
	rep := &ExportReport{Output: out, Types: map[string]int{}}
	folded := in.Meta.Transforms.NormPlusOneFolded
	qFold := 1.0
	if want, ll := t.QueryPreAttnScalar, llamaQueryScalar(t); math.Abs(math.Sqrt(ll/want)-1) > 1e-7 {
		qFold = math.Sqrt(ll / want)
		rep.QueryFold = qFold
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("query_pre_attn_scalar %g differs from the %g llama.cpp uses: attn_q_norm scaled by %.7g", want, ll, qFold))
	}
	var plan []plannedTensor
	var total int64
	for _, src := range in.Tensors() {
		if !strings.HasPrefix(src.Name, "text.") {
			continue
		}
		name, norm, ok := toGGUF(textNames, src.Name)
		if !ok {
			return nil, errorf("%s: tensor %q has no llama.cpp name", in.Path, src.Name)
		}
		p := plannedTensor{src: src, norm: norm, scale: 1, srcDType: src.DType}
		p.info = gguf.TensorInfo{Name: name, Ne: reverseToNe(src.Shape)}
		switch {
		case norm:
			if len(src.Shape) != 1 || src.DType.Quantized() {
				return nil, errorf("%s: norm tensor %q is %v %v, want a plain vector", in.Path, src.Name, src.DType, src.Shape)
			}
			p.info.Type = gguf.F32
			if strings.HasSuffix(src.Name, ".attn_q_norm") {
				p.scale = float32(qFold)
			}
		default:
			g, ok := ggmlOf(src.DType)
			if !ok {
				if o.Requantize == 0 {
					return nil, errorf("%s: tensor %q is %v, which GGUF cannot hold; choose --requantize q8_0, q4_0 or bf16", in.Path, src.Name, src.DType)
				}
				g, _ = ggmlOf(o.Requantize)
				p.requant = true
				rep.Requantized = append(rep.Requantized, src.Name)
			}
			p.info.Type = g
		}
		if p.requant && (o.Requantize == format.Q8_0 || o.Requantize == format.Q4_0) && o.EncodeBlock == nil {
			return nil, errorf("requantizing to %v needs an encoder", o.Requantize)
		}
		n, err := gguf.Size(p.info.Type, p.info.Ne)
		if err != nil {
			return nil, errorf("%s: tensor %q: %v", in.Path, src.Name, err)
		}
		total += n
		rep.Types[p.info.Type.String()]++
		plan = append(plan, p)
	}
	if _, ok := in.Tensor("text.embed"); !ok {
		return nil, errorf("%s: no text.embed tensor", in.Path)
	}
	embed, _ := in.Tensor("text.embed")
	rows := int(embed.Shape[0])

	kvs, err := modelKeys(in, plan)
	if err != nil {
		return nil, err
	}
	tokJSON, _, err := in.EmbeddedFile("tokenizer.json")
	if err != nil {
		return nil, err
	}
	cfgJSON, _, err := in.EmbeddedFile("tokenizer_config.json")
	if err != nil {
		return nil, err
	}
	eos := t.EOS
	if len(eos) == 0 {
		eos = []int{1}
	}
	eos32 := make([]int32, len(eos))
	for i, e := range eos {
		eos32[i] = int32(e)
	}
	var v *vocab
	if tokJSON != nil {
		rep.Tokenizer = "real"
		if v, err = vocabFromTokenizer(tokJSON, cfgJSON, rows, int32(t.BOS), eos32, int32(t.PAD)); err != nil {
			return nil, fmt.Errorf("%s: %w", in.Path, err)
		}
	} else {
		rep.Tokenizer = "synthetic"
		v = syntheticVocab(rows, int32(t.BOS), eos32, int32(t.PAD))
	}
	kvs = append(kvs, v.keys(tokJSON == nil)...)

	infos := make([]gguf.TensorInfo, len(plan))
	for i, p := range plan {
		infos[i] = p.info
	}
	var progress func(int64)
	if o.Progress != nil {
		progress = func(done int64) { o.Progress(done, total) }
	}
	write := func(i int, w io.Writer) error { return writePayload(w, plan[i], folded, o) }
	if err := writeFile(o.Context, out, kvs, infos, o.Inputs, write, progress); err != nil {
		return nil, err
	}
	rep.Tensors = len(plan)
	return rep, nil
}

// writeFile writes a GGUF file of the given metadata and tensors to out (temporary file
// renamed on success, cancelled with ctx, refused when out is one of inputs); write(i, w)
// writes payload i; progress, when not nil, gets the payload bytes written so far.
func writeFile(ctx context.Context, out string, kvs []gguf.KV, infos []gguf.TensorInfo, inputs []string,
	write func(i int, w io.Writer) error, progress func(done int64)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	w, err := gguf.CreateContext(ctx, out, kvs, infos, inputs...)
	if err != nil {
		return err
	}
	var done int64
	for i := range infos {
		err := w.WriteTensor(infos[i].Name, func(dst io.Writer) error {
			bw := bufio.NewWriterSize(dst, 1<<16)
			if err := write(i, bw); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return fmt.Errorf("export %s: %w", out, err)
		}
		done += w.Tensors()[i].Size
		if progress != nil {
			progress(done)
		}
	}
	return w.Commit()
}

// modelKeys returns the general.* and gemma3.* metadata.
func modelKeys(in *format.File, plan []plannedTensor) ([]gguf.KV, error) {
	t := &in.Meta.Model.Text
	const a = "gemma3"
	name := in.Meta.Source.Name
	if name == "" {
		name = "gemma3"
	}
	kvs := []gguf.KV{
		gguf.String("general.architecture", a),
		gguf.String("general.name", name),
		gguf.Uint32("general.file_type", fileType(plan)),
		gguf.Uint32("general.quantization_version", 2),
		gguf.Uint32(a+".context_length", uint32(t.MaxPositions)),
		gguf.Uint32(a+".embedding_length", uint32(t.HiddenSize)),
		gguf.Uint32(a+".block_count", uint32(t.NumLayers)),
		gguf.Uint32(a+".feed_forward_length", uint32(t.IntermediateSize)),
		gguf.Uint32(a+".attention.head_count", uint32(t.NumHeads)),
		gguf.Uint32(a+".attention.head_count_kv", uint32(t.NumKVHeads)),
		gguf.Uint32(a+".attention.key_length", uint32(t.HeadDim)),
		gguf.Uint32(a+".attention.value_length", uint32(t.HeadDim)),
		gguf.Float32(a+".attention.layer_norm_rms_epsilon", float32(t.RMSNormEps)),
		gguf.Float32(a+".rope.freq_base", float32(t.RopeTheta)),
		gguf.Float32(a+".rope.freq_base_swa", float32(t.RopeLocalTheta)),
		gguf.Uint32(a+".attention.sliding_window", uint32(t.SlidingWindow)),
	}
	swa := make([]bool, t.NumLayers)
	for i := range swa {
		swa[i] = !t.IsGlobal(i)
	}
	kvs = append(kvs, gguf.Bools(a+".attention.sliding_window_pattern", swa))
	if t.RopeScaling != 1 {
		kvs = append(kvs, gguf.String(a+".rope.scaling.type", "linear"), gguf.Float32(a+".rope.scaling.factor", float32(t.RopeScaling)))
	}
	if t.FinalLogitSoftcap > 0 {
		kvs = append(kvs, gguf.Float32(a+".final_logit_softcapping", float32(t.FinalLogitSoftcap)))
	}
	if t.AttnLogitSoftcap > 0 {
		kvs = append(kvs, gguf.Float32(a+".attn_logit_softcapping", float32(t.AttnLogitSoftcap)))
	}
	return kvs, nil
}

// fileType is llama.cpp's general.file_type (llama_ftype) for the type of most matrix bytes.
func fileType(plan []plannedTensor) uint32 {
	bytes := map[gguf.Type]int64{}
	for _, p := range plan {
		if !p.norm {
			n, _ := gguf.Size(p.info.Type, p.info.Ne)
			bytes[p.info.Type] += n
		}
	}
	best, bn := gguf.F32, int64(-1)
	for t, n := range bytes {
		if n > bn || (n == bn && t < best) {
			best, bn = t, n
		}
	}
	switch best {
	case gguf.F16:
		return 1
	case gguf.Q4_0:
		return 2
	case gguf.Q8_0:
		return 7
	case gguf.BF16:
		return 32
	}
	return 0
}

// writePayload streams one tensor's GGUF payload.
func writePayload(w io.Writer, p plannedTensor, folded bool, o ExportOptions) error {
	src := p.src
	switch {
	case p.norm:
		x := make([]float32, src.Layout.Cols*src.Layout.Rows)
		if err := format.Dequantize(x, src.DType, src.Shape, src.Data, src.Scale); err != nil {
			return err
		}
		var b [4]byte
		for _, v := range x {
			if !folded {
				v += 1
			}
			if p.scale != 1 {
				v *= p.scale
			}
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			if _, err := w.Write(b[:]); err != nil {
				return err
			}
		}
		return nil
	case p.requant:
		return requantize(w, p, o)
	}
	if layoutOf(src.DType) == gathered {
		l := src.Layout
		n, _, _, _ := format.SuperBlock(src.DType)
		blk := make([]byte, format.GGMLBlockSize(src.DType))
		for r := range int(l.Rows) {
			for b := range int(l.Cols) / n {
				format.GGMLBlock(blk, l, src.Data, r, b)
				if _, err := w.Write(blk); err != nil {
					return err
				}
			}
		}
		return nil
	}
	cb := codeBytesOf(src.DType)
	if cb == 0 {
		_, err := w.Write(src.Data[:src.Layout.Size])
		return err
	}
	l := src.Layout
	nb := l.Blocks()
	for r := int64(0); r < l.Rows; r++ {
		codes := src.Data[l.CodesOff+r*l.RowStride:]
		scales := src.Data[l.ScalesOff+2*r*nb:]
		for b := int64(0); b < nb; b++ {
			if _, err := w.Write(scales[2*b : 2*b+2]); err != nil {
				return err
			}
			if _, err := w.Write(codes[b*int64(cb) : (b+1)*int64(cb)]); err != nil {
				return err
			}
		}
	}
	return nil
}

// requantize decodes each row and writes it in the requested type.
func requantize(w io.Writer, p plannedTensor, o ExportOptions) error {
	src := p.src
	l := src.Layout
	row := make([]float32, l.Cols)
	var blk [34]byte
	for r := int64(0); r < l.Rows; r++ {
		format.DecodeRow(row, src.DType, l, src.Data, int(r), src.Scale)
		switch o.Requantize {
		case format.BF16:
			var b [2]byte
			for _, v := range row {
				binary.LittleEndian.PutUint16(b[:], format.Float32ToBF16(v))
				if _, err := w.Write(b[:]); err != nil {
					return err
				}
			}
		case format.Q8_0, format.Q4_0:
			if l.Cols%32 != 0 {
				return fmt.Errorf("row length %d is not a multiple of 32", l.Cols)
			}
			n := 34
			if o.Requantize == format.Q4_0 {
				n = 18
			}
			for c := int64(0); c < l.Cols; c += 32 {
				if err := o.EncodeBlock(o.Requantize, blk[:n], row[c:c+32]); err != nil {
					return fmt.Errorf("row %d: %w", r, err)
				}
				if _, err := w.Write(blk[:n]); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("requantize to %v: want q8_0, q4_0 or bf16", o.Requantize)
		}
	}
	return nil
}
