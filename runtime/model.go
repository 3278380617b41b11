package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// ErrConfig reports a model file whose configuration or tensors the runtime cannot use: a
// missing tensor, a shape that disagrees with the configuration, an unsupported activation.
var ErrConfig = errors.New("runtime: unusable model")

// SamplingVocab is the number of real text tokens of Gemma 3 (ids 0…262143). Embedding rows
// from this id on (the image soft token 262144 and the padding rows of the multimodal sizes)
// are never sampled.
const SamplingVocab = 262144

// Model is a Gemma 3 text decoder whose weights are read in place from an open
// [format.File]. It is immutable after [Load] and safe for concurrent use by several
// [Session] values (each session owns its cache and scratch buffers); the parallel kernels
// themselves share one worker pool, so sessions running at the same time take turns on it.
type Model struct {
	// Config is the text configuration of the file.
	Config format.TextConfig
	// File is the file the weights live in; it must stay open while the model is used.
	File *format.File

	embed      *kernel.Matrix // [V, d]: token embedding and tied LM head
	outputNorm []float32      // 1 + w
	layers     []layer

	embedScale float32 // float32(√d)
	attnScale  float32 // query_pre_attn_scalar^−½
	eps        float32
	softcap    float32 // final logit soft-cap, 0 when off

	invFreqGlobal []float64 // base^(−2i/hd) / factor, i < hd/2
	invFreqLocal  []float64

	resident bool // weights copied out of the mapping (LoadOptions.Resident)
}

// Resident reports whether the weights were copied out of the file mapping at load.
func (m *Model) Resident() bool { return m.resident }

// layer holds one decoder layer. Norm weights are stored with the +1 applied.
type layer struct {
	global                 bool
	attnNorm, postAttnNorm []float32
	ffnNorm, postFFNNorm   []float32
	qNorm, kNorm           []float32
	q, k, v, o             *kernel.Matrix
	gate, up, down         *kernel.Matrix
	qkv                    [3]*kernel.Matrix // q, k, v: the decode step's shared-input group
}

// LoadOptions tunes [Load]. The zero value is valid.
type LoadOptions struct {
	// Logger receives warnings (for example an attention soft-cap the reference ignores).
	// Nil discards them.
	Logger *slog.Logger
	// Resident copies the decoder's weight matrices (and the embedding / LM head) out of the
	// file mapping into memory backed by transparent huge pages ([kernel.WeightMemory]) and
	// drops the mapping's pages. Loading then reads the whole file once and the model holds
	// its weights in anonymous memory, but every decode step streams them faster: with 4 KiB
	// pages of a file mapping the weight stream pays hundreds of thousands of TLB misses per
	// token (measured in the README). When the copy would not fit the memory the system has
	// available, the weights stay mapped (with a warning to Logger). The default keeps the
	// weights in the mapping: instant start, page cache shared between processes.
	Resident bool
}

// Load prepares the text decoder of f. It checks the configuration and the type and shape of
// every tensor, decodes the small norm weights into memory (applying 1 + w unless the file
// says the +1 is folded) and describes the large weights as [kernel.Matrix] values over the
// mapping, without copying them (unless [LoadOptions.Resident]).
//
// A memory fault reading the mapped file while loading (the file truncated meanwhile) is an
// error wrapping [format.ErrChanged].
func Load(f *format.File, opts *LoadOptions) (m *Model, err error) {
	err = guard(f, func() error {
		var err error
		m, err = load(f, opts)
		return err
	})
	return m, err
}

// Guard runs fn, which may read the model's weights outside [Session.Forward] (such as
// [Session.Logits]), turning a memory fault (the mapped file truncated while in use) into an
// error wrapping [format.ErrChanged].
func (m *Model) Guard(fn func() error) error { return guard(m.File, fn) }

// guard runs fn under f's fault guard (see [format.File.Guard]); with no file, it just
// runs fn.
func guard(f *format.File, fn func() error) error {
	if f == nil || f.Mapped() == nil {
		return fn()
	}
	return f.Guard(fn)
}

