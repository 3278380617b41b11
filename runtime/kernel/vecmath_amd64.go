//go:build !purego

package kernel

// expSumAVX512 is, for n a multiple of 16 (reference: softmaxGeneric's second loop):
//
//	for i := range n { x[i] = expf32(x[i] − m); sum += float64(x[i]) }   (16+16 float64 partial sums)
//
//go:noescape
func expSumAVX512(x *float32, n int, m float32) float64

// geluAVX512 is x[i] = geluf32(x[i]) for i < n, n a multiple of 16 (reference: geluGeneric).
//
//go:noescape
func geluAVX512(x *float32, n int)

// expSumAVX2 is expSumAVX512 for n a multiple of 8.
//
//go:noescape
func expSumAVX2(x *float32, n int, m float32) float64

// geluAVX2 is geluAVX512 for n a multiple of 8.
//
//go:noescape
func geluAVX2(x *float32, n int)

// maxAVX2 is m = max_{i<n} x[i] for n a multiple of 8, starting from −Inf; NaN entries may
// be skipped (softmax then gets a NaN sum, as the reference).
//
//go:noescape
func maxAVX2(x *float32, n int) float32

func softmax(x []float32) {
	_, sum := expShift(x)
	scale(x, float32(1/sum))
}

func expShift(x []float32) (float32, float64) {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		return expShiftGeneric(x)
	}
	m := maxAVX2(&x[0], n)
	for _, v := range x[n:] {
		if v > m || v != v {
			m = v
		}
	}
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
