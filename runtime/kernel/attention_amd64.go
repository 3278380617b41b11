//go:build !purego

package kernel

// attnKernel returns the microkernel Attention runs on: the MatMul ones.
func attnKernel() (mr, nr int, kern microKernel) {
	switch {
	case featAVX512.on():
		return 12, 32, gemm12x32AVX512
	case featAVX2.on():
		return 6, 16, gemm6x16AVX2
	}
	return 4, 16, gemmTileFunc(4, 16)
}

func rowMax(x []float32) float32 {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		return rowMaxGeneric(x)
	}
	m := maxAVX2(&x[0], n)
	for _, v := range x[n:] {
		if v > m || v != v {
			m = v
		}
	}
	return m
}

func expSumShift(x []float32, m float32) float64 {
	var sum float64
	n := 0
	switch {
	case featAVX512.on() && len(x) >= 16:
		n = len(x) &^ 15
		sum = expSumAVX512(&x[0], n, m)
	case featAVX2.on() && len(x) >= 8:
		n = len(x) &^ 7
		sum = expSumAVX2(&x[0], n, m)
	}
	return sum + expSumShiftGeneric(x[n:], m)
}

// wideKernel returns the float32 microkernel of MatMulWide, ok false without one.
func wideKernel() (mr, nr int, kern microKernel, ok bool) {
	switch {
	case featAVX512.on():
		return 12, 32, gemm12x32AVX512, true
	case featAVX2.on():
		return 6, 16, gemm6x16AVX2, true
	}
	return 0, 0, nil, false
}
