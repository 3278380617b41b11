package kernel

import "github.com/gemmatool/gemmatool/format"

// The ModeInt8 references, one per stored type: dotInt8<T> is the sum of row r of w against
// activation row i of qa over the columns [c0, Cols) (c0 a multiple of 32), without the row
// and tensor scales.

func dotInt8Q8(w *Matrix, r int, qa *qact, i, c0 int) float32 {
	return dotInt8F16(w, r, qa, i, c0, func(codes []byte, q []int8, b int) (is int32) {
		for j := range 32 {
			is += int32(int8(codes[32*b+j])) * int32(q[32*b+j])
		}
		return is
	})
}

func dotInt8Q4(w *Matrix, r int, qa *qact, i, c0 int) float32 {
	return dotInt8F16(w, r, qa, i, c0, func(codes []byte, q []int8, b int) (is int32) {
		for j := range 16 {
			v := codes[16*b+j]
			is += int32(int(v&15)-8)*int32(q[32*b+j]) + int32(int(v>>4)-8)*int32(q[32*b+16+j])
		}
		return is
	})
}

// dotInt8F16 is Σ_b float32(block(b))·(f16(scale_b)·d_b) over the blocks from c0/32 of a type
// with f16 block scales; block is the exact integer sum of block b.
func dotInt8F16(w *Matrix, r int, qa *qact, i, c0 int, block func(codes []byte, q []int8, b int) int32) float32 {
	q, d := qa.row(i)
	codes, sc := w.rowCodes(r), w.blockScales(r)
	var sum float32
	for b := c0 / 32; b < qa.cols/32; b++ {
		sum += float32(block(codes, q, b)) * (f16ToF32(le16(sc, b)) * d[b])
	}
	return sum
}

func dotInt8I4(w *Matrix, r int, qa *qact, i, c0 int) float32 {
	q, d := qa.row(i)
	codes := w.rowCodes(r)
	var sum float32
	for b := c0 / 32; b < qa.nb; b++ {
		var is int32
		for c := 32 * b; c < min(32*b+32, qa.cols); c++ {
			is += int32(int(codes[c/2]>>(4*(c&1))&15)-8) * int32(q[c])
		}
		sum += float32(is) * d[b]
	}
	return sum
}

// dotInt8K is dotRowInt8K (kquant.go) with the common signature.
func dotInt8K(w *Matrix, r int, qa *qact, i, c0 int) float32 { return dotRowInt8K(w, r, qa, i, c0) }

// dotRowInt8 is the ModeInt8 reference of any int8 type (the tests' entry point).
func dotRowInt8(w *Matrix, r int, qa *qact, i, c0 int) float32 {
	return int8OpsOf(w.DType).dot(w, r, qa, i, c0)
}

// int8Ops is what the ModeInt8 routines of a stored type need beyond its kernels: the table
// entries (table.go, table_amd64.go) bind these once, so that the hot paths do not ask the type.
type int8Ops struct {
	layout actLayout
	// dot is the reference row sum (also the tail past the assembly's columns).
	dot func(w *Matrix, r int, qa *qact, i, c0 int) float32
	// rowScaled: the row sum is multiplied by the row's f32 scale (I4).
	rowScaled bool
	// expand and gemmScales write one weight row for the prefill kernel (int8gemm_generic.go);
	// nil for types the prefill does not take.
	expand     expandFunc
	gemmScales func(wd []float32, w *Matrix, r, nbP int)
}

var (
	opsQ8 = &int8Ops{layout: layoutQ8, dot: dotInt8Q8, expand: expandQ8Generic, gemmScales: gemmBlockScales}
	opsQ4 = &int8Ops{layout: layoutQ4, dot: dotInt8Q4, expand: expandQ4Generic, gemmScales: gemmBlockScales}
	opsI4 = &int8Ops{layout: layoutI4, dot: dotInt8I4, rowScaled: true, expand: expandI4Generic, gemmScales: gemmRowScale}
	opsK4 = &int8Ops{layout: layoutK4, dot: dotInt8K}
	opsK6 = &int8Ops{layout: layoutK6, dot: dotInt8K}
	// IQ4_NL is laid out as Q4_0: its activations and prefill take Q4_0's forms.
	opsIQ4 = &int8Ops{layout: layoutQ4, dot: dotInt8K, expand: expandIQ4NLGeneric, gemmScales: gemmBlockScales}
)

// int8OpsByType holds the int8 operations of every type ModeInt8 applies to.
var int8OpsByType = map[format.DType]*int8Ops{
	format.Q8_0: opsQ8, format.Q4_0: opsQ4, format.I4: opsI4, format.IQ4_NL: opsIQ4,
	format.Q4_K: opsK4, format.Q5_K: opsK4, format.Q6_K: opsK6, format.Q3_K: opsK6, format.Q2_K: opsK6,
}

// int8OpsOf returns the int8 operations of type t, nil if ModeInt8 computes t exactly.
func int8OpsOf(t format.DType) *int8Ops {
	return int8OpsByType[t]
}

// int8Type reports whether ModeInt8 changes the computation for weights of type t.
func int8Type(t format.DType) bool { return int8OpsOf(t) != nil }

// rowScale is row r's f32 scale (I4).
func (w *Matrix) rowScale(r int) float32 {
	return lef32(w.Data[int(w.Layout.ScalesOff)+4*r:], 0)
}

// blockScales returns row r's f16 block scales (Q4_0, Q8_0).
func (w *Matrix) blockScales(r int) []byte {
	nb := w.Cols() / format.BlockSize
	off := int(w.Layout.ScalesOff) + r*nb*2
	return w.Data[off : off+nb*2]
}

// finish applies the row scale (if the type has one) and the tensor scale to row r's sum.
func (o *int8Ops) finish(w *Matrix, r int, sum float32) float32 {
	if o.rowScaled {
		sum *= w.rowScale(r)
	}
	if w.Scale != 1 {
		sum *= w.Scale
	}
	return sum
}

// int8RowsGeneric binds the reference rows routine of a type: y[lo:hi] for activation row i.
func int8RowsGeneric(o *int8Ops) func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
		for r := lo; r < hi; r++ {
			y[r] = o.finish(w, r, o.dot(w, r, qa, i, 0))
		}
	}
}
