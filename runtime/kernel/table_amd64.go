//go:build !purego

package kernel

import (
	"github.com/gemmatool/gemmatool/format"
)

// The amd64 entries of the kernel table (table.go), best first per type. Each entry binds the
// type's assembly routines once; the wrappers below only slice the operands and finish tails.

func registerArch() {
	avx2 := []feature{featAVX2}
	avx512 := []feature{featAVX512}
	vbmi := []feature{featAVX512, featVBMI}
	vnni := []feature{featAVX512, featVNNI}
	tiled512 := func(e Exec, y []float32, w *Matrix, x []float32, n int) {
		matMulTiled(e, y, w, x, n, 12, 32, gemm12x32AVX512)
	}
	tiled2 := func(e Exec, y []float32, w *Matrix, x []float32, n int) {
		matMulTiled(e, y, w, x, n, 6, 16, gemm6x16AVX2)
	}
	type elem struct {
		t         format.DType
		mv512     elemKernel
		mv2       elemKernel
		dq512     func(dst []float32, w *Matrix, r int)
		align512  int
		align2    int
		rowScaled bool
		raw       func(codes []byte, c int) float32
	}
	for _, e := range []elem{
		{format.F32, mvF32AVX512, mvF32AVX2, dequantF32, 16, 8, false, rawF32},
		{format.F16, mvF16AVX512, mvF16AVX2, dqElem(dqF16AVX512, 16), 16, 8, false, rawF16},
		{format.BF16, mvBF16AVX512, mvBF16AVX2, dqElem(dqBF16AVX512, 16), 16, 8, false, rawBF16},
		{format.FP8, mvFP8AVX512, mvFP8AVX2, dqScaled(dqFP8AVX512, 16), 16, 8, true, rawFP8},
		{format.SFP8, mvSFP8AVX512, mvSFP8AVX2, dequantRowGeneric, 16, 8, false, rawSFP8},
		{format.I4, mvI4AVX512, mvI4AVX2, dqScaled(dqI4AVX512, 32), 32, 16, true, rawI4},
	} {
		tail := elemTail(e.raw)
		switch e.t {
		case format.I4:
			addExact(e.t, &exactImpl{name: "avx512-nib", needs: avx512, minCols: 128, nib: true,
				matVecRows: nibRows(i4NibKernel, true, tail), perm: permI4, dequantRow: e.dq512, matMul: tiled512})
		case format.FP8:
			addExact(e.t, &exactImpl{name: "avx512-vbmi", needs: vbmi, minCols: 128, nib: true,
				matVecRows: b8Rows(&e4m3Bytes, 0x7f7f7f7f, 0x7f7f7f7f, true, tail), perm: permB8, dequantRow: e.dq512, matMul: tiled512})
		case format.SFP8:
			addExact(e.t, &exactImpl{name: "avx512-vbmi", needs: vbmi, minCols: 128, nib: true,
				matVecRows: b8Rows(&sfpBytes, 0xffffffff, 0x80808080, false, tail), perm: permB8, dequantRow: e.dq512, matMul: tiled512})
		}
		addExact(e.t, &exactImpl{name: "avx512", needs: avx512,
			matVecRows: elemRows(e.mv512, e.align512, e.rowScaled, tail), dequantRow: e.dq512, matMul: tiled512})
		addExact(e.t, &exactImpl{name: "avx2", needs: avx2,
			matVecRows: elemRows(e.mv2, e.align2, e.rowScaled, tail), dequantRow: dequantRowGeneric, matMul: tiled2})
	}
	addExact(format.Q4_0, &exactImpl{name: "avx512-nib", needs: avx512, minCols: 128, nib: true,
		matVecRows: nibRows(q4NibKernel, false, blockTail32), perm: permQ4, dequantRow: dqBlock(dqQ4AVX512), matMul: tiled512})
	addExact(format.Q8_0, &exactImpl{name: "avx512-nib", needs: avx512, minCols: 128, nib: true,
		matVecRows: nibRows(q8NibKernel, false, blockTail32), perm: permQ8, dequantRow: dqBlock(dqQ8AVX512), matMul: tiled512})
	for _, b := range []struct {
		t     format.DType
		mv512 blockKernel
		mv2   blockKernel
		dq512 blockDequant
	}{
		{format.Q4_0, mvQ4AVX512, mvQ4AVX2, dqQ4AVX512},
		{format.Q8_0, mvQ8AVX512, mvQ8AVX2, dqQ8AVX512},
	} {
		addExact(b.t, &exactImpl{name: "avx512", needs: avx512,
			matVecRows: blockRows(b.mv512), dequantRow: dqBlock(b.dq512), matMul: tiled512})
		addExact(b.t, &exactImpl{name: "avx2", needs: avx2,
			matVecRows: blockRows(b.mv2), dequantRow: dequantRowGeneric, matMul: tiled2})
	}
	// ModeInt8: per type its row kernels (VNNI, AVX2) and the prefill's row expansion.
	for _, b := range []struct {
		t         format.DType
		vnni, avx int8Kernel
		expand    expandFunc
	}{
		{format.Q4_0, blockInt8(mvQ4VNNIRows), blockInt8(mvQ4AVX2i8), expandAsm(expandQ4AVX512)},
		{format.Q8_0, blockInt8(mvQ8VNNI), blockInt8(mvQ8AVX2i8), expandAsm(expandQ8AVX512)},
		{format.I4, i4Int8(mvI4VNNI), i4Int8(mvI4AVX2i8), expandI4Generic},
	} {
		o := int8OpsOf(b.t)
		addInt8(b.t, &int8Impl{name: "vnni", needs: vnni, asm: true, rows: int8Rows(b.vnni, o), expand: b.expand})
		addInt8(b.t, &int8Impl{name: "avx2", needs: avx2, asm: true, rows: int8Rows(b.avx, o)})
	}
	registerKquantArch() // kquant_amd64.go
}

