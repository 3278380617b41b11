package runtime

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// TestDecodeEqualsPrefill checks that feeding a sequence in pieces (one token at a time, or
// chunks smaller and larger than the sliding window) gives the logits of one prefill of the
// whole sequence, across several wraps of the window's ring buffer, with an f32 and a bf16 cache
// (a bf16 cache rounds a chunk's keys and values before its own queries read them, so the
// split does not matter there either).
func TestDecodeEqualsPrefill(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	w := m.Config.SlidingWindow
	n := 5*w + 3 // 5 wraps of the ring
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]int32, n)
	ids[0] = 2
	for i := 1; i < n; i++ {
		ids[i] = int32(rng.IntN(m.VocabRows()))
	}
	v := m.VocabRows()
	for _, kv := range []KVType{KVF32, KVBF16} {
		ref, err := m.NewSession(&SessionOptions{KVType: kv}).Forward(&Batch{Tokens: ids, Logits: LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			pieces []int
		}{
			{"token-by-token", nil},
			{"chunks-of-window-minus-1", []int{w - 1}},
			{"chunks-larger-than-window", []int{2*w + 1}},
			{"mixed", []int{1, w + 2, 3, 1, 2 * w, 1}},
		} {
			t.Run(kv.String()+"/"+tc.name, func(t *testing.T) {
				s := m.NewSession(&SessionOptions{Chunk: 4, KVType: kv}) // internal chunking below the window too
				got := make([]float32, 0, n*v)
				for pos, k := 0, 0; pos < n; k++ {
					size := 1
					if len(tc.pieces) > 0 {
						size = tc.pieces[k%len(tc.pieces)]
					}
					e := min(n, pos+size)
					res, err := s.Forward(&Batch{Tokens: ids[pos:e], Logits: LogitsAll})
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, res.Logits...)
					pos = e
				}
				// bf16: a float32 difference between the splits (matrix–vector vs matrix
				// products) can move a key or value across a bfloat16 rounding boundary, a
				// 2⁻⁹ relative step of that element.
				tol := map[KVType]float64{KVF32: 1e-4, KVBF16: 3e-3}[kv]
				if e := normErr(t, "logits", got, ref.Logits); e > tol {
					t.Errorf("norm_err = %.3g, want ≤ %.3g", e, tol)
				} else {
					t.Logf("norm_err %.3g", e)
				}
				if want := int64((m.NumLayers()-1)*w+n) * int64(2*m.Config.NumKVHeads*m.Config.HeadDim*kv.Size()); s.Cache().Bytes() != want {
					t.Errorf("KV bytes = %d, want %d", s.Cache().Bytes(), want)
				}
			})
		}
	}
}

func TestGreedyGolden(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	b, err := os.ReadFile(filepath.Join(goldenA, "greedy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Prompt    []int32 `json:"prompt_ids"`
		Generated []int32 `json:"generated_ids"`
		EOS       []int32 `json:"eos_ids"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var streamed []int32
	got, st, err := m.NewSession(nil).Generate(g.Prompt, GenerateOptions{
		MaxTokens: len(g.Generated) + 8,
		EOS:       g.EOS,
		OnToken:   func(id int32) error { streamed = append(streamed, id); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := g.Generated
	stop := StopEOS
	if !slices.ContainsFunc(want, func(id int32) bool { return slices.Contains(g.EOS, id) }) {
		// The reference ran to its token limit: compare the common prefix length it produced.
		stop = StopMaxTokens
		if len(got) > len(want) {
			got = got[:len(want)]
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Generate = %v, want %v", got, want)
	}
	if !slices.Equal(streamed[:len(got)], got) {
		t.Errorf("streamed %v, returned %v", streamed, got)
	}
	if st.StopReason != stop {
		t.Logf("stop reason %s (reference: %s)", st.StopReason, stop)
	}
}

// TestAttendOneParts compares the decode attention (grouped heads, positions split into parts
// merged by their softmax statistics) with the general attention path on random queries, keys
// and values, on a global and a sliding layer, with one part and with many.
func TestAttendOneParts(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	c := m.Config
	kvd, qd := c.NumKVHeads*c.HeadDim, c.NumHeads*c.HeadDim
	rng := rand.New(rand.NewPCG(5, 6))
	rnd := func(n int, s float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = s * float32(rng.NormFloat64())
		}
		return x
	}
	const p0 = 300
	defer func(w int) { attnPartWork = w }(attnPartWork)
	for _, work := range []int{1 << 30, 64} {
		attnPartWork = work
		s := m.NewSession(&SessionOptions{Exec: kernel.Exec{Threads: 2}}) // parts need two threads
		s.ensureScratch(1)
		for l := range m.layers {
			s.cache.store(l, 0, p0, rnd(p0*kvd, 1), rnd(p0*kvd, 1))
		}
		s.cache.pos = p0
		copy(s.q, rnd(qd, 2))
		copy(s.k, rnd(kvd, 1))
		copy(s.v, rnd(kvd, 1))
		for l := range m.layers {
			s.attention(l, 1, p0, nil)
			want := append([]float32(nil), s.att[:qd]...)
			clear(s.att)
			s.attendOne(l, p0)
			if e := normErr(t, "att", s.att[:qd], want); e > 1e-6 {
				t.Errorf("part work %d, layer %d (global %v): norm_err %.3g", work, l, m.layers[l].global, e)
			}
			if parts := len(s.partM) / c.NumHeads; m.layers[l].global && (parts > 1) != (work == 64) {
				t.Errorf("part work %d, global layer %d: %d parts", work, l, parts)
			}
		}
	}
}
