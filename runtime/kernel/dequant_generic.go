package kernel

import (
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// The row dequantization reference, and the decoders of one code of the element-wise types
// that the assembly entries use for the columns their kernels leave out.

// dequantRowGeneric is the scalar reference decoder: value rules of format.LayoutOf's types.
func dequantRowGeneric(dst []float32, w *Matrix, r int) {
	codes, sc := w.rowCodes(r), w.rowScales(r)
	switch w.DType {
	case format.F32:
		for i := range dst {
			dst[i] = lef32(codes, i)
		}
	case format.F16:
		for i := range dst {
			dst[i] = f16ToF32(le16(codes, i))
		}
	case format.BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le16(codes, i)) << 16)
		}
	case format.Q8_0:
		for b := range len(dst) / 32 {
			d := f16ToF32(le16(sc, b))
			for j := range 32 {
				dst[32*b+j] = float32(int8(codes[32*b+j])) * d
			}
		}
	case format.Q4_0:
		for b := range len(dst) / 32 {
			d := f16ToF32(le16(sc, b))
			q := codes[16*b : 16*b+16]
			for j := range 16 {
				dst[32*b+j] = float32(int(q[j]&15)-8) * d
				dst[32*b+j+16] = float32(int(q[j]>>4)-8) * d
			}
		}
	case format.I4:
		s := lef32(sc, 0)
		for i := range dst {
			dst[i] = float32(int(codes[i/2]>>(4*(i&1))&15)-8) * s
		}
	case format.FP8:
		s := lef32(sc, 0)
		for i := range dst {
			dst[i] = e4m3Table[codes[i]] * s
		}
	case format.SFP8:
		for i := range dst {
			dst[i] = sfpTable[codes[i]]
		}
	default:
		if !kType(w.DType) {
			panic("kernel: unsupported dtype " + w.DType.String())
		}
		dequantRowK(dst, w, r)
	}
	applyTensorScale(dst, w.Scale)
}

// applyTensorScale multiplies decoded values by the per-tensor scale unless it is 1, as
// format.DecodeRow does (one rounding per value).
func applyTensorScale(dst []float32, s float32) {
	if s != 1 {
		for i := range dst {
			dst[i] *= s
		}
	}
}

// The raw decoders of the element-wise types: code c of a row without the row or tensor scale
// (the tails of the assembly kernels).
func rawF32(codes []byte, c int) float32  { return lef32(codes, c) }
func rawF16(codes []byte, c int) float32  { return f16ToF32(le16(codes, c)) }
func rawBF16(codes []byte, c int) float32 { return math.Float32frombits(uint32(le16(codes, c)) << 16) }
func rawFP8(codes []byte, c int) float32  { return e4m3Table[codes[c]] }
func rawSFP8(codes []byte, c int) float32 { return sfpTable[codes[c]] }
func rawI4(codes []byte, c int) float32   { return float32(int(codes[c/2]>>(4*(c&1))&15) - 8) }
