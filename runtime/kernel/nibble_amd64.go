//go:build !purego

package kernel

import (
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// e4m3Bytes and sfpBytes hold the low bytes (0–127) and high bytes (128–255) of the bf16
// patterns of the 128 magnitudes of FP8 E4M3 and SFP8 (the NaN magnitudes are flagged by
// the kernel, their entries unused).
var e4m3Bytes, sfpBytes = bf16Bytes(&e4m3Table), bf16Bytes(&sfpTable)

func bf16Bytes(t *[256]float32) (b [256]byte) {
	for c := range 128 {
		bits := math.Float32bits(t[c])
		if t[c] != t[c] || bits&0xffff != 0 {
			continue // NaN, flagged; (no other value has low bits)
		}
		b[c], b[128+c] = byte(bits>>16), byte(bits>>24)
	}
	return b
}

// nibKernel is a permuted-activation row kernel over the first len(xp) columns (a multiple
// of 128), row sums without the tensor scale (I4: without the row scale either).
type nibKernel func(y []float32, w *Matrix, xp []float32, lo, hi int)

func q4NibKernel(y []float32, w *Matrix, xp []float32, lo, hi int) {
	codes, scales, nb := blockOperands(w, lo)
	mvQ4XAVX512(&y[lo], &codes[0], int(w.Layout.RowStride), &scales[0], nb, &xp[0], hi-lo, len(xp)/128)
}

func q8NibKernel(y []float32, w *Matrix, xp []float32, lo, hi int) {
	codes, scales, nb := blockOperands(w, lo)
	mvQ8XAVX512(&y[lo], &codes[0], int(w.Layout.RowStride), &scales[0], nb, &xp[0], hi-lo, len(xp)/64)
}

func i4NibKernel(y []float32, w *Matrix, xp []float32, lo, hi int) {
	stride := int(w.Layout.RowStride)
	codes := w.Data[int(w.Layout.CodesOff)+lo*stride:]
	mvI4XAVX512(&y[lo], &codes[0], stride, &xp[0], hi-lo, len(xp)/128)
}

// blockOperands returns the codes and scales of a block type from row lo on, and the blocks
// per row.
func blockOperands(w *Matrix, lo int) (codes, scales []byte, nb int) {
	l := &w.Layout
	nb = w.Cols() / format.BlockSize
	return w.Data[int(l.CodesOff)+lo*int(l.RowStride):], w.Data[int(l.ScalesOff)+lo*nb*2:], nb
}

// nibRows binds a permuted-activation kernel: the columns past len(xp) are added by tail,
// the row (rowScaled) and tensor scales applied. The kernels factor the block (Q4_0, Q8_0)
// or row scales out of their sums, so their entries need scales that are not infinite
// (exactImpl.infScale).
func nibRows(kern nibKernel, rowScaled bool, tail tailFunc) func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
	return func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
		kern(y, w, xp, lo, hi)
		finishRows(y, w, x, lo, hi, len(xp), rowScaled, tail)
		scaleRows(y[lo:hi], w.Scale)
	}
}

// b8Rows binds the 8-bit float table kernel for one code table (FP8 E4M3 or SFP8) and its
// NaN pattern.
func b8Rows(tab *[256]byte, nanMask, nanCode uint32, rowScaled bool, tail tailFunc) func(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
	return nibRows(func(y []float32, w *Matrix, xp []float32, lo, hi int) {
		stride := int(w.Layout.RowStride)
		codes := w.Data[int(w.Layout.CodesOff)+lo*stride:]
		mvB8AVX512(&y[lo], &codes[0], stride, tab, nanMask, nanCode, &xp[0], hi-lo, len(xp)/64)
	}, rowScaled, tail)
}

// q4Tail and q8Tail return the exact Q4_0 and Q8_0 sums of row r over the columns
// [n, Cols) (n a multiple of 32), block scales included: the columns the permuted-activation
// kernels leave out.
func q4Tail(w *Matrix, r int, x []float32, n int) float32 {
	return blockTail(w, r, x, n, 16, func(sum float32, q []byte, d float32, x []float32) float32 {
		for j := range 16 {
			sum += float32(int(q[j]&15)-8) * d * x[j]
			sum += float32(int(q[j]>>4)-8) * d * x[j+16]
		}
		return sum
	})
}

func q8Tail(w *Matrix, r int, x []float32, n int) float32 {
	return blockTail(w, r, x, n, 32, func(sum float32, q []byte, d float32, x []float32) float32 {
		for j := range 32 {
			sum += float32(int8(q[j])) * d * x[j]
		}
		return sum
	})
}

// blockTail runs block over the blocks of row r from column n on (bytes code bytes each),
// carrying the sum from block to block.
func blockTail(w *Matrix, r int, x []float32, n, bytes int, block func(sum float32, q []byte, d float32, x []float32) float32) float32 {
	codes, sc := w.rowCodes(r), w.rowScales(r)
	var sum float32
	for b := n / 32; b < len(x)/32; b++ {
		sum = block(sum, codes[bytes*b:bytes*b+bytes], f16ToF32(le16(sc, b)), x[32*b:32*b+32])
	}
	return sum
}
