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
