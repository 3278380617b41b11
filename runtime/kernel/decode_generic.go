package kernel

import (
	"encoding/binary"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// f16ToF32 is format's exact binary16 widening (the reference decoders' own).
func f16ToF32(h uint16) float32 { return format.F16ToFloat32(h) }

// e4m3Table decodes OCP FP8 E4M3FN codes and sfpTable gemma.cpp SFP8 codes (0x80, reserved,
// as NaN): copies of format's reference decoders as arrays, which the kernels index directly.
var e4m3Table, sfpTable = func() (e, s [256]float32) {
	for c := range 256 {
		e[c], s[c] = format.E4M3ToFloat32(byte(c)), format.SFP8ToFloat32(byte(c))
	}
	return
}()

func le16(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
func lef32(b []byte, i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
}

// rowCodes returns the codes of row r.
func (w *Matrix) rowCodes(r int) []byte {
	l := &w.Layout
	off := int(l.CodesOff) + r*int(l.RowStride)
	return w.Data[off : off+int(l.RowStride)]
}

// rowScales returns the scale bytes of row r (f16 per block or one f32), nil for types
// without a scale plane.
func (w *Matrix) rowScales(r int) []byte {
	l := &w.Layout
	switch w.DType {
	case format.Q8_0, format.Q4_0:
		nb := int(l.Cols) / format.BlockSize
		off := int(l.ScalesOff) + r*nb*2
		return w.Data[off : off+nb*2]
	case format.I4, format.FP8:
		off := int(l.ScalesOff) + r*4
		return w.Data[off : off+4]
	}
	return nil
}

// The raw decoders of the element-wise types: code c of a row without the row or tensor scale
// (the tails of the assembly kernels).
func rawF32(codes []byte, c int) float32  { return lef32(codes, c) }
func rawF16(codes []byte, c int) float32  { return f16ToF32(le16(codes, c)) }
func rawBF16(codes []byte, c int) float32 { return math.Float32frombits(uint32(le16(codes, c)) << 16) }
func rawFP8(codes []byte, c int) float32  { return e4m3Table[codes[c]] }
func rawSFP8(codes []byte, c int) float32 { return sfpTable[codes[c]] }
func rawI4(codes []byte, c int) float32   { return float32(int(codes[c/2]>>(4*(c&1))&15) - 8) }

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

// dotRowGeneric returns Σ_c W[r,c]·x[c] with the exactly decoded weights (per-tensor scale
// applied to the sum), accumulated in float32 in column order.
func dotRowGeneric(w *Matrix, r int, x []float32) float32 {
	sum := dotRowUnscaled(w, r, x)
	if w.Scale != 1 {
		sum *= w.Scale
	}
	return sum
}

// dotRowUnscaled is dotRowGeneric without the per-tensor scale.
func dotRowUnscaled(w *Matrix, r int, x []float32) float32 {
	codes, sc := w.rowCodes(r), w.rowScales(r)
	var sum float32
	switch w.DType {
	case format.F32:
		for i, xv := range x {
			sum += lef32(codes, i) * xv
		}
	case format.F16:
		for i, xv := range x {
			sum += f16ToF32(le16(codes, i)) * xv
		}
	case format.BF16:
		for i, xv := range x {
			sum += math.Float32frombits(uint32(le16(codes, i))<<16) * xv
		}
	case format.Q8_0:
		for b := range len(x) / 32 {
			d := f16ToF32(le16(sc, b))
			xb := x[32*b : 32*b+32]
			for j, xv := range xb {
				sum += float32(int8(codes[32*b+j])) * d * xv
			}
		}
	case format.Q4_0:
		for b := range len(x) / 32 {
			d := f16ToF32(le16(sc, b))
			q := codes[16*b : 16*b+16]
			xb := x[32*b : 32*b+32]
			for j := range 16 {
				sum += float32(int(q[j]&15)-8) * d * xb[j]
			}
			for j := range 16 {
				sum += float32(int(q[j]>>4)-8) * d * xb[j+16]
			}
		}
	case format.I4:
		s := lef32(sc, 0)
		for i, xv := range x {
			sum += float32(int(codes[i/2]>>(4*(i&1))&15)-8) * s * xv
		}
	case format.FP8:
		s := lef32(sc, 0)
		for i, xv := range x {
			sum += e4m3Table[codes[i]] * s * xv
		}
	case format.SFP8:
		for i, xv := range x {
			sum += sfpTable[codes[i]] * xv
		}
	default:
		if !kType(w.DType) {
			panic("kernel: unsupported dtype " + w.DType.String())
		}
		sum = dotRowK(w, r, x)
	}
	return sum
}
