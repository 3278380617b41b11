package kernel

import (
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
	defer SetThreads(Threads())
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, mode := range []ActivationMode{ModeExact, ModeInt8} {
			for _, threads := range []int{1, 2} {
				SetThreads(threads)
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
						withMode(mode, func() {
							for i := range ws {
								MatVec(want[i], ws[i], x)
							}
							MatVecMulti(ys, ws, x)
						})
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
		withMode(mode, func() {
			MatVecMulti(ys, ws, x)
			if a := testing.AllocsPerRun(10, func() { MatVecMulti(ys, ws, x) }); a != 0 {
				t.Errorf("%s: MatVecMulti allocates %v times per call, want 0", modeName(mode), a)
			}
		})
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
