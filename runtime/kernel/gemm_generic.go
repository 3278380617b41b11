package kernel

import "math"

// gemmTileGeneric is the reference of the micro-kernels (gemm.go) for an mr×nr tile:
//
//	for r := range mr { for i := range nr { tile[nr·r+i] = Σ_{c<k} w[r·ldw+c]·xp[nr·c+i] } }
//
// summed in column order with a fused multiply-add per term, as the vector kernels do
// (float32(FMA in float64) can differ from a float32 FMA by double rounding: a test compares
// with a tolerance).
func gemmTileGeneric(w []float32, ldw int, xp []float32, k int, tile []float32, mr, nr int) {
	for r := range mr {
		for i := range nr {
			var s float32
			for c := range k {
				s = float32(math.FMA(float64(w[r*ldw+c]), float64(xp[nr*c+i]), float64(s)))
			}
			tile[nr*r+i] = s
		}
	}
}
