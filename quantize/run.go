package quantize

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	goruntime "runtime"
	"sort"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// Source is a model whose tensors can be read row by row: an HF checkpoint being ingested or
// a gemmatool file being re-packed. Names are canonical.
type Source interface {
	// Specs lists the tensors in output order.
	Specs() []TensorSpec
	// ReadRows fills dst with rows [row0, row0+n) of the named tensor as float32, where
	// n = len(dst)/cols and cols is the product of shape[1:] (1 for a vector, whose "rows"
	// are its elements).
	ReadRows(name string, row0 int, dst []float32) error
	// Raw returns the tensor's payload bytes and per-tensor scale when it can be copied
	// unchanged into a tensor of the spec's DType, else nil.
	Raw(name string) ([]byte, float32, error)
	// Done tells the source that the tensor will not be read again (so it can release pages).
	Done(name string)
}

// guarded is a [Source] whose Raw payloads alias a mapping that may fault (see
// [FileSource.Guard]).
type guarded interface {
	Guard(fn func() error) error
}

// Job is one quantization run.
type Job struct {
	Src    Source
	Policy Policy
	// Meta is copied into the output with Quantization filled in.
	Meta format.Metadata
	// Files are embedded unchanged (tokenizer, configs).
	Files map[string][]byte
	// Tokenizer, when set, is stored as the file's tokenizer tables (see
	// [format.Writer.SetTokenizer]).
	Tokenizer *format.TokenizerTables
	// Preset is the requested preset name ("q4_0", "auto", ...), QAT what was detected.
	Preset string
	QAT    QAT
	Opts   Options
	// Imatrix, when set, weights the encoders of every tensor it has an entry for
	// ([Options.Importance]); ImatrixFile is the name recorded in the metadata.
	Imatrix     *Imatrix
	ImatrixFile string
	// With an imatrix holding full second moments, Q4_0 and I4 tensors are encoded with GPTQ
	// (gptq.go): GPTQScale picks the block scales, GPTQDamp is the relative damping (0:
	// 0.01); NoGPTQ keeps the diagonal weighted encoders.
	GPTQScale GPTQScale
	GPTQDamp  float64
	NoGPTQ    bool
	// SmoothInfo is recorded when [Job.ApplySmooth] transformed the source; BudgetInfo when a
	// size budget chose the types.
	SmoothInfo *format.SmoothInfo
	BudgetInfo *format.BudgetInfo
	// Workers encode rows in parallel (0: GOMAXPROCS).
	Workers int
	// Progress, when set, receives the source elements done and the total.
	Progress func(done, total int64)
	// Inputs are the files the source reads; the output may not resolve to any of them.
	Inputs []string
	// FinishMeta, when set, is called once the tensors are written, before the file is
	// committed, to complete Meta (for example with source hashes computed meanwhile).
	FinishMeta func(*format.Metadata) error
}

// chunkElems bounds the float32 rows of one piece of work (4 MiB of values): a few pieces
// are in flight per worker, which with the scales plane of the largest Gemma 3 tensor keeps a
// run well under 256 MiB whatever the model size.
var chunkElems = 1 << 20

// Run quantizes job.Src into a new file at out (written to a temporary file and renamed on
// success) and returns the recipe and per-tensor errors it recorded.
func Run(out string, job Job) (*format.Quantization, error) {
	return RunContext(context.Background(), out, job)
}

