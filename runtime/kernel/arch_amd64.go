//go:build !purego

package kernel

// finishRows adds the columns [n, Cols) the asm kernels leave out (tail) and applies the per-row
// scale (rowScaled: the type's kernels return unscaled sums; the entries that do this need
// finite row scales: exactImpl.infScale).
func finishRows(y []float32, w *Matrix, x []float32, lo, hi, n int, rowScaled bool, tail tailFunc) {
	cols := w.Cols()
	for r := lo; r < hi; r++ {
		if n < cols {
			y[r] += tail(w, r, x, n)
		}
		if rowScaled {
			y[r] *= lef32(w.rowScales(r), 0)
		}
	}
}

// tailFunc returns Σ_{c≥n} raw(W[r,c])·x[c], raw the decoded code without the row or tensor
// scale (block types: with their block scales): the columns a kernel leaves out.
type tailFunc func(w *Matrix, r int, x []float32, n int) float32

// elemTail binds the decoder of one code of an element-wise type (dequant_generic.go).
func elemTail(raw func(codes []byte, c int) float32) tailFunc {
	return func(w *Matrix, r int, x []float32, n int) float32 {
		codes := w.rowCodes(r)
		var sum float32
		for c := n; c < len(x); c++ {
			sum += raw(codes, c) * x[c]
		}
		return sum
	}
}

// dotAVX2 is Σ_{i<n} a[i]·b[i], n a multiple of 8 (eight-lane partial sums). Reference: dotGeneric.
//
//go:noescape
func dotAVX2(a, b *float32, n int) float32

// sumSquaresAVX2 is Σ_{i<n} x[i]², n a multiple of 8. Reference: sumSquaresGeneric.
//
//go:noescape
func sumSquaresAVX2(x *float32, n int) float32

// axpyAVX2 is y[i] += a·x[i] for i < n, n a multiple of 8 (fused multiply-add). Reference: axpyGeneric.
//
//go:noescape
func axpyAVX2(y *float32, a float32, x *float32, n int)

// scaleAVX2 is x[i] *= a for i < n, n a multiple of 8. Reference: scaleGeneric.
//
//go:noescape
func scaleAVX2(x *float32, a float32, n int)

// scaleMulAVX2 is dst[i] = (x[i]·a)·w[i] for i < n, n a multiple of 8. Reference:
// scaleMulGeneric.
//
//go:noescape
func scaleMulAVX2(dst, x *float32, a float32, w *float32, n int)

// addAVX2 is y[i] += x[i] for i < n, n a multiple of 8. Reference: addGeneric.
//
//go:noescape
func addAVX2(y, x *float32, n int)

// ropeAVX2 rotates x[i], x[h+i] for i < n (n a multiple of 8, h the half width):
// x[i] = x[i]·c[i] − x[h+i]·s[i], x[h+i] = x[h+i]·c[i] + x[i]·s[i], products rounded apart.
// Reference: ropeGeneric.
//
//go:noescape
func ropeAVX2(x *float32, h int, c, s *float32, n int)

// streamReadAVX2 returns the xor of the 8-byte words of p[:n], n a multiple of 128. Reference:
// streamReadGeneric.
//
//go:noescape
func streamReadAVX2(p *byte, n int) uint64

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

// gemm12x32AVX512 is the register-blocked microkernel of MatMul:
//
//	for r := range 12 { for i := range 32 { tile[32r+i] = Σ_{c<k} w[r·ldw+c]·xp[32c+i] } }
//
// xp is a packed panel of 32 activation rows (column c's 32 values contiguous). Reference:
// matMulGeneric.
//
//go:noescape
func gemm12x32AVX512(w *float32, ldw int, xp *float32, k int, tile *float32)

// gemm6x16AVX2 is the AVX2 microkernel:
//
//	for r := range 6 { for i := range 16 { tile[16r+i] = Σ_{c<k} w[r·ldw+c]·xp[16c+i] } }
//
//go:noescape
func gemm6x16AVX2(w *float32, ldw int, xp *float32, k int, tile *float32)
