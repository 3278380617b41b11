package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestMatMulWide compares MatMulWide with a float64 product of the decoded weights, for every
// implementation, over shapes with partial weight groups, partial panels and several chunks.
func TestMatMulWide(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, dt := range []format.DType{format.BF16, format.F32, format.Q4_0} {
			for _, sh := range [][3]int{{13, 64, 70}, {25, 96, 200}, {3, 2048, 80}, {40, 32, 1}} {
				rows, cols, n := sh[0], sh[1], sh[2]
				t.Run(fmt.Sprintf("%v/%dx%dx%d", dt, rows, cols, n), func(t *testing.T) {
					w := randMatrix(t, rng, dt, rows, cols)
					x := randVec(rng, n*cols)
					got := make([]float32, n*rows+1)
					got[n*rows] = 7
					Exec{Threads: 2}.MatMulWide(got[:n*rows], w, x, n)
					row := make([]float32, cols)
					for r := range rows {
						DequantRow(row, w, r)
						for i := range n {
							var want, mag float64
							for c := range cols {
								p := float64(row[c]) * float64(x[i*cols+c])
								want += p
								mag += math.Abs(p)
							}
							if d := math.Abs(float64(got[i*rows+r]) - want); !(d <= float64(cols+1)*0x1p-24*mag) {
								t.Fatalf("y[%d, %d] = %v, want %v (diff %.3g)", i, r, got[i*rows+r], want, d)
							}
						}
					}
					if got[n*rows] != 7 {
						t.Fatal("wrote past y")
					}
				})
			}
		}
	})
}
