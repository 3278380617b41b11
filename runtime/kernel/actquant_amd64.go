//go:build !purego

package kernel

// quantizeRowsArch quantizes the full blocks of x with quantRowsAVX512 where AVX-512 is on and
// returns how many it did (ok false: x holds a NaN or ±Inf).
func quantizeRowsArch(q []int8, d []float32, x []float32) (blocks int, ok bool) {
	nb := len(x) / 32
	if !featAVX512.on() || nb == 0 {
		return 0, true
	}
	return nb, quantRowsAVX512(&q[0], &d[0], &x[0], nb)
}
