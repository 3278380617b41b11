//go:build !purego

package kernel

import (
	"encoding/binary"
	"math"
	"unsafe"

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
	// The element-wise types: a row kernel per instruction set, the AVX-512 dequantization
	// (nil: the reference), the column granules of the kernels, whether the type has a row
	// scale (the kernels return unscaled sums), the decoder of one code (the tails) and the
	// type's permuted-activation entry, if any.
	type elem struct {
		t          format.DType
		mv512, mv2 elemKernel
		dq512      func(raw rawFunc) func(dst []float32, w *Matrix, r int)
		dq2        func(raw rawFunc) func(dst []float32, w *Matrix, r int) // nil: the Go reference
		align512   int
		align2     int
		rowScaled  bool
		raw        rawFunc
		nib        func(tail tailFunc) *exactImpl
	}
	b8 := func(tab *[256]byte, nanMask, nanCode uint32, rowScaled bool) func(tailFunc) *exactImpl {
		return func(tail tailFunc) *exactImpl {
			return &exactImpl{name: "avx512-vbmi", needs: vbmi, minCols: 128, nib: true,
				matVecRows: b8Rows(tab, nanMask, nanCode, rowScaled, tail), perm: permB8, matMul: tiled512}
		}
	}
	for _, e := range []elem{
		{t: format.F32, mv512: mvF32AVX512, mv2: mvF32AVX2, dq512: dqF32, dq2: dqF32, align512: 16, align2: 8, raw: rawF32},
		{t: format.F16, mv512: mvF16AVX512, mv2: mvF16AVX2, dq512: dqElem(dqF16AVX512, 16), align512: 16, align2: 8, raw: rawF16},
		{t: format.BF16, mv512: mvBF16AVX512, mv2: mvBF16AVX2, dq512: dqElem(dqBF16AVX512, 16), align512: 16, align2: 8, raw: rawBF16},
		{t: format.FP8, mv512: mvFP8AVX512, mv2: mvFP8AVX2, dq512: dqScaled(dqFP8AVX512, 16), align512: 16, align2: 8, rowScaled: true, raw: rawFP8,
			nib: b8(&e4m3Bytes, 0x7f7f7f7f, 0x7f7f7f7f, true)},
		{t: format.SFP8, mv512: mvSFP8AVX512, mv2: mvSFP8AVX2, align512: 16, align2: 8, raw: rawSFP8,
			nib: b8(&sfpBytes, 0xffffffff, 0x80808080, false)},
		{t: format.I4, mv512: mvI4AVX512, mv2: mvI4AVX2, dq512: dqScaled(dqI4AVX512, 32), align512: 32, align2: 16, rowScaled: true, raw: rawI4,
			nib: func(tail tailFunc) *exactImpl {
				return &exactImpl{name: "avx512-nib", needs: avx512, minCols: 128, nib: true,
					matVecRows: nibRows(i4NibKernel, true, tail), perm: permI4, matMul: tiled512}
			}},
	} {
		tail := elemTail(e.raw)
		dq := dequantRowGeneric
		if e.dq512 != nil {
			dq = e.dq512(e.raw)
		}
		var inf func(w *Matrix) bool
		if e.rowScaled {
			inf = rowScaleInf
		}
		if e.nib != nil {
			im := e.nib(tail)
			im.dequantRow, im.infScale = dq, inf
			addExact(e.t, im)
		}
		addExact(e.t, &exactImpl{name: "avx512", needs: avx512, infScale: inf,
			matVecRows: elemRows(e.mv512, e.align512, e.rowScaled, tail), dequantRow: dq, matMul: tiled512})
		dq2 := dequantRowGeneric
		if e.dq2 != nil {
			dq2 = e.dq2(e.raw)
		}
		addExact(e.t, &exactImpl{name: "avx2", needs: avx2, infScale: inf,
			matVecRows: elemRows(e.mv2, e.align2, e.rowScaled, tail), dequantRow: dq2, matMul: tiled2})
	}
	addExact(format.Q4_0, &exactImpl{name: "avx512-nib", needs: avx512, minCols: 128, nib: true, infScale: blockScaleInf,
		matVecRows: nibRows(q4NibKernel, false, q4Tail), perm: permQ4, dequantRow: dqBlock(dqQ4AVX512), matMul: tiled512})
	addExact(format.Q8_0, &exactImpl{name: "avx512-nib", needs: avx512, minCols: 128, nib: true, infScale: blockScaleInf,
		matVecRows: nibRows(q8NibKernel, false, q8Tail), perm: permQ8, dequantRow: dqBlock(dqQ8AVX512), matMul: tiled512})
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
		// gemmMin: the measured crossover of the row and prefill kernels, 2 threads: Q8_0 on
		// synth 1B prefills; Q4_0 with its multi-row kernel on synth 12B and 1B matrices
		// (BenchmarkMatMulInt8Small, CPU time: at 32 and 48 rows the multi-row kernel takes
		// less for a layer's products, ffn_down aside, at 64 the prefill kernel)
		gemmMin int
		fill    actFill // what the VNNI kernel reads of the activation layout
	}{
		{format.Q4_0, blockVNNI(mvQ4VNNIRows), blockInt8(mvQ4AVX2i8), expandAsm(expandQ4AVX512), 48, fillXA},
		{format.Q8_0, blockVNNI(mvQ8VNNI), blockInt8(mvQ8AVX2i8), expandAsm(expandQ8AVX512), 20, fillXA},
		{format.I4, i4Int8(mvI4VNNI), i4Int8(mvI4AVX2i8), expandI4Generic, 0, fillAll},
	} {
		o := int8OpsOf(b.t)
		rows := int8Rows(b.vnni, o)
		var multi func(y []float32, w *Matrix, qa *qact, i, lo, hi int)
		if b.t == format.Q4_0 {
			multi = q4Multi(rows, o)
		}
		addInt8(b.t, &int8Impl{name: "vnni", needs: vnni, fill: b.fill, rows: rows, multi: multi, expand: b.expand, gemmMin: b.gemmMin})
		addInt8(b.t, &int8Impl{name: "avx2", needs: avx2, fill: fillAll, rows: int8Rows(b.avx, o)})
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

// rawFunc decodes code c of a row of an element-wise type without its row or tensor scale.
type rawFunc func(codes []byte, c int) float32

// dqElem binds an element-wise dequantization kernel (n a multiple of align): the columns
// past n are decoded by raw.
// dqF32 decodes an F32 row: on amd64 its little-endian bytes are its float32 values, so the
// row is one copy (the prefill and the attention's f32 products dequantize rows per tile).
func dqF32(rawFunc) func(dst []float32, w *Matrix, r int) {
	return func(dst []float32, w *Matrix, r int) {
		if len(dst) > 0 {
			codes := w.rowCodes(r)
			copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(&codes[0])), len(dst)))
		}
		applyTensorScale(dst, w.Scale)
	}
}