// elemKernel is a row kernel of an element-wise type: y[r] = Σ_{c<n} raw(W[r,c])·x[c] for
// rows rows of stride bytes (raw: without row or tensor scale).
type elemKernel func(y *float32, codes *byte, stride int, x *float32, rows, n int)

// blockKernel is a row kernel of a block type over nb blocks per row, block scales included.
type blockKernel func(y *float32, codes, scales *byte, x *float32, rows, nb int)

type blockDequant func(dst *float32, codes, scales *byte, nb int)

// blockInt8Kernel is a ModeInt8 row kernel of a block type (int8rows_amd64.go).
type blockInt8Kernel func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

// elemRows runs kern over the columns it handles (a multiple of align) and finishes the
// tail and the scales (rowScaled: the type has a per-row scale).
func elemRows(kern elemKernel, align int, rowScaled bool, tail tailFunc) func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
	return func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
		n := w.Cols() &^ (align - 1)
		if n == 0 {
			clear(y[lo:hi])
		} else {
			stride := int(w.Layout.RowStride)
			codes := w.Data[int(w.Layout.CodesOff)+lo*stride:]
			kern(&y[lo], &codes[0], stride, &x[0], hi-lo, n)
		}
		finishRows(y, w, x, lo, hi, n, rowScaled, tail)
		scaleRows(y[lo:hi], w.Scale)
	}
}

// blockRows runs a block kernel over the whole rows (Cols is a multiple of 32).
func blockRows(kern blockKernel) func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
	return func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
		nb := w.Cols() / format.BlockSize
		if nb == 0 {
			clear(y[lo:hi])
			return
		}
		l := &w.Layout
		codes := w.Data[int(l.CodesOff)+lo*int(l.RowStride):]
		scales := w.Data[int(l.ScalesOff)+lo*nb*2:]
		kern(&y[lo], &codes[0], &scales[0], &x[0], hi-lo, nb)
		scaleRows(y[lo:hi], w.Scale)
	}
}

// scaleRows multiplies y by the per-tensor scale unless it is 1.
func scaleRows(y []float32, s float32) {
	if s != 1 {
		for i := range y {
			y[i] *= s
		}
	}
}

func dequantF32(dst []float32, w *Matrix, r int) {
	codes := w.rowCodes(r)
	for i := range dst {
		dst[i] = lef32(codes, i)
	}
	applyTensorScale(dst, w.Scale)
}

// dqElem binds an element-wise dequantization kernel (n a multiple of align).
func dqElem(kern func(dst *float32, codes *byte, n int), align int) func(dst []float32, w *Matrix, r int) {
	return func(dst []float32, w *Matrix, r int) {
		n := w.Cols() &^ (align - 1)
		if n > 0 {
			kern(&dst[0], &w.rowCodes(r)[0], n)
		}
		applyTensorScale(dst[:n], w.Scale)
		dequantTail(dst, w, r, n)
	}
}

// dqScaled binds an element-wise kernel that applies the row scale.
func dqScaled(kern func(dst *float32, codes *byte, n int, s float32), align int) func(dst []float32, w *Matrix, r int) {
	return func(dst []float32, w *Matrix, r int) {
		n := w.Cols() &^ (align - 1)
		if n > 0 {
			kern(&dst[0], &w.rowCodes(r)[0], n, lef32(w.rowScales(r), 0))
		}
		applyTensorScale(dst[:n], w.Scale)
		dequantTail(dst, w, r, n)
	}
}

// dqBlock binds a block dequantization kernel.
func dqBlock(kern blockDequant) func(dst []float32, w *Matrix, r int) {
	return func(dst []float32, w *Matrix, r int) {
		if nb := w.Cols() / format.BlockSize; nb > 0 {
			kern(&dst[0], &w.rowCodes(r)[0], &w.rowScales(r)[0], nb)
		}
		applyTensorScale(dst, w.Scale)
	}
}
