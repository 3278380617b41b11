//go:build !purego

package kernel

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/gemmatool/gemmatool/format"
)

func hasAVX2() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}

func hasAVX512() bool {
	x := &cpu.X86
	return hasAVX2() && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512DQ
}

func init() {
	useAVX2 = hasAVX2()
	useAVX512 = hasAVX512()
}

// The row kernels compute, for r in [0, rows):
//
//	y[r] = Σ_{c<n} W[r,c]·x[c]
//
// with the weights of row r at codes + r·stride (element-wise types) or consecutive rows
// (block types, whose scales follow row after row). References: dotRowGeneric.

// mvQ4AVX512 is, for Q4_0 rows of nb blocks:
//
//	for b := range nb { d := f16(scales[r·nb+b]); for j := range 16 {
//		sum += float32(lo(codes[16b+j])−8)·d·x[32b+j] + float32(hi(codes[16b+j])−8)·d·x[32b+j+16] } }
//
//go:noescape
func mvQ4AVX512(y *float32, codes, scales *byte, x *float32, rows, nb int)

// mvQ8AVX512 is, for Q8_0 rows of nb blocks:
//
//	for b := range nb { d := f16(scales[r·nb+b]); for j := range 32 { sum += float32(int8(codes[32b+j]))·d·x[32b+j] } }
//
//go:noescape
func mvQ8AVX512(y *float32, codes, scales *byte, x *float32, rows, nb int)

// mvF32AVX512 is y[r] = Σ_{c<n} f32(codes[r·stride+4c:])·x[c], n a multiple of 16.
//
//go:noescape
func mvF32AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)

// mvF16AVX512 is y[r] = Σ_{c<n} f16(codes[r·stride+2c:])·x[c], n a multiple of 16.
//
//go:noescape
func mvF16AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)

// mvBF16AVX512 is y[r] = Σ_{c<n} bf16(codes[r·stride+2c:])·x[c], n a multiple of 16.
//
//go:noescape
func mvBF16AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)

// mvFP8AVX512 is the unscaled sum y[r] = Σ_{c<n} e4m3(codes[r·stride+c])·x[c], n a multiple
// of 16; a row holding a NaN code gets NaN.
//
//go:noescape
func mvFP8AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)

// mvI4AVX512 is the unscaled sum y[r] = Σ_{c<n} float32(nibble(codes[r·stride:], c)−8)·x[c],
// n a multiple of 32.
//
//go:noescape
func mvI4AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)

func matVecRowsArch(y []float32, w *Matrix, x []float32, lo, hi int) bool {
	if !useAVX512 || hi <= lo {
		return false
	}
	rows, cols := hi-lo, w.Cols()
	l := &w.Layout
	stride := int(l.RowStride)
	codes := w.Data[int(l.CodesOff)+lo*stride:]
	switch w.DType {
	case format.Q4_0, format.Q8_0:
		nb := cols / format.BlockSize
		scales := w.Data[int(l.ScalesOff)+lo*nb*2:]
		if nb == 0 {
			clear(y[lo:hi])
			return true
		}
		if w.DType == format.Q4_0 {
			mvQ4AVX512(&y[lo], &codes[0], &scales[0], &x[0], rows, nb)
		} else {
			mvQ8AVX512(&y[lo], &codes[0], &scales[0], &x[0], rows, nb)
		}
		return true
	case format.F32, format.F16, format.BF16, format.FP8, format.I4:
	default:
		return false
	}
	n := cols &^ 15
	if w.DType == format.I4 {
		n = cols &^ 31
	}
	if n == 0 {
		clear(y[lo:hi])
	} else {
		switch w.DType {
		case format.F32:
			mvF32AVX512(&y[lo], &codes[0], stride, &x[0], rows, n)
		case format.F16:
			mvF16AVX512(&y[lo], &codes[0], stride, &x[0], rows, n)
		case format.BF16:
			mvBF16AVX512(&y[lo], &codes[0], stride, &x[0], rows, n)
		case format.FP8:
			mvFP8AVX512(&y[lo], &codes[0], stride, &x[0], rows, n)
		case format.I4:
			mvI4AVX512(&y[lo], &codes[0], stride, &x[0], rows, n)
		}
	}
	finishRows(y, w, x, lo, hi, n)
	return true
}

// finishRows adds the columns [n, Cols) the asm kernels leave out and applies the per-row
// scale of the types whose kernels return unscaled sums. Rows with a non-finite scale are
// recomputed by the reference (0·Inf must give NaN per element).
func finishRows(y []float32, w *Matrix, x []float32, lo, hi, n int) {
	cols := w.Cols()
	for r := lo; r < hi; r++ {
		if n < cols {
			y[r] += rawTail(w, r, x, n)
		}
		if w.DType == format.FP8 || w.DType == format.I4 {
			s := lef32(w.rowScales(r), 0)
			if math.IsInf(float64(s), 0) || s != s {
				y[r] = dotRowGeneric(w, r, x)
				continue
			}
			y[r] *= s
		}
	}
}

// rawTail returns Σ_{c≥n} raw(W[r,c])·x[c] where raw is the decoded code without the row or
// tensor scale (plain types: the value).
func rawTail(w *Matrix, r int, x []float32, n int) float32 {
	codes := w.rowCodes(r)
	var sum float32
	for c := n; c < len(x); c++ {
		var v float32
		switch w.DType {
		case format.F32:
			v = lef32(codes, c)
		case format.F16:
			v = f16ToF32(le16(codes, c))
		case format.BF16:
			v = math.Float32frombits(uint32(le16(codes, c)) << 16)
		case format.FP8:
			v = e4m3Table[codes[c]]
		case format.I4:
			v = float32(int(codes[c/2]>>(4*(c&1))&15) - 8)
		case format.SFP8:
			v = sfpTable[codes[c]]
		}
		sum += v * x[c]
	}
	return sum
}

func dot(a, b []float32) float32              { return dotGeneric(a, b) }
func axpy(y []float32, a float32, x []float32) { axpyGeneric(y, a, x) }
func sumSquares(x []float32) float32           { return sumSquaresGeneric(x) }
func scale(x []float32, a float32)             { scaleGeneric(x, a) }

func dequantRowArch(dst []float32, w *Matrix, r int) bool        { return false }
func matMulArch(y []float32, w *Matrix, x []float32, n int) bool { return false }

func streamRead(p []byte) uint64 { return streamReadGeneric(p) }

var _ = unsafe.Pointer(nil)
