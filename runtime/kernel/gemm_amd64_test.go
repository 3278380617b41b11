//go:build !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmTiles compares the generated micro-kernels with gemmTileGeneric.
func TestGemmTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, kt := range []struct {
		name   string
		feat   feature
		mr, nr int
		kern   microKernel
	}{{"gemm12x32AVX512", featAVX512, 12, 32, gemm12x32AVX512}, {"gemm6x16AVX2", featAVX2, 6, 16, gemm6x16AVX2}} {
		if !kt.feat.on() {
			t.Logf("%s: not supported here", kt.name)
			continue
		}
		for _, k := range []int{0, 1, 5, 64, 1153} {
			ldw := k + 3
			w, xp := randVec(rng, kt.mr*ldw+1), randVec(rng, kt.nr*k+1)
			got, want := make([]float32, kt.mr*kt.nr), make([]float32, kt.mr*kt.nr)
			for i := range got {
				got[i] = float32(math.NaN()) // every entry must be written
			}
			kt.kern(&w[0], ldw, &xp[0], k, &got[0])
			gemmTileGeneric(w, ldw, xp, k, want, kt.mr, kt.nr)
			for i := range got {
				r, c := i/kt.nr, i%kt.nr
				var mag float64
				for j := range k {
					mag += math.Abs(float64(w[r*ldw+j]) * float64(xp[kt.nr*j+c]))
				}
				if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= 1e-6*mag) {
					t.Fatalf("%s k=%d: tile[%d] = %v, want %v", kt.name, k, i, got[i], want[i])
				}
			}
		}
	}
}
