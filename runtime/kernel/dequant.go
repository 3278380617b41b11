package kernel

import "fmt"

// Row dequantization: a row's decoded values, bit-exact with format's reference decoder
// (dequantRowGeneric, dequant_generic.go). Each table entry binds its type's routine: the
// generated AVX-512 kernels of dequant_amd64.s (from _asm/dequant.go) for the aligned columns,
// the type's one-code decoder for the rest.

// DequantRow writes the Cols values of row row of w to dst, bit-exact with format's reference
// decoder. It panics if row is out of range or len(dst) < Cols.
func DequantRow(dst []float32, w *Matrix, row int) {
	if row < 0 || row >= w.Rows() || len(dst) < w.Cols() {
		panic(fmt.Sprintf("kernel: DequantRow: row %d of %d, len(dst) = %d, want ≥ %d", row, w.Rows(), len(dst), w.Cols()))
	}
	w.exact().dequantRow(dst[:w.Cols()], w, row)
}
