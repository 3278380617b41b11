//go:build !purego

package kernel

func softmax(x []float32) {
	_, sum := expShift(x)
	scale(x, float32(1/sum))
}

func expShift(x []float32) (float32, float64) {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		return expShiftGeneric(x)
	}
	m := rowMax(x)
	var sum float64
	if n16 := len(x) &^ 15; featAVX512.on() && n16 > 0 {
		sum = expSumAVX512(&x[0], n16, m)
		n = n16
	} else {
		sum = expSumAVX2(&x[0], n, m)
	}
	for i := n; i < len(x); i++ {
		e := expf32(x[i] - m)
		x[i] = e
		sum += float64(e)
	}
	return m, sum
}

func gelu(x []float32) {
	n := len(x) &^ 7
	switch {
	case !featAVX2.on() || n == 0:
		geluGeneric(x)
		return
	case featAVX512.on() && len(x) >= 16:
		n = len(x) &^ 15
		geluAVX512(&x[0], n)
	default:
		geluAVX2(&x[0], n)
	}
	geluGeneric(x[n:])
}

// expVec replaces x[i] by expf32(x[i]) with the fastest implementation (tests).
func expVec(x []float32) {
	n := 0
	switch {
	case featAVX512.on() && len(x) >= 16:
		n = len(x) &^ 15
		expSumAVX512(&x[0], n, 0)
	case featAVX2.on() && len(x) >= 8:
		n = len(x) &^ 7
		expSumAVX2(&x[0], n, 0)
	}
	for i := n; i < len(x); i++ {
		x[i] = expf32(x[i])
	}
}