func load(f *format.File, opts *LoadOptions) (*Model, error) {
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := f.Meta.Model
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("runtime: %s: %w: %w", f.Path, ErrConfig, err)
	}
	if cfg.Arch != "" && cfg.Arch != "gemma3" {
		return nil, fmt.Errorf("runtime: %s: architecture %q: %w", f.Path, cfg.Arch, ErrConfig)
	}
	t := cfg.Text
	switch t.HiddenAct {
	case "", "gelu_pytorch_tanh", "gelu_tanh", "gelu_new":
	default:
		return nil, fmt.Errorf("runtime: %s: hidden_activation %q (want gelu_pytorch_tanh): %w", f.Path, t.HiddenAct, ErrConfig)
	}
	if t.AttnLogitSoftcap > 0 {
		log.Warn("attn_logit_softcapping is set but ignored, as in the Hugging Face Gemma 3 reference", "value", t.AttnLogitSoftcap)
	}
	if !t.TieEmbeddings {
		// Every released Gemma 3 ties the LM head; the format has no separate head tensor.
		log.Warn("tie_word_embeddings is false; using the token embedding as the LM head")
	}
	m := &Model{
		Config:     t,
		File:       f,
		embedScale: float32(math.Sqrt(float64(t.HiddenSize))),
		attnScale:  float32(math.Pow(t.QueryPreAttnScalar, -0.5)),
		eps:        float32(t.RMSNormEps),
		softcap:    float32(t.FinalLogitSoftcap),
	}
	l := loader{f: f, folded: f.Meta.Transforms.NormPlusOneFolded}
	d, hd := int64(t.HiddenSize), int64(t.HeadDim)
	qw, kvw, ff := int64(t.NumHeads)*hd, int64(t.NumKVHeads)*hd, int64(t.IntermediateSize)

	m.embed = l.matrix("text.embed", -1, d)
	if m.embed != nil && m.embed.Rows() != t.VocabSize {
		log.Warn("embedding rows differ from vocab_size; logits cover the embedding rows", "rows", m.embed.Rows(), "vocab_size", t.VocabSize)
	}
	m.outputNorm = l.norm("text.output_norm", d)
	m.layers = make([]layer, t.NumLayers)
	for i := range m.layers {
		p := fmt.Sprintf("text.blk.%d.", i)
		m.layers[i] = layer{
			global:       t.IsGlobal(i),
			attnNorm:     l.norm(p+"attn_norm", d),
			q:            l.matrix(p+"attn_q", qw, d),
			k:            l.matrix(p+"attn_k", kvw, d),
			v:            l.matrix(p+"attn_v", kvw, d),
			o:            l.matrix(p+"attn_o", d, qw),
			qNorm:        l.norm(p+"attn_q_norm", hd),
			kNorm:        l.norm(p+"attn_k_norm", hd),
			postAttnNorm: l.norm(p+"post_attn_norm", d),
			ffnNorm:      l.norm(p+"ffn_norm", d),
			gate:         l.matrix(p+"ffn_gate", ff, d),
			up:           l.matrix(p+"ffn_up", ff, d),
			down:         l.matrix(p+"ffn_down", d, ff),
			postFFNNorm:  l.norm(p+"post_ffn_norm", d),
		}
		ly := &m.layers[i]
		ly.qkv = [3]*kernel.Matrix{ly.q, ly.k, ly.v}
	}
	if l.err != nil {
		return nil, fmt.Errorf("runtime: %s: %w", f.Path, l.err)
	}
	m.invFreqGlobal = invFreqs(t.HeadDim, t.RopeTheta, t.RopeScaling)
	m.invFreqLocal = invFreqs(t.HeadDim, t.RopeLocalTheta, 1)
	var bytes int64
	for _, w := range l.mats {
		bytes += w.WeightBytes()
	}
	// Copying or mapping ahead needs the weights' size in memory; when the system cannot give
	// it without swapping, the pages are left to the page cache, which can evict them.
	avail := availableMemory()
	fits := avail <= 0 || bytes <= avail-avail/8
	if o.Resident {
		if !fits {
			log.Warn("weights stay in the file mapping: copying them would need more than the available memory",
				"weights_bytes", bytes, "available_bytes", avail)
		} else {
			// Reading the file with pread fills the huge pages from the page cache without
			// faulting the mapping in 4 KiB at a time (the mapping's pages are never touched).
			if err := kernel.ResidentFrom(l.mats, func(i, lo int, dst []byte) error {
				return f.ReadAt(dst, l.tensors[i].Offset+int64(lo))
			}); err != nil {
				return nil, fmt.Errorf("runtime: %w", err)
			}
			m.resident = true
		}
	}
	if !m.resident && fits {
		// Read in place: map the weights' pages now, in one call per matrix, instead of one
		// page fault per 64 KiB during the first forward pass.
		for _, t := range l.tensors {
			f.Populate(t)
		}
	}
	return m, nil
}

// availableMemory is kernel.AvailableMemory (a variable for tests).
var availableMemory = kernel.AvailableMemory

// loader collects the first error met while looking up tensors.
type loader struct {
	f       *format.File
	folded  bool
	err     error
	mats    []*kernel.Matrix // every matrix returned, with its tensor
	tensors []format.Tensor
}

