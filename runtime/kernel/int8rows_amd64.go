//go:build !purego

package kernel

import "unsafe"

// The ModeInt8 row kernels compute, for r in [0, rows), the int8-mode sum of row r over the
// first 128·steps columns (see actquant.go for the activation layout xa/corr/dl; references:
// int8rows_generic.go). With u_j the unsigned code (nibble, or Q8_0 code xor 0x80) and lanes of 16 per
// 64-byte step of xa:
//
//	y[r] = Σ_lanes float32(corr[l] + Σ_{j∈lane l} u_j·xa_j) · (dw_{block(l)} · dl[l])
//
// where dw is the f16 block scale (Q4_0, Q8_0) or 1 (I4).

// int8Kernel runs a ModeInt8 row kernel over the first 128·steps columns (steps ≥ 1) of rows
// [lo, hi) against activation row i of qa.
type int8Kernel func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int)

// int8Rows binds an int8 row kernel of a type with operations o: the columns past the
// kernel's are added by the type's reference, then the row and tensor scales are applied.
func int8Rows(kern int8Kernel, o *int8Ops) func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
		if hi <= lo {
			return
		}
		if steps := qa.colsA / 128; steps > 0 {
			kern(y, w, qa, i, lo, hi, steps)
		} else {
			clear(y[lo:hi])
		}
		finishInt8(y, w, qa, o, i, lo, hi)
	}
}

// finishInt8 adds to the kernel sums y[lo:hi] of activation row i the columns past the
// kernels' (the type's reference) and applies the row and tensor scales.
func finishInt8(y []float32, w *Matrix, qa *qact, o *int8Ops, i, lo, hi int) {
	if qa.colsA == qa.cols && !o.rowScaled && w.Scale == 1 {
		return // nothing to add or scale
	}
	for r := lo; r < hi; r++ {
		s := y[r]
		if qa.colsA < qa.cols {
			s += o.dot(w, r, qa, i, qa.colsA)
		}
		y[r] = o.finish(w, r, s)
	}
}

// blockInt8 binds a block type's int8 kernel (the per-lane activation layout).
func blockInt8(kern blockInt8Kernel) int8Kernel {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int) {
		codes, scales, nb := blockOperands(w, lo)
		kern(&y[lo], &codes[0], int(w.Layout.RowStride), &scales[0], nb,
			&qa.xa[i*qa.colsA], &qa.corr[i*qa.lanes], &qa.dl[i*qa.lanes], hi-lo, steps)
	}
}

// i4Int8 binds an I4 int8 kernel.
func i4Int8(kern func(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)) int8Kernel {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int) {
		kern(&y[lo], &w.rowCodes(lo)[0], int(w.Layout.RowStride), &qa.xa[i*qa.colsA], &qa.corr[i*qa.lanes], &qa.dl[i*qa.lanes], hi-lo, steps)
	}
}

// blockVNNIKernel is a compact ModeInt8 row kernel of a block type (the VNNI kernels of Q4_0
// and Q8_0): it reads the activations as xa and their block scales d.
type blockVNNIKernel func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, d *float32, rows, steps int)

// blockVNNI binds a compact block kernel.
func blockVNNI(kern blockVNNIKernel) int8Kernel {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int) {
		codes, scales, nb := blockOperands(w, lo)
		kern(&y[lo], &codes[0], int(w.Layout.RowStride), &scales[0], nb, &qa.xa[i*qa.colsA], &qa.d[i*qa.nb], hi-lo, steps)
	}
}

// mvQ4VNNIRows is the Q4_0 VNNI kernel over rows rows: two rows at a time (mvQ4VNNI2), except
// for long rows (ffn_down), where one row at a time streams better (measured: 1b/4b/27b
// ffn_down, `gemmatool bench --kernels --act int8`).
func mvQ4VNNIRows(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, d *float32, rows, steps int) {
	if 32*nb >= longRow {
		mvQ4VNNI(y, codes, stride, scales, nb, xa, d, rows, steps)
		return
	}
	pairs := rows / 2
	if pairs > 0 {
		mvQ4VNNI2(y, codes, stride, scales, nb, xa, d, pairs, steps)
	}
	if rows%2 == 1 {
		yl := (*float32)(unsafe.Add(unsafe.Pointer(y), 4*2*pairs))
		cl := (*byte)(unsafe.Add(unsafe.Pointer(codes), 2*pairs*stride))
		sl := (*byte)(unsafe.Add(unsafe.Pointer(scales), 2*pairs*2*nb))
		mvQ4VNNI(yl, cl, stride, sl, nb, xa, d, 1, steps)
	}
}

// longRow is the column count from which the Q4_0 VNNI matrix-vector product runs its rows one
// at a time instead of in pairs.
const longRow = 4096
