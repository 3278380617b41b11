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

// TestAttentionHeadsSpans compares AttentionHeads with a float64 reference over heads whose
// query rows attend spans of the keys (causal, windowed, widened, single keys, all keys),
// with grouped rows sharing a key head, for key blocks of the default size and ones small
// enough that spans start and end inside, on block and panel edges, on one and two threads.
func TestAttentionHeadsSpans(t *testing.T) {
	defer func(b int) { attnKeyBlock = b }(attnKeyBlock)
	forEachImpl(t, func(t *testing.T) {
		for _, bk := range []int{256, 64, 32} {
			attnKeyBlock = bk
			for _, c := range []struct{ rows, keys, hd int }{{1, 1, 8}, {7, 40, 5}, {50, 97, 16}, {130, 300, 33}} {
				t.Run(fmt.Sprintf("block%d/rows%d_keys%d_hd%d", bk, c.rows, c.keys, c.hd), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.keys)))
					q, k, v := randScaled(rng, c.rows*c.hd, 2), randScaled(rng, c.keys*c.hd, 2), randScaled(rng, c.keys*c.hd, 1)
					spans := make([][2]int, c.rows)
					for r := range spans {
						switch r % 4 {
						case 0: // causal, the query at the end of the keys
							hi := c.keys - c.rows + r + 1
							spans[r] = [2]int{0, max(1, hi)}
						case 1: // a window
							lo := rng.IntN(c.keys)
							spans[r] = [2]int{lo, min(c.keys, lo+1+rng.IntN(70))}
						case 2: // one key
							u := rng.IntN(c.keys)
							spans[r] = [2]int{u, u + 1}
						default:
							spans[r] = [2]int{0, c.keys}
						}
					}
					scale := float32(0.3)
					want := make([]float32, c.rows*c.hd)
					for r := range c.rows {
						lo, hi := spans[r][0], spans[r][1]
						p := make([]float64, hi-lo)
						m := math.Inf(-1)
						for u := lo; u < hi; u++ {
							var dot float64
							for j := range c.hd {
								dot += float64(q[r*c.hd+j]) * float64(k[u*c.hd+j])
							}
							p[u-lo] = dot * float64(scale)
							m = max(m, p[u-lo])
						}
						var sum float64
						for i := range p {
							p[i] = math.Exp(p[i] - m)
							sum += p[i]
						}
						for j := range c.hd {
							var acc float64
							for u := lo; u < hi; u++ {
								acc += p[u-lo] * float64(v[u*c.hd+j])
							}
							want[r*c.hd+j] = float32(acc / sum)
						}
					}
					for _, threads := range []int{1, 2} {
						got := make([]float32, c.rows*c.hd)
						row := func(x []float32, i int) []float32 { return x[i*c.hd : (i+1)*c.hd] }
						Exec{Threads: threads}.AttentionHeads([]AttnHead{{Rows: c.rows, Keys: c.keys, HD: c.hd,
							Query: func(r int) []float32 { return row(q, r) },
							Out:   func(r int) []float32 { return row(got, r) },
							Key:   func(u int, dst []float32) { copy(dst, row(k, u)) },
							Value: func(u int, dst []float32) { copy(dst, row(v, u)) },
							Span:  func(r int) (int, int) { return spans[r][0], spans[r][1] },
						}}, scale)
						for i := range want {
							if d := math.Abs(float64(got[i] - want[i])); !(d <= 2e-6) {
								t.Fatalf("threads %d: out[%d] (row %d, span %v) = %v, want %v (diff %.3g)", threads, i, i/c.hd, spans[i/c.hd], got[i], want[i], d)
							}
						}
					}
				})
			}
		}
	})
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
		attentionTiled(Exec{Threads: 2}, denseHeads(out, q, k, v, n, heads, hd), scale, attnOps[uint16]{4, 8, 2, gemmBF16Generic(4, 8), bf16Round, nil, nil})
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
