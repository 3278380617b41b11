package verify

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestWindows(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		n, ctx, stride, chnk int
		want                 []Window
	}{
		{"non-overlapping", 10, 4, 0, 0, []Window{{0, 3, 0}, {3, 6, 3}, {6, 9, 6}, {9, 10, 9}}},
		{"exact fit", 6, 4, 0, 0, []Window{{0, 3, 0}, {3, 6, 3}}},
		{"one short window", 2, 8, 0, 0, []Window{{0, 2, 0}}},
		{"chunks", 10, 4, 0, 2, []Window{{0, 3, 0}, {3, 6, 3}}},
		{"stride 2", 10, 4, 2, 0, []Window{{0, 3, 0}, {2, 5, 3}, {4, 7, 5}, {6, 9, 7}, {8, 10, 9}}},
		{"stride 1", 5, 3, 1, 0, []Window{{0, 2, 0}, {1, 3, 2}, {2, 4, 3}, {3, 5, 4}}},
		{"stride 1 chunks 2", 5, 3, 1, 2, []Window{{0, 2, 0}, {1, 3, 2}}},
		{"ctx 2", 3, 2, 0, 0, []Window{{0, 1, 0}, {1, 2, 1}, {2, 3, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Windows(tc.n, tc.ctx, tc.stride, tc.chnk)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Windows(%d, %d, %d, %d) = %v, want %v", tc.n, tc.ctx, tc.stride, tc.chnk, got, tc.want)
			}
		})
	}
	for _, bad := range [][4]int{{0, 4, 0, 0}, {5, 1, 0, 0}, {5, 4, 4, 0}, {5, 4, -1, 0}, {5, 4, 0, -1}} {
		if _, err := Windows(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("Windows%v: no error", bad)
		}
	}
}

// fakeScorer gives every prediction an NLL that depends on the predicted token and on how many
// tokens of context it had, and records what it was asked.
type fakeScorer struct {
	calls [][]int32
}

func fakeNLL(token int32, context int) float64 {
	return float64(token%7)*0.25 + 3/float64(context)
}

func (f *fakeScorer) ScoreWindow(ids []int32, from int, emit func(p int, nll float64)) error {
	f.calls = append(f.calls, slices.Clone(ids))
	for p := from; p < len(ids)-1; p++ {
		emit(p, fakeNLL(ids[p+1], p+1))
	}
	return nil
}

// TestPerplexityRules checks, with a fake model, that every text token is scored exactly once,
// with the context the window rules give it, and that the statistics follow.
func TestPerplexityRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := make([]int32, 103)
	for i := range text {
		text[i] = 10 + int32(rng.IntN(1000))
	}
	const bos = 2
	for _, tc := range []struct{ ctx, stride, chunks int }{{8, 0, 0}, {8, 3, 0}, {8, 7, 0}, {16, 1, 0}, {8, 0, 5}, {8, 2, 9}} {
		f := &fakeScorer{}
		res, err := Perplexity(f, text, PerplexityOptions{Ctx: tc.ctx, Stride: tc.stride, Chunks: tc.chunks, BOS: bos})
		if err != nil {
			t.Fatal(err)
		}
		// Independent model of the rules: token i is first covered by the window starting at
		// the largest multiple of the stride that still holds it in its first ctx−1 tokens…
		// computed by brute force here.
		stride := tc.stride
		if stride == 0 {
			stride = tc.ctx - 1
		}
		var m Moments
		scored := make([]bool, len(text))
		windows := 0
		for start := 0; start < len(text) && (tc.chunks == 0 || windows < tc.chunks); start += stride {
			end := min(len(text), start+tc.ctx-1)
			any := false
			for i := start; i < end; i++ {
				if !scored[i] {
					scored[i] = true
					any = true
					m.Add(fakeNLL(text[i], i-start+1))
				}
			}
			if any {
				windows++
			}
			if end == len(text) {
				break
			}
		}
		if len(f.calls) != windows {
			t.Errorf("%+v: %d windows, want %d", tc, len(f.calls), windows)
		}
		for _, c := range f.calls {
			if c[0] != bos || len(c) > tc.ctx {
				t.Errorf("%+v: window %v does not start with BOS or exceeds ctx", tc, c)
			}
		}
		if res.Tokens != int(m.N) {
			t.Errorf("%+v: %d tokens scored, want %d", tc, res.Tokens, int(m.N))
		}
		if math.Abs(res.NLLMean-m.Mean()) > 1e-12 || math.Abs(res.PPL-math.Exp(m.Mean())) > 1e-9 {
			t.Errorf("%+v: nll_mean %v ppl %v, want %v %v", tc, res.NLLMean, res.PPL, m.Mean(), math.Exp(m.Mean()))
		}
		wantSE := math.Exp(m.Mean()) * math.Sqrt(m.Variance()/m.N)
		if math.Abs(res.PPLStderr-wantSE) > 1e-9*wantSE {
			t.Errorf("%+v: ppl_stderr %v, want %v", tc, res.PPLStderr, wantSE)
		}
		if tc.chunks == 0 && res.Tokens != len(text) {
			t.Errorf("%+v: %d tokens scored, want all %d", tc, res.Tokens, len(text))
		}
	}
}

func TestMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all, a, b Moments
	var xs []float64
	for i := range 10000 {
		x := 5 + rng.NormFloat64()
		xs = append(xs, x)
		all.Add(x)
		if i%3 == 0 {
			a.Add(x)
		} else {
			b.Add(x)
		}
	}
	a.Merge(b)
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	v /= float64(len(xs) - 1)
	for name, m := range map[string]*Moments{"sequential": &all, "merged": &a} {
		if math.Abs(m.Mean()-mean) > 1e-12 || math.Abs(m.Variance()-v) > 1e-9 {
			t.Errorf("%s: mean %v var %v, want %v %v", name, m.Mean(), m.Variance(), mean, v)
		}
	}
	// Compensation: 1 followed by a million values of 1e-16 sums to 1 + 1e-10.
	var c Moments
	c.Add(1)
	for range 1000000 {
		c.Add(1e-16)
	}
	if got := c.Sum(); math.Abs(got-(1+1e-10)) > 1e-15 {
		t.Errorf("compensated sum = %.17g, want %.17g", got, 1+1e-10)
	}
}

func TestLogSumExp(t *testing.T) {
	x := []float32{1000, 999, -5, float32(math.Inf(-1))}
	want := 1000 + math.Log(1+math.Exp(-1)+math.Exp(-1005))
	if got := LogSumExp(x); math.Abs(got-want) > 1e-12 {
		t.Errorf("LogSumExp(%v) = %v, want %v", x, got, want)
	}
	if got := LogSumExp(nil); !math.IsInf(got, -1) {
		t.Errorf("LogSumExp(nil) = %v, want -Inf", got)
	}
}
