//go:build !purego

package kernel

import (
	"unsafe"

	"github.com/gemmatool/gemmatool/format"
)

// int8Asm reports whether the assembly int8 kernels run (VNNI, else AVX2).
func int8Asm() bool { return featAVX2.on() }

// int8VNNI reports whether the VNNI kernels (and the prefill kernel) run.
func int8VNNI() bool { return featAVX512.on() && featVNNI.on() }

// The ModeInt8 row kernels compute, for r in [0, rows), the int8-mode sum of row r over the
// first 128·steps columns (see int8.go for the activation layout xa/corr/dl; reference:
// dotRowInt8). With u_j the unsigned code (nibble, or Q8_0 code xor 0x80) and lanes of 16 per
// 64-byte step of xa:
//
//	y[r] = Σ_lanes float32(corr[l] + Σ_{j∈lane l} u_j·xa_j) · (dw_{block(l)} · dl[l])
//
// where dw is the f16 block scale (Q4_0, Q8_0) or 1 (I4).

// mvQ4VNNI is the Q4_0 kernel: per step k (4 blocks, 64 code bytes at codes+r·stride+64k):
//
//	lo, hi := codes[…]&15, codes[…]>>4
//	acc := corr[16k:16k+16] + VPDPBUSD(lo, xa[128k:]) + VPDPBUSD(hi, xa[128k+64:])
//	sum += float32(acc) · (f16(scales[r·nb+4k+l/4]) · dl[16k+l])   (per lane l)
//
//go:noescape
func mvQ4VNNI(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

// mvQ4VNNI2 is mvQ4VNNI over 2·pairs rows, two at a time (one load of xa, corr and dl per
// step for both).
//
//go:noescape
func mvQ4VNNI2(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, pairs, steps int)

// mvQ8VNNI is the Q8_0 kernel: per step k (4 blocks, 128 code bytes):
//
//	acc := corr[32k:32k+32] + VPDPBUSD(codes[128k:128k+128] xor 0x80, xa[128k:])
//	sum += float32(acc) · (f16(scales[r·nb+4k+l/8]) · dl[32k+l])   (per lane l < 32)
//
//go:noescape
func mvQ8VNNI(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

// mvI4VNNI is the I4 kernel (no block scales; the row scale is applied by the caller):
//
//	acc := corr[16k:16k+16] + VPDPBUSD(codes[64k:]&15, xa[128k:]) + VPDPBUSD(codes[64k:]>>4, xa[128k+64:])
//	sum += float32(acc) · dl[16k+l]
//
//go:noescape
func mvI4VNNI(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)

// mvQ4AVX2i8, mvQ8AVX2i8 and mvI4AVX2i8 are the AVX2 versions of mvQ4VNNI, mvQ8VNNI and
// mvI4VNNI over the same layout, in halves of 8 lanes. The int32 lanes come from VPMADDUBSW
// (unsigned × signed byte pairs into int16) and VPMADDWD by ones; Q8_0 uses the sign trick
// instead of the offset (|w| × q·sign(w)), so it ignores corr:
//
//	Q4_0, I4: lane = corr[l] + Σ_{4 bytes} lo·xa + Σ_{4 bytes} hi·xa[+64]   (|int16| ≤ 4·15·127)
//	Q8_0:     lane = Σ_{4 bytes} |w|·(q·sign(w))                               (|int16| ≤ 2·128·127)
//
//go:noescape
func mvQ4AVX2i8(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvQ8AVX2i8(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvI4AVX2i8(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)

// int8Kernel runs a ModeInt8 row kernel over the first 128·steps columns (steps ≥ 1) of rows
// [lo, hi) against activation row i of qa.
type int8Kernel func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int)

// int8Rows binds an int8 row kernel: the columns past the kernel's are added by the
// reference, then the row (I4) and tensor scales are applied.
func int8Rows(kern int8Kernel) func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
		if hi <= lo {
			return
		}
		if steps := qa.colsA / 128; steps > 0 {
			kern(y, w, qa, i, lo, hi, steps)
		} else {
			clear(y[lo:hi])
		}
		if qa.colsA == qa.cols && w.DType != format.I4 && w.Scale == 1 {
			return // nothing to add or scale
		}
		for r := lo; r < hi; r++ {
			s := y[r]
			if qa.colsA < qa.cols {
				s += dotRowInt8(w, r, qa, i, qa.colsA)
			}
			y[r] = finishRowInt8(w, r, s)
		}
	}
}

// int8Operands returns row lo's codes, the row stride and activation row i's layout.
func int8Operands(w *Matrix, qa *qact, i, lo int) (codes []byte, stride int, xa *int8, corr *int32, dl *float32) {
	stride = int(w.Layout.RowStride)
	return w.Data[int(w.Layout.CodesOff)+lo*stride:], stride, &qa.xa[i*qa.colsA], &qa.corr[i*qa.lanes], &qa.dl[i*qa.lanes]
}

// blockInt8 binds a block type's int8 kernel.
func blockInt8(kern blockInt8Kernel) int8Kernel {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int) {
		codes, stride, xa, corr, dl := int8Operands(w, qa, i, lo)
		nb := w.Cols() / format.BlockSize
		scales := w.Data[int(w.Layout.ScalesOff)+lo*nb*2:]
		kern(&y[lo], &codes[0], stride, &scales[0], nb, xa, corr, dl, hi-lo, steps)
	}
}