// RunContext is [Run] that stops when ctx is done: the partial output is removed and the
// error wraps ctx's error. job.Inputs are the paths the output must not be (see
// [format.CheckOutput]).
func RunContext(ctx context.Context, out string, job Job) (*format.Quantization, error) {
	if _, err := format.CheckOutput(out, job.Inputs...); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	specs := job.Src.Specs()
	if job.Policy.Mix != "" && job.Policy.Layers == 0 {
		job.Policy.Layers = CountLayers(specs)
	}
	q := &format.Quantization{Preset: job.Preset, QAT: job.QAT.Target, QATEvidence: job.QAT.Evidence, Rules: job.Policy.Rules()}
	type decided struct {
		spec TensorSpec
		t    format.DType
	}
	var plan []decided
	var total int64
	usesI4 := false
	for _, s := range specs {
		t, _, err := job.Policy.Decide(s.Name, s.DType, s.Shape)
		if err != nil {
			return nil, err
		}
		if _, err := format.LayoutOf(t, s.Shape); err != nil {
			return nil, fmt.Errorf("quantize: tensor %q as %v: %w", s.Name, t, err)
		}
		n, _ := format.NumElements(s.Shape)
		total += n
		usesI4 = usesI4 || t == format.I4
		plan = append(plan, decided{s, t})
	}
	if usesI4 {
		q.I4Scale = job.Opts.I4Scale.String()
	}
	q.Smooth, q.Budget = job.SmoothInfo, job.BudgetInfo
	if job.Imatrix != nil {
		q.Imatrix = &format.ImatrixInfo{File: job.ImatrixFile, Datasets: job.Imatrix.Datasets,
			Chunks: job.Imatrix.Chunks, ChunkSize: job.Imatrix.ChunkSize}
	}
	w, err := format.CreateContext(ctx, out, job.Inputs...)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	names := make([]string, 0, len(job.Files))
	for n := range job.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := w.AddFile(n, job.Files[n]); err != nil {
			return nil, err
		}
	}
	if job.Tokenizer != nil {
		if err := w.SetTokenizer(job.Tokenizer); err != nil {
			return nil, err
		}
	}
	workers := job.Workers
	if workers <= 0 {
		workers = goruntime.GOMAXPROCS(0)
	}
	tensors := make([]pipeTensor, len(plan))
	for i, d := range plan {
		pt := &tensors[i]
		pt.spec, pt.t, pt.scale = d.spec, d.t, 1
		if d.t == d.spec.DType {
			if pt.raw, pt.scale, err = job.Src.Raw(d.spec.Name); err != nil {
				return nil, err
			}
		}
	}
	p := startPipeline(job, tensors, workers)
	defer p.stop()
	var done int64
	for i := range tensors {
		pt := &tensors[i]
		s := pt.spec
		n, _ := format.NumElements(s.Shape)
		var stats *ErrorStats
		if pt.raw != nil {
			if err := w.WriteTensor(s.Name, pt.t, s.Shape, pt.scale, func(wr io.Writer) error {
				write := func() error {
					// In pieces, each released once written: a copied tensor does not stay
					// resident (the embedding alone is hundreds of MB).
					rel, _ := job.Src.(rangeReleaser)
					for off := 0; off < len(pt.raw); off += rawPiece {
						end := min(off+rawPiece, len(pt.raw))
						if _, err := wr.Write(pt.raw[off:end]); err != nil {
							return err
						}
						if rel != nil {
							rel.ReleaseRange(s.Name, int64(off)-releaseSlack, int64(end))
						}
					}
					return nil
				}
				if g, ok := job.Src.(guarded); ok {
					return g.Guard(write)
				}
				return write()
			}); err != nil {
				return nil, err
			}
		} else {
			// The first piece carries the tensor scale (SFP8), which the directory entry needs.
			first := <-p.out
			<-first.done
			if first.err != nil {
				return nil, first.err
			}
			stats = &ErrorStats{}
			if err := w.WriteTensor(s.Name, pt.t, s.Shape, pt.scale, func(wr io.Writer) error {
				return p.writeTensor(wr, pt, first, stats)
			}); err != nil {
				return nil, err
			}
			p.gptqWritten(job, pt)
		}
		job.Src.Done(s.Name)
		if pt.t != s.DType && stats != nil {
			q.Tensors = append(q.Tensors, format.TensorError{Name: s.Name, From: s.DType.String(), DType: pt.t.String(),
				RelL2: stats.RelL2(), SNRdB: stats.SNRdB(), MaxAbs: stats.MaxAbs(), WRelL2: stats.WRelL2()})
			if stats.WRelL2() > 0 && q.Imatrix != nil {
				q.Imatrix.Weighted++
			}
			if pt.gptq && q.Imatrix != nil {
				q.Imatrix.GPTQ++
			}
		}
		done += n
		if job.Progress != nil {
			job.Progress(done, total)
		}
	}
	if job.FinishMeta != nil {
		if err := job.FinishMeta(&job.Meta); err != nil {
			return nil, err
		}
	}
	meta := job.Meta
	meta.Quantization = q
	w.SetMetadata(&meta)
	if err := w.Commit(); err != nil {
		return nil, err
	}
	return q, nil
}

func maxAbsOf(src Source, s TensorSpec) (float32, error) {
	rows, cols := rowsCols(s.Shape)
	per := max(1, chunkElems/max(cols, 1))
	buf := make([]float32, min(per, rows)*cols)
	var m float32
	for r := 0; r < rows; r += per {
		k := min(per, rows-r)
		b := buf[:k*cols]
		if err := src.ReadRows(s.Name, r, b); err != nil {
			return 0, err
		}
		bits := kernel.MaxAbsBits(b)
		if bits >= 0x7f800000 {
			i := firstNonFinite(b)
			return 0, fmt.Errorf("quantize %s: row %d column %d is %v: %w", s.Name, r+i/cols, i%cols, b[i], ErrNonFinite)
		}
		m = max(m, math.Float32frombits(bits))
	}
	return m, nil
}

func rowsCols(shape []int64) (int, int) {
	n, _ := format.NumElements(shape)
	if len(shape) == 0 {
		return 1, 1
	}
	if len(shape) == 1 {
		return int(n), 1
	}
	return int(shape[0]), int(n / max(shape[0], 1))
}

