package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestMatVecMulti checks that one MatVecMulti call gives bit for bit the results of separate
// MatVec calls, for sets of one type and mixed sets, in both activation modes and with one and
// two threads (row chunks then straddle matrix boundaries).
func TestMatVecMulti(t *testing.T) {
	sets := [][]format.DType{
		{format.Q4_0, format.Q4_0, format.Q4_0},
		{format.Q8_0, format.Q8_0},
		{format.I4, format.I4, format.I4},
		{format.F32, format.BF16, format.F16, format.FP8},
		{format.SFP8, format.SFP8},
		{format.Q4_0, format.Q8_0, format.I4, format.BF16}, // int8 layouts differ
		{format.Q4_0, format.FP8, format.SFP8, format.I4},  // int8 and exact rows in one loop
	}
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, mode := range []ActivationMode{ModeExact, ModeInt8} {
			for _, threads := range []int{1, 2} {
				e := Exec{Mode: mode, Threads: threads}
				for _, set := range sets {
					for _, cols := range []int{32, 160, 1152} {
						ws := make([]*Matrix, len(set))
						ys := make([][]float32, len(set))
						want := make([][]float32, len(set))
						for i, typ := range set {
							rows := []int{48, 17, 16, 300}[i]
							ws[i] = randMatrix(t, rng, typ, rows, cols)
							ys[i] = make([]float32, rows)
							want[i] = make([]float32, rows)
						}
						x := randVec(rng, cols)
						for i := range ws {
							e.MatVec(want[i], ws[i], x)
						}
						e.MatVecMulti(ys, ws, x)
						for i := range ws {
							for r := range ys[i] {
								if !sameBits(ys[i][r], want[i][r]) {
									t.Fatalf("%s threads=%d %v cols=%d: matrix %d (%v) row %d = %v, MatVec gives %v",
										modeName(mode), threads, set, cols, i, set[i], r, ys[i][r], want[i][r])
								}
							}
						}
					}
				}
			}
		}
	})
}

func TestMatVecMultiNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	ws := []*Matrix{randMatrix(t, rng, format.Q4_0, 1024, 1152), randMatrix(t, rng, format.Q4_0, 256, 1152)}
	ys := [][]float32{make([]float32, 1024), make([]float32, 256)}
	x := randVec(rng, 1152)
	for _, mode := range []ActivationMode{ModeExact, ModeInt8} {
		e := Exec{Mode: mode}
		e.MatVecMulti(ys, ws, x)
		if a := testing.AllocsPerRun(10, func() { e.MatVecMulti(ys, ws, x) }); a != 0 {
			t.Errorf("%s: MatVecMulti allocates %v times per call, want 0", modeName(mode), a)
		}
	}
}

func TestNibPerm(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	x := randVec(rng, 384)
	for _, typ := range []format.DType{format.Q4_0, format.I4} {
		want, got := make([]float32, 384), make([]float32, 384)
		nibPermGeneric(want, x, typ)
		nibPerm(got, x, typ)
		seen := map[int]bool{}
		for s := range 3 {
			for tt := range 8 {
				for k := range 16 {
					seen[nibCol(typ, s, tt, k)] = true
				}
			}
		}
		if len(seen) != 384 {
			t.Fatalf("%v: nibCol covers %d of 384 columns", typ, len(seen))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v: nibPerm[%d] = %v, want %v", typ, i, got[i], want[i])
			}
		}
	}
}

// TestMatVecGLU checks MatVecGLU against two MatVec calls followed by GELU and the product:
// the products bit for bit, the gated values within the GELU bound (its vector and scalar
// paths may meet at different chunk boundaries), for pairs of one type and mixed pairs, both
// activation modes, one and two threads.
func TestMatVecGLU(t *testing.T) {
	pairs := [][2]format.DType{
		{format.Q4_0, format.Q4_0}, {format.Q8_0, format.Q8_0}, {format.I4, format.I4},
		{format.BF16, format.BF16}, {format.F32, format.SFP8}, {format.Q4_0, format.Q8_0}, {format.Q4_0, format.FP8},
	}
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(25, 26))
		for _, mode := range []ActivationMode{ModeExact, ModeInt8} {
			for _, threads := range []int{1, 2} {
				e := Exec{Mode: mode, Threads: threads}
				for _, p := range pairs {
					for _, shape := range [][2]int{{17, 32}, {300, 160}, {1000, 1152}} {
						rows, cols := shape[0], shape[1]
						g, u := randMatrix(t, rng, p[0], rows, cols), randMatrix(t, rng, p[1], rows, cols)
						x := randVec(rng, cols)
						out, scratch := make([]float32, rows), make([]float32, rows)
						wg, wu := make([]float32, rows), make([]float32, rows)
						e.MatVec(wg, g, x)
						e.MatVec(wu, u, x)
						e.MatVecGLU(out, scratch, g, u, x)
						for r := range rows {
							if !sameBits(scratch[r], wu[r]) {
								t.Fatalf("%s threads=%d %v %d×%d: up row %d = %v, MatVec gives %v", modeName(mode), threads, p, rows, cols, r, scratch[r], wu[r])
							}
							// GELU's documented bound (see GELU), plus the product's rounding.
							xg := float64(wg[r])
							u := math.Sqrt(2/math.Pi) * (xg + 0.044715*xg*xg*xg)
							want := xg / (1 + math.Exp(-2*u)) * float64(wu[r]) // 0.5·x·(1+tanh u) without cancellation
							tol := (0x1p-21*(1+math.Abs(2*u))+0x1p-23)*math.Abs(want) + 0x1p-126*math.Abs(xg*float64(wu[r]))
							if d := math.Abs(float64(out[r]) - want); d > tol {
								t.Fatalf("%s threads=%d %v %d×%d: row %d = %v, want %v", modeName(mode), threads, p, rows, cols, r, out[r], want)
							}
						}
					}
				}
			}
		}
	})
}
