package kernel

import (
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// The exact matrix–vector reference: every type's row product in column order, float32
// accumulation, the weights decoded as format decodes them. The generic table entries run it;
// the tests hold every other entry against it.

// matVecRowsGeneric is the exact reference of the rows [lo, hi) (xp unused).
func matVecRowsGeneric(y []float32, w *Matrix, x, _ []float32, lo, hi int) {
	for r := lo; r < hi; r++ {
		y[r] = dotRowGeneric(w, r, x)
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