func (l *loader) fail(name string, format string, args ...any) {
	if l.err == nil {
		l.err = fmt.Errorf("tensor %q: %s: %w", name, fmt.Sprintf(format, args...), ErrConfig)
	}
}

// matrix returns the weight name of shape [rows, cols] (rows < 0: any number of rows).
func (l *loader) matrix(name string, rows, cols int64) *kernel.Matrix {
	t, ok := l.f.Tensor(name)
	if !ok {
		l.fail(name, "missing")
		return nil
	}
	if len(t.Shape) != 2 || (rows >= 0 && t.Shape[0] != rows) || t.Shape[1] != cols || t.Shape[0] <= 0 {
		want := fmt.Sprintf("[%d %d]", rows, cols)
		if rows < 0 {
			want = fmt.Sprintf("[rows %d]", cols)
		}
		l.fail(name, "shape %v, want %s", t.Shape, want)
		return nil
	}
	w, err := kernel.NewMatrix(t.DType, t.Shape, t.Data, t.Scale)
	if err != nil {
		if l.err == nil {
			l.err = fmt.Errorf("tensor %q: %w", name, err)
		}
		return nil
	}
	l.mats, l.tensors = append(l.mats, w), append(l.tensors, t)
	return w
}

// norm decodes the RMSNorm weight name of n elements and returns 1 + w (or w if folded).
func (l *loader) norm(name string, n int64) []float32 {
	t, ok := l.f.Tensor(name)
	if !ok {
		l.fail(name, "missing")
		return nil
	}
	if !slices.Equal(t.Shape, []int64{n}) {
		l.fail(name, "shape %v, want [%d]", t.Shape, n)
		return nil
	}
	w := make([]float32, n)
	if err := format.Dequantize(w, t.DType, t.Shape, t.Data, t.Scale); err != nil {
		if l.err == nil {
			l.err = fmt.Errorf("tensor %q: %w", name, err)
		}
		return nil
	}
	if !l.folded {
		for i := range w {
			w[i] = 1 + w[i]
		}
	}
	return w
}

// invFreqs returns the RoPE inverse frequencies base^(−2i/hd) / factor for i < hd/2, in
// float64.
func invFreqs(hd int, base, factor float64) []float64 {
	f := make([]float64, hd/2)
	for i := range f {
		f[i] = math.Pow(base, -float64(2*i)/float64(hd)) / factor
	}
	return f
}

// VocabRows returns the number of embedding rows, the width of a logits row.
func (m *Model) VocabRows() int { return m.embed.Rows() }

// Hidden returns the hidden size d.
func (m *Model) Hidden() int { return m.Config.HiddenSize }

// NumLayers returns the number of decoder layers.
func (m *Model) NumLayers() int { return len(m.layers) }

// EmbedScale returns the factor applied to token embeddings, float32(√d).
func (m *Model) EmbedScale() float32 { return m.embedScale }

// SamplingLimit returns the number of leading vocabulary ids that may be sampled: the
// embedding rows, capped at [SamplingVocab].
func (m *Model) SamplingLimit() int { return min(m.VocabRows(), SamplingVocab) }

// EOS returns the end-of-sequence ids of the configuration.
func (m *Model) EOS() []int { return m.Config.EOS }

// BOS returns the beginning-of-sequence id.
func (m *Model) BOS() int32 { return int32(m.Config.BOS) }

// WeightBytes returns the bytes of all weight payloads the forward pass reads.
func (m *Model) WeightBytes() int64 {
	n := m.embed.WeightBytes()
	for i := range m.layers {
		ly := &m.layers[i]
		for _, w := range []*kernel.Matrix{ly.q, ly.k, ly.v, ly.o, ly.gate, ly.up, ly.down} {
			n += w.WeightBytes()
		}
	}
	return n
}

// embedRow writes the scaled input embedding of token id to dst.
func (m *Model) embedRow(dst []float32, id int32) {
	kernel.DequantRow(dst, m.embed, int(id))
	kernel.Scale(dst, m.embedScale)
}

// Logits computes the logits of n hidden rows (final-normed, n×d) into dst (n×VocabRows):
// the tied LM head, then the final soft-cap when the configuration sets one. It runs in the
// session's activation mode and threads.
func (s *Session) Logits(dst, hidden []float32, n int) {
	m := s.m
	v := m.VocabRows()
	s.ex.MatMul(dst[:n*v], m.embed, hidden[:n*m.Hidden()], n)
	if c := m.softcap; c > 0 {
		softcap(s.ex, dst[:n*v], c)
	}
}

func softcap(e kernel.Exec, x []float32, c float32) {
	e.ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] = c * float32(math.Tanh(float64(x[i]/c)))
		}
	})
}
