//go:build !purego

package kernel

// Dispatch of vec.go's operations: the generated AVX2 loops (vec_amd64.s, declared in
// vec_stubs_amd64.go) over the leading multiple of 8 (streamRead: 128 bytes), the reference
// (vec_generic.go) for the rest.

func dot(a, b []float32) float32 {
	n := len(a) &^ 7
	if !featAVX2.on() || n == 0 {
		return dotGeneric(a, b)
	}
	s := dotAVX2(&a[0], &b[0], n)
	return s + dotGeneric(a[n:], b[n:len(a)])
}

func axpy(y []float32, a float32, x []float32) {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		axpyGeneric(y, a, x)
		return
	}
	axpyAVX2(&y[0], a, &x[0], n)
	axpyGeneric(y[n:], a, x[n:])
}

func sumSquares(x []float32) float32 {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		return sumSquaresGeneric(x)
	}
	return sumSquaresAVX2(&x[0], n) + sumSquaresGeneric(x[n:])
}

func scale(x []float32, a float32) {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		scaleGeneric(x, a)
		return
	}
	scaleAVX2(&x[0], a, n)
	scaleGeneric(x[n:], a)
}

func scaleMul(dst, x []float32, a float32, w []float32) {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		scaleMulGeneric(dst, x, a, w)
		return
	}
	scaleMulAVX2(&dst[0], &x[0], a, &w[0], n)
	scaleMulGeneric(dst[n:], x[n:], a, w[n:])
}

func add(y, x []float32) {
	n := len(x) &^ 7
	if !featAVX2.on() || n == 0 {
		addGeneric(y, x)
		return
	}
	addAVX2(&y[0], &x[0], n)
	addGeneric(y[n:], x[n:])
}

func rope(x, cos, sin []float32) {
	h := len(cos)
	n := h &^ 7
	if !featAVX2.on() || n == 0 {
		ropeGeneric(x, cos, sin)
		return
	}
	ropeAVX2(&x[0], h, &cos[0], &sin[0], n)
	ropeFrom(x, cos, sin, n)
}

func streamRead(p []byte) uint64 {
	n := len(p) &^ 127
	if !featAVX2.on() || n == 0 {
		return streamReadGeneric(p)
	}
	return streamReadAVX2(&p[0], n) ^ streamReadGeneric(p[n:])
}
