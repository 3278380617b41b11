package runtime

import (
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// The prefill and decode benchmarks run a real-size model named by GEMMATOOL_BENCH_MODEL and
// report tokens per second; they skip when it is unset. GEMMATOOL_BENCH_ACT=int8 selects the
// int8 activation path; the weights are resident (LoadOptions.Resident) unless
// GEMMATOOL_BENCH_MMAP is set. For the 1B configuration in BF16:
//
//	gemmatool synth --size 1b -o /tmp/s1b && gemmatool convert /tmp/s1b -o /tmp/s1b.gmt
//	GEMMATOOL_BENCH_MODEL=/tmp/s1b.gmt go test ./runtime -run '^$' -bench 'Prefill|Decode' -benchtime 3x
func benchModel(b *testing.B) (*Model, kernel.Exec) {
	p := os.Getenv("GEMMATOOL_BENCH_MODEL")
	if p == "" {
		b.Skip("GEMMATOOL_BENCH_MODEL is not set")
	}
	var ex kernel.Exec
	switch a := os.Getenv("GEMMATOOL_BENCH_ACT"); a {
	case "", "exact":
	case "int8":
		ex.Mode = kernel.ModeInt8
	default:
		b.Fatalf("GEMMATOOL_BENCH_ACT=%q: want exact or int8", a)
	}
	f, err := format.Open(p, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	m, err := Load(f, &LoadOptions{Resident: os.Getenv("GEMMATOOL_BENCH_MMAP") == ""})
	if err != nil {
		b.Fatal(err)
	}
	return m, ex
}

func benchTokens(m *Model, n int) []int32 {
	ids := make([]int32, n)
	ids[0] = m.BOS()
	for i := 1; i < n; i++ {
		ids[i] = int32((i * 7919) % min(m.VocabRows(), 200000))
	}
	return ids
}

// BenchmarkPrefill prefills 256 tokens from an empty cache (logits of the last position).
func BenchmarkPrefill(b *testing.B) {
	m, ex := benchModel(b)
	const n = 256
	ids := benchTokens(m, n)
	s := m.NewSession(&SessionOptions{MaxContext: 4096, Exec: ex})
	var total time.Duration
	for b.Loop() {
		s.Reset()
		t0 := time.Now()
		if _, err := s.Forward(&Batch{Tokens: ids}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "tok/s")
}

// BenchmarkDecode decodes 64 tokens one at a time after a 32-token prompt.
func BenchmarkDecode(b *testing.B) {
	m, ex := benchModel(b)
	const prompt, steps = 32, 64
	ids := benchTokens(m, prompt+steps)
	s := m.NewSession(&SessionOptions{MaxContext: 4096, Exec: ex})
	logits := make([]float32, m.VocabRows())
	var total time.Duration
	for b.Loop() {
		s.Reset()
		if _, err := s.Forward(&Batch{Tokens: ids[:prompt], Logits: LogitsNone}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := prompt; i < prompt+steps; i++ {
			if _, err := s.Forward(&Batch{Tokens: ids[i : i+1], LogitsInto: logits}); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(steps*b.N)/total.Seconds(), "tok/s")
}

// BenchmarkDecodeSplit splits a decode step (64 steps after a 32-token prompt, as
// BenchmarkDecode) into what its weight streams alone cost: ms/step is the whole step,
// ms/step-no-head the step without the LM head (LogitsNone), ms/layers the decoder layers'
// matrix–vector calls alone (the same calls in the same order, on a fixed input), ms/head the
// LM head alone. step − layers − head is what the rest of the step (norms, RoPE, attention,
// the KV cache, activation quantization) costs on top of the matrices.
func BenchmarkDecodeSplit(b *testing.B) {
	m, ex := benchModel(b)
	const prompt, steps = 32, 64
	ids := benchTokens(m, prompt+steps)
	s := m.NewSession(&SessionOptions{MaxContext: 4096, Exec: ex})
	dc := newDecodeCalls(m, ex)
	logits := make([]float32, m.VocabRows())
	// decode times the steps after a fresh prompt, with or without the LM head.
	decode := func(mode LogitsMode) time.Duration {
		s.Reset()
		if _, err := s.Forward(&Batch{Tokens: ids[:prompt], Logits: LogitsNone}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := prompt; i < prompt+steps; i++ {
			if _, err := s.Forward(&Batch{Tokens: ids[i : i+1], Logits: mode, LogitsInto: logits}); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	var full, head, layersOnly, noHead time.Duration
	for range b.N {
		full += decode(LogitsLast)
		noHead += decode(LogitsNone)
		t0 := time.Now()
		for range steps {
			for l := range m.layers {
				for _, kind := range callKinds {
					dc.run(&m.layers[l], kind)
				}
			}
		}
		layersOnly += time.Since(t0)
		t0 = time.Now()
		for range steps {
			s.Logits(logits, dc.x[:m.Hidden()], 1)
		}
		head += time.Since(t0)
	}
	n := float64(steps * b.N)
	b.ReportMetric(full.Seconds()/n*1e3, "ms/step")
	b.ReportMetric(layersOnly.Seconds()/n*1e3, "ms/layers")
	b.ReportMetric(head.Seconds()/n*1e3, "ms/head")
	b.ReportMetric(noHead.Seconds()/n*1e3, "ms/step-no-head")
}

// callKinds are the kinds of matrix–vector calls of a decode step's layer, in order: "attn"
// the q/k/v and o calls, "glu" the gate/up call, "down" the down projection.
var callKinds = []string{"attn", "glu", "down"}

// decodeCalls makes a decode step's matrix–vector calls on a fixed input.
type decodeCalls struct {
	ex       kernel.Exec
	x, y, y2 []float32
	qkv      [][]float32
}

func newDecodeCalls(m *Model, ex kernel.Exec) *decodeCalls {
	c := m.Config
	d, qd, kvd, I := m.Hidden(), c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim, c.IntermediateSize
	dc := &decodeCalls{ex: ex, x: make([]float32, max(d, qd, I)), y: make([]float32, max(d, I)), y2: make([]float32, I),
		qkv: [][]float32{make([]float32, qd), make([]float32, kvd), make([]float32, kvd)}}
	for i := range dc.x {
		dc.x[i] = float32(i%7) - 3
	}
	return dc
}

// run makes layer ly's calls of one kind.
func (dc *decodeCalls) run(ly *layer, kind string) {
	switch kind {
	case "attn":
		dc.ex.MatVecMulti(dc.qkv, ly.qkv[:], dc.x[:ly.q.Cols()])
		dc.ex.MatVec(dc.y, ly.o, dc.x[:ly.o.Cols()])
	case "glu":
		dc.ex.MatVecGLU(dc.y, dc.y2, ly.gate, ly.up, dc.x[:ly.gate.Cols()])
	default:
		dc.ex.MatVec(dc.y, ly.down, dc.x[:ly.down.Cols()])
	}
}

// bytes returns the weight bytes layer ly's calls of one kind read.
func (dc *decodeCalls) bytes(ly *layer, kind string) int64 {
	switch kind {
	case "attn":
		return ly.q.WeightBytes() + ly.k.WeightBytes() + ly.v.WeightBytes() + ly.o.WeightBytes()
	case "glu":
		return ly.gate.WeightBytes() + ly.up.WeightBytes()
	default:
		return ly.down.WeightBytes()
	}
}

// BenchmarkDecoderMatrices streams every decoder matrix of the model once per iteration with
// MatVec (what a decode step reads, minus the LM head), from the file mapping, from plain Go
// heap copies and from resident copies in huge-page memory ([kernel.Resident], what
// LoadOptions.Resident does); b.SetBytes makes the result read as GB/s. It separates the
// matrices' streaming rate from the rest of a decode step, and shows what the page size costs.
func BenchmarkDecoderMatrices(b *testing.B) {
	m, ex := benchModel(b)
	var mapped []*kernel.Matrix
	for i := range m.layers {
		ly := &m.layers[i]
		mapped = append(mapped, ly.q, ly.k, ly.v, ly.o, ly.gate, ly.up, ly.down)
	}
	heap := make([]*kernel.Matrix, len(mapped))
	resident := make([]*kernel.Matrix, len(mapped))
	var bytes int64
	maxDim := 0
	for i, w := range mapped {
		c := *w
		c.Data = append([]byte(nil), w.Data...)
		heap[i] = &c
		r := *w
		resident[i] = &r
		bytes += w.WeightBytes()
		maxDim = max(maxDim, w.Rows(), w.Cols())
	}
	kernel.Resident(resident, nil)
	x, y := make([]float32, maxDim), make([]float32, maxDim)
	for _, set := range []struct {
		name string
		ms   []*kernel.Matrix
	}{{"mapped", mapped}, {"heap", heap}, {"resident", resident}} {
		b.Run(set.name, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				for _, w := range set.ms {
					ex.MatVec(y[:w.Rows()], w, x[:w.Cols()])
				}
			}
		})
	}
}

// BenchmarkDecodeCalls streams the decoder's matrices as a decode step calls them, grouped by
// call kind over all layers (b.SetBytes: GB/s of weights): "attn" the q/k/v and o calls, "glu"
// the gate/up calls, "down" the down projections. It shows which calls stream below the rest.
func BenchmarkDecodeCalls(b *testing.B) {
	m, ex := benchModel(b)
	dc := newDecodeCalls(m, ex)
	for _, kind := range callKinds {
		var bytes int64
		for l := range m.layers {
			bytes += dc.bytes(&m.layers[l], kind)
		}
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				for l := range m.layers {
					dc.run(&m.layers[l], kind)
				}
			}
		})
	}
}

// BenchmarkResidentLoad copies the weights of GEMMATOOL_BENCH_MODEL into huge-page memory as
// a resident load does, reporting GB/s of weights: "mapping" copies from the file mapping
// (faulting its 4 KiB pages in, then releasing them: the load before pread), "pread" reads the
// file straight into the huge pages (what Load does). Run it twice in a row for a warm page
// cache:
//
//	GEMMATOOL_BENCH_MODEL=/tmp/s1b-q4.gmt go test ./runtime -run '^$' -bench ResidentLoad -benchtime 5x
func BenchmarkResidentLoad(b *testing.B) {
	p := os.Getenv("GEMMATOOL_BENCH_MODEL")
	if p == "" {
		b.Skip("GEMMATOOL_BENCH_MODEL is not set")
	}
	f, err := format.Open(p, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var ts []format.Tensor
	var total int64
	for _, t := range f.Tensors() {
		if strings.HasPrefix(t.Name, "text.") && len(t.Shape) == 2 {
			ts = append(ts, t)
			total += t.Length
		}
	}
	matrices := func() []*kernel.Matrix {
		ms := make([]*kernel.Matrix, len(ts))
		for i, t := range ts {
			ms[i] = &kernel.Matrix{Data: t.Data}
		}
		return ms
	}
	b.Run("mapping", func(b *testing.B) {
		b.SetBytes(total)
		defer testutil.ReportCPU(b)()
		for b.Loop() {
			if err := f.Guard(func() error {
				kernel.Resident(matrices(), func(i, lo, hi int) { f.Release(ts[i], int64(lo), int64(hi)) })
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			goruntime.GC()
			b.StartTimer()
		}
	})
	b.Run("pread", func(b *testing.B) {
		b.SetBytes(total)
		defer testutil.ReportCPU(b)()
		for b.Loop() {
			if err := kernel.ResidentFrom(matrices(), func(i, lo int, dst []byte) error {
				return f.ReadAt(dst, ts[i].Offset+int64(lo))
			}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			goruntime.GC()
			b.StartTimer()
		}
	})
}