// plainBytes writes float32 values b in a plain type into out (ElemSize bytes each),
// recording the rounding error; dec (len(b)) is scratch.
func plainBytes(out []byte, dec []float32, t format.DType, b []float32, stats *ErrorStats) error {
	switch t {
	case format.F32:
		copy(out, format.Float32Bytes(b))
		copy(dec, b)
	case format.BF16, format.F16:
		for i, v := range b {
			var h uint16
			if t == format.BF16 {
				h = format.Float32ToBF16(v)
				dec[i] = format.BF16ToFloat32(h)
			} else {
				h = format.Float32ToF16(v)
				dec[i] = format.F16ToFloat32(h)
			}
			binary.LittleEndian.PutUint16(out[2*i:], h)
		}
	default:
		return fmt.Errorf("quantize: %v is not a plain type", t)
	}
	stats.Add(b, dec)
	return nil
}

// FileSource reads the tensors of an open gemmatool file (any stored type) as a [Source].
// Each payload's CRC-32C is verified the first time the tensor is read, so a corrupted
// source is refused (naming the file and tensor) instead of being copied into a new file
// under fresh checksums; reads of the mapping run under [format.File.Guard], so a source
// truncated while mapped is an error wrapping [format.ErrChanged].
type FileSource struct {
	F *format.File
}

// Specs implements [Source].
func (s FileSource) Specs() []TensorSpec {
	var out []TensorSpec
	for _, t := range s.F.Tensors() {
		out = append(out, TensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape})
	}
	return out
}

// tensor returns the named tensor after verifying its payload's checksum.
func (s FileSource) tensor(name string) (format.Tensor, error) {
	t, ok := s.F.Tensor(name)
	if !ok {
		return t, fmt.Errorf("quantize: %s: no tensor %q", s.F.Path, name)
	}
	if err := s.F.VerifyTensor(name); err != nil {
		return t, fmt.Errorf("quantize: source %w", err)
	}
	return t, nil
}

// ReadRows implements [Source].
func (s FileSource) ReadRows(name string, row0 int, dst []float32) error {
	t, err := s.tensor(name)
	if err != nil {
		return err
	}
	rows, cols := rowsCols(t.Shape)
	if cols == 0 || len(dst)%cols != 0 || row0 < 0 || row0+len(dst)/cols > rows {
		return fmt.Errorf("quantize: %s: tensor %q: rows [%d, +%d) out of range", s.F.Path, name, row0, len(dst)/max(cols, 1))
	}
	return s.F.Guard(func() error {
		if !t.DType.Quantized() {
			// Plain types: a vector's rows are its elements.
			es := int64(t.DType.ElemSize())
			lo, hi := int64(row0*cols)*es, int64(row0*cols+len(dst))*es
			var err error
			if t.DType == format.BF16 {
				kernel.WidenBF16(dst, t.Data[lo:hi])
			} else {
				err = format.Dequantize(dst, t.DType, []int64{int64(len(dst))}, t.Data[lo:hi], 1)
			}
			s.F.Release(t, lo-releaseSlack, hi)
			return err
		}
		for i := 0; i < len(dst)/cols; i++ {
			format.DecodeRow(dst[i*cols:(i+1)*cols], t.DType, t.Layout, t.Data, row0+i, t.Scale)
		}
		return nil
	})
}

// releaseSlack widens the range a read releases backwards: a page fault maps the whole
// page-cache folio around the address (up to 2 MiB), so reading rows also maps pages before
// them, which the previous piece's release may already have passed. Pages ahead of the rows
// are released by the read of the next rows, the rest by [FileSource.Done].
const releaseSlack = 4 << 20

// rangeReleaser is a [Source] that can drop the pages of part of a tensor's raw payload.
type rangeReleaser interface {
	ReleaseRange(name string, lo, hi int64)
}

// rawPiece is how much of a copied payload is written between releases.
const rawPiece = 8 << 20

// ReleaseRange drops the pages of bytes [lo, hi) of the named tensor's payload from the
// resident set (Run calls it as it copies a payload unchanged).
func (s FileSource) ReleaseRange(name string, lo, hi int64) {
	if t, ok := s.F.Tensor(name); ok {
		s.F.Release(t, lo, hi)
	}
}

// Verify checks the named tensor's payload checksum ahead of its reads (the pipeline calls
// it once per tensor, so that parallel readers do not each verify it).
func (s FileSource) Verify(name string) error {
	_, err := s.tensor(name)
	return err
}

// Raw implements [Source].
func (s FileSource) Raw(name string) ([]byte, float32, error) {
	t, err := s.tensor(name)
	if err != nil {
		return nil, 0, err
	}
	return t.Data, t.Scale, nil
}

// Guard runs fn, which reads payloads returned by Raw, under the file's fault guard.
func (s FileSource) Guard(fn func() error) error { return s.F.Guard(fn) }

// Done implements [Source]: the tensor's pages leave the resident set.
func (s FileSource) Done(name string) {
	if t, ok := s.F.Tensor(name); ok {
		s.F.Release(t, 0, t.Length)
	}
}