func dqElem(kern func(dst *float32, codes *byte, n int), align int) func(raw rawFunc) func(dst []float32, w *Matrix, r int) {
	return func(raw rawFunc) func(dst []float32, w *Matrix, r int) {
		return func(dst []float32, w *Matrix, r int) {
			n := w.Cols() &^ (align - 1)
			codes := w.rowCodes(r)
			if n > 0 {
				kern(&dst[0], &codes[0], n)
			}
			for c := n; c < len(dst); c++ {
				dst[c] = raw(codes, c)
			}
			applyTensorScale(dst, w.Scale)
		}
	}
}

// dqScaled binds an element-wise kernel that applies the row scale s; the columns past n
// are raw(codes, c)·s.
func dqScaled(kern func(dst *float32, codes *byte, n int, s float32), align int) func(raw rawFunc) func(dst []float32, w *Matrix, r int) {
	return func(raw rawFunc) func(dst []float32, w *Matrix, r int) {
		return func(dst []float32, w *Matrix, r int) {
			n := w.Cols() &^ (align - 1)
			codes, s := w.rowCodes(r), lef32(w.rowScales(r), 0)
			if n > 0 {
				kern(&dst[0], &codes[0], n, s)
			}
			for c := n; c < len(dst); c++ {
				dst[c] = raw(codes, c) * s
			}
			applyTensorScale(dst, w.Scale)
		}
	}
}

// rowScaleInf reports whether a row scale (I4, FP8: one float32 per row) is infinite.
func rowScaleInf(w *Matrix) bool {
	l := &w.Layout
	sc := w.Data[l.ScalesOff : l.ScalesOff+4*l.Rows]
	for r := range int(l.Rows) {
		if math.IsInf(float64(lef32(sc, r)), 0) {
			return true
		}
	}
	return false
}

// blockScaleInf reports whether a block scale (Q4_0, Q8_0: f16, rows·Cols/32 of them) is
// infinite: exponent bits all set and mantissa zero, four at a time.
func blockScaleInf(w *Matrix) bool {
	l := &w.Layout
	sc := w.Data[l.ScalesOff : l.ScalesOff+2*l.Rows*(l.Cols/format.BlockSize)]
	const (
		abs  = 0x7fff_7fff_7fff_7fff
		inf  = 0x7c00_7c00_7c00_7c00
		high = 0x8000_8000_8000_8000
	)
	i := 0
	for ; i+8 <= len(sc); i += 8 {
		d := binary.LittleEndian.Uint64(sc[i:])&abs ^ inf // a lane is 0 where the scale is ±Inf
		if (d+abs)&high != high {                         // lanes ≤ 0x7fff: bit 15 set unless 0
			return true
		}
	}
	for ; i < len(sc); i += 2 {
		if le16(sc, i/2)&0x7fff == 0x7c00 {
			return true
		}
	}
	return false
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
