//go:build !purego

package kernel

import (
	"math"

	"github.com/gemmatool/gemmatool/format"
)

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

// mvI4AVX512 is the unscaled sum y[r] = Σ_{c<n} float32(nibble(codes[r·stride:], c)−8)·x[c],
// n a multiple of 32.
//
//go:noescape
func mvI4AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)

// AVX2 row kernels: the same loops as their AVX-512 namesakes (element-wise n a multiple of 8).
//
//go:noescape
func mvQ4AVX2(y *float32, codes, scales *byte, x *float32, rows, nb int)

//go:noescape
func mvQ8AVX2(y *float32, codes, scales *byte, x *float32, rows, nb int)

func finite(f float32) bool { return !math.IsInf(float64(f), 0) && f == f }

// finishRows adds the columns [n, Cols) the asm kernels leave out (tail) and applies the per-row
// scale (rowScaled: the type's kernels return unscaled sums). Rows with a non-finite scale
// are recomputed by the reference (0·Inf must give NaN per element).
func finishRows(y []float32, w *Matrix, x []float32, lo, hi, n int, rowScaled bool, tail tailFunc) {
	cols := w.Cols()
	for r := lo; r < hi; r++ {
		if n < cols {
			y[r] += tail(w, r, x, n)
		}
		if rowScaled {
			s := lef32(w.rowScales(r), 0)
			if !finite(s) {
				y[r] = dotRowUnscaled(w, r, x)
				continue
			}
			y[r] *= s
		}
	}
}

// tailFunc returns Σ_{c≥n} raw(W[r,c])·x[c], raw the decoded code without the row or tensor
// scale (block types: with their block scales): the columns a kernel leaves out.
type tailFunc func(w *Matrix, r int, x []float32, n int) float32

// elemTail binds the decoder of one code of an element-wise type (decode_generic.go).
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

// blockTail32 is blockTail with n in columns.
func blockTail32(w *Matrix, r int, x []float32, n int) float32 {
	return blockTail(w, r, x, n/format.BlockSize)
}

// The dequantization kernels write the decoded values of one row, bit-exact with
// dequantRowGeneric: dst[c] = value(W[r,c]) for c < n (block types: 32·nb values).

// dqQ4AVX512 is dst[32b+j] = float32(lo(codes[16b+j])−8)·d_b, dst[32b+j+16] = float32(hi(…)−8)·d_b.
//
//go:noescape
func dqQ4AVX512(dst *float32, codes, scales *byte, nb int)

// dqQ8AVX512 is dst[32b+j] = float32(int8(codes[32b+j]))·d_b.
//
//go:noescape
func dqQ8AVX512(dst *float32, codes, scales *byte, nb int)

// dqF16AVX512 is dst[c] = f16(codes[2c:]), n a multiple of 16.
//
//go:noescape
func dqF16AVX512(dst *float32, codes *byte, n int)

// dqBF16AVX512 is dst[c] = bf16(codes[2c:]), n a multiple of 16.
//
//go:noescape
func dqBF16AVX512(dst *float32, codes *byte, n int)

// dqFP8AVX512 is dst[c] = e4m3(codes[c])·s, n a multiple of 16.
//
//go:noescape
func dqFP8AVX512(dst *float32, codes *byte, n int, s float32)

// dqI4AVX512 is dst[c] = float32(nibble(codes, c)−8)·s, n a multiple of 32.
//
//go:noescape
func dqI4AVX512(dst *float32, codes *byte, n int, s float32)