// i4Int8 binds an I4 int8 kernel.
func i4Int8(kern func(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)) int8Kernel {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi, steps int) {
		codes, stride, xa, corr, dl := int8Operands(w, qa, i, lo)
		kern(&y[lo], &codes[0], stride, xa, corr, dl, hi-lo, steps)
	}
}

// mvQ4VNNIRows is the Q4_0 VNNI kernel over rows rows: two rows at a time (mvQ4VNNI2), except
// for long rows (ffn_down), where one row at a time streams better (measured: 1b/4b/27b
// ffn_down, `gemmatool bench --kernels --act int8`).
func mvQ4VNNIRows(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int) {
	if 32*nb >= longRow {
		mvQ4VNNI(y, codes, stride, scales, nb, xa, corr, dl, rows, steps)
		return
	}
	pairs := rows / 2
	if pairs > 0 {
		mvQ4VNNI2(y, codes, stride, scales, nb, xa, corr, dl, pairs, steps)
	}
	if rows%2 == 1 {
		yl := (*float32)(unsafe.Add(unsafe.Pointer(y), 4*2*pairs))
		cl := (*byte)(unsafe.Add(unsafe.Pointer(codes), 2*pairs*stride))
		sl := (*byte)(unsafe.Add(unsafe.Pointer(scales), 2*pairs*2*nb))
		mvQ4VNNI(yl, cl, stride, sl, nb, xa, corr, dl, 1, steps)
	}
}

// gemm6x32VNNI is the prefill kernel (layouts in int8.go, reference dotRowInt8): for the 6
// expanded weight rows (stride ldw bytes) and the 32 activation lanes of one packed panel,
//
//	for r := range 6 { for a := range 32 {
//		for b := range nb {
//			acc := corr[6b+r] + Σ_{c<32} int32(xp[b][c/4][a][c%4])·int32(w[r·ldw+32b+c])   // xp = q+128
//			t[r][a] += float32(acc)·xd[32b+a]·wd[6b+r] }
//		if r < m && lane a in mask0 | mask1<<16 { y[a·ldy+r] = t[r][a]·scale } } }
//
// The block body is unrolled: 8 steps of 4 columns, each 12 VPDPBUSD (6 rows × 2 vectors of
// 16 lanes); the outputs are scattered (VSCATTERDPS) straight into the rows of y.
//
//go:noescape
func gemm6x32VNNI(y *float32, ldy, m, mask0, mask1 int, scale float32, w *int8, ldw int, wd *float32, corr *int32, xp *byte, xd *float32, nb int)

// gemmKernel runs the prefill kernel for na activation rows (of the panel) and m weight rows,
// writing y[a·ldy+r].
func gemmKernel(y []float32, ldy, m, na int, scale float32, wq *int8, wd *float32, corr *int32, xp *byte, xd *float32, nb int) {
	mask0, mask1 := 1<<min(na, 16)-1, 1<<max(0, na-16)-1
	gemm6x32VNNI(&y[0], ldy, m, mask0, mask1, scale, wq, 32*nb, wd, corr, xp, xd, nb)
}

// quantRowsAVX512 is quantizeRow over nb full blocks of 32 (reference: quantizeRow's loop,
// bit-exact: the same float32 division, reciprocal and product, VCVTPS2DQ rounding to nearest
// even); it returns false at the first block holding a NaN or ±Inf.
//
//go:noescape
func quantRowsAVX512(q *int8, d *float32, x *float32, nb int) bool

// expandQ4AVX512 is, for b < nb (reference: expandGroup's Q4_0 case):
//
//	dst[32b+j], dst[32b+16+j] = int8(codes[16b+j]&15)−8, int8(codes[16b+j]>>4)−8   (j < 16)
//	corr[b·cstride/4] = −128·Σ_{j<32} dst[32b+j]
//
//go:noescape
func expandQ4AVX512(dst *int8, corr *int32, cstride int, codes *byte, nb int)

// expandQ8AVX512 is dst[32b+j] = int8(codes[32b+j]), corr[b·cstride/4] = −128·Σ_j dst[32b+j].
//
//go:noescape
func expandQ8AVX512(dst *int8, corr *int32, cstride int, codes *byte, nb int)

func quantizeRowsArch(q []int8, d []float32, x []float32) (blocks int, ok bool) {
	nb := len(x) / 32
	if !featAVX512.on() || nb == 0 {
		return 0, true
	}
	return nb, quantRowsAVX512(&q[0], &d[0], &x[0], nb)
}

func expandRowArch(dst []int8, corr []int32, w *Matrix, codes []byte, nb int) bool {
	if !featAVX512.on() || nb == 0 {
		return false
	}
	switch w.DType {
	case format.Q4_0:
		expandQ4AVX512(&dst[0], &corr[0], 4*gemmRows, &codes[0], nb)
	case format.Q8_0:
		expandQ8AVX512(&dst[0], &corr[0], 4*gemmRows, &codes[0], nb)
	default:
		return false
	}
	return true
}

// longRow is the column count from which the Q4_0 VNNI matrix-vector product runs its rows one
// at a time instead of in pairs.
const longRow = 4096
