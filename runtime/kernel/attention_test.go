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

// TestAttentionBF16 compares the bf16 attention (reference microkernel, and the assembly where
// the CPU has AVX-512 BF16) with the float64 reference: queries, keys, values and the softmax
// weights are rounded to bf16 (relative error ≤ 2⁻⁹ each), so the outputs, averages of
// values of magnitude ≤ 1, may differ by a few thousandths.
func TestAttentionBF16(t *testing.T) {
	type run struct {
		name string
		f    func(out, q, k, v []float32, n, heads, hd int, scale float32)
	}
	runs := []run{{"generic", func(out, q, k, v []float32, n, heads, hd int, scale float32) {
		attentionTiled(Exec{Threads: 2}, out, q, k, v, n, heads, hd, scale, attnOps[uint16]{4, 8, 2, gemmBF16Generic(4, 8), bf16Round})
	}}}
	if _, _, _, ok := bf16Kernel(); ok {
		runs = append(runs, run{"asm", func(out, q, k, v []float32, n, heads, hd int, scale float32) {
			Exec{Threads: 2, Mode: ModeBF16}.Attention(out, q, k, v, n, heads, hd, scale)
		}})
	}
	for _, r := range runs {
		for _, c := range []struct{ n, heads, hd int }{{1, 1, 8}, {5, 2, 3}, {33, 3, 20}, {301, 2, 72}, {517, 1, 17}} {
			t.Run(fmt.Sprintf("%s/n%d_h%d_hd%d", r.name, c.n, c.heads, c.hd), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(5, 6))
				size := c.n * c.heads * c.hd
				q, k, v := randScaled(rng, size, 2), randScaled(rng, size, 2), randScaled(rng, size, 1)
				scale := float32(1 / math.Sqrt(float64(c.hd)))
				want := make([]float32, size)
				attentionGeneric(want, q, k, v, c.n, c.heads, c.hd, scale)
				got := make([]float32, size)
				r.f(got, q, k, v, c.n, c.heads, c.hd, scale)
				var worst float64
				for i := range want {
					d := math.Abs(float64(got[i] - want[i]))
					if !(d <= 1e-2) {
						t.Fatalf("out[%d] = %v, want %v (diff %.3g)", i, got[i], want[i], d)
					}
					worst = max(worst, d)
				}
				if worst == 0 && c.n > 1 {
					t.Errorf("no difference from the float64 reference: bf16 rounding not applied?")
				}
				t.Logf("max diff %.3g", worst)
			})
		}
	}
}
