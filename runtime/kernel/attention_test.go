package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttention compares the fused attention with the float64 reference, for every
// implementation, over shapes that leave partial query tiles, key panels and key blocks.
func TestAttention(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, c := range []struct{ n, heads, hd int }{
			{1, 1, 8}, {5, 2, 3}, {13, 1, 72}, {33, 3, 20}, {300, 2, 72}, {600, 1, 17},
		} {
			t.Run(fmt.Sprintf("n%d_h%d_hd%d", c.n, c.heads, c.hd), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				size := c.n * c.heads * c.hd
				q, k, v := randScaled(rng, size, 2), randScaled(rng, size, 2), randScaled(rng, size, 1)
				q0 := append([]float32(nil), q...)
				scale := float32(1 / math.Sqrt(float64(c.hd)))
				want := make([]float32, size)
				attentionGeneric(want, q, k, v, c.n, c.heads, c.hd, scale)
				for _, threads := range []int{1, 2} {
					got := make([]float32, size+3)
					got[size], got[size+1], got[size+2] = 7, 7, 7
					Exec{Threads: threads}.Attention(got[:size], q, k, v, c.n, c.heads, c.hd, scale)
					for i := range want {
						if d := math.Abs(float64(got[i] - want[i])); !(d <= 2e-6) {
							t.Fatalf("threads %d: Attention: out[%d] = %v, want %v (diff %.3g)", threads, i, got[i], want[i], d)
						}
					}
					if got[size] != 7 || got[size+2] != 7 {
						t.Fatalf("threads %d: Attention wrote past out", threads)
					}
				}
				for i := range q {
					if q[i] != q0[i] {
						t.Fatalf("Attention modified q[%d]", i)
					}
				}
			})
		}
	})
}

// TestAttentionSharpRows: one score far above the rest in a late key block (the running
// maximum grows, earlier partial sums are rescaled towards zero).
func TestAttentionSharpRows(t *testing.T) {
	const n, hd = 700, 4
	q, k, v := make([]float32, n*hd), make([]float32, n*hd), make([]float32, n*hd)
	for s := range n {
		k[s*hd] = 1
		v[s*hd+1] = float32(s)
		q[s*hd] = 1
	}
	k[650*hd] = 80 // score 80 against 1: softmax puts all mass on key 650
	out := make([]float32, n*hd)
	Exec{Threads: 2}.Attention(out, q, k, v, n, 1, hd, 1)
	for tk := range n {
		if got := out[tk*hd+1]; math.Abs(float64(got)-650) > 1e-3 {
			t.Fatalf("out[%d] = %v, want 650", tk, got)
		}
	}
}

func randScaled(rng *rand.Rand, n int, a float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((rng.Float64()*2 - 1) * a)
	}
	return x
}
