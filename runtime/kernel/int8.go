package kernel

import (
	"math"
	"sync"

	"github.com/gemmatool/gemmatool/format"
)

// ModeInt8 ([ModeInt8]) quantizes the activations of one MatVec/MatMul call once, per block of
// 32 columns (the last block of an I4 row may be shorter):
//
//	d_b = max_{j∈b} |x_j| / 127,  q_j = roundToEven(float32(x_j · (1/d_b)))  (q_j = 0 when d_b = 0)
//
// and takes exact integer dot products with the weight codes, scaled in float32:
//
//	Q8_0, Q4_0: y[r] = Σ_b float32(Σ_{j∈b} w_j·q_j) · (f16(d_w,b)·d_b)      (w_j the signed code)
//	I4:         y[r] = s_r · Σ_b float32(Σ_{j∈b} (nibble_j − 8)·q_j) · d_b
//
// then the per-tensor scale. The reference is matVecRowsInt8Generic; the assembly kernels
// compute the same products and only sum the float32 terms in another order (lane partial
// sums of four or eight codes each). Other weight types, and any call whose activations hold
// NaN or ±Inf, are computed exactly.

// int8Type reports whether ModeInt8 changes the computation for weights of type t.
func int8Type(t format.DType) bool {
	return t == format.Q4_0 || t == format.Q8_0 || t == format.I4
}

// Activation layouts of the assembly kernels. A kernel step covers stepCols columns and yields
// 16 int32 lanes; lane l of step s sums the products of a fixed set of columns (laneCols), and
// xa holds the quantized activations in the byte order the weight codes are loaded in:
//
//	Q4_0 (step 128, 4 blocks): xa[128s+16k+j] = q[128s+32k+j], xa[128s+64+16k+j] = q[128s+32k+16+j]
//	I4   (step 128):           xa[128s+j] = q[128s+2j],        xa[128s+64+j] = q[128s+2j+1]
//	Q8_0 (step 64, 2 blocks):  xa = q
//
// corr[16s+l] = −off·Σ_{j∈lane l} q_j, where off (8 for nibbles, 128 for Q8_0 codes xor 0x80)
// is the offset that makes the weight codes unsigned for VPDPBUSD: Σ (u_j − off)·q_j =
// Σ u_j·q_j + corr. dl[16s+l] = d_b of the block lane l belongs to.
type actLayout int

const (
	layoutQ4 actLayout = iota
	layoutI4
	layoutQ8
)

func layoutOf(t format.DType) actLayout {
	switch t {
	case format.Q4_0:
		return layoutQ4
	case format.I4:
		return layoutI4
	}
	return layoutQ8
}

func (l actLayout) stepCols() int {
	if l == layoutQ8 {
		return 64
	}
	return 128
}

// qact is the quantized form of n activation rows of cols columns each (row i at offsets i·cols,
// i·colsA, i·lanes, i·nb of the slices below).
type qact struct {
	layout    actLayout
	n, cols   int
	colsA     int // columns covered by the assembly kernels: a multiple of the step
	lanes, nb int // 16·colsA/stepCols lanes; ⌈cols/32⌉ blocks per row
	q, xa     []int8
	corr      []int32
	dl, d     []float32
	asm       bool // whether xa, corr and dl are filled
	backing8  []int8
	backing32 []int32
	backingF  []float32
}

var qactBuf struct {
	sync.Mutex
	qa qact
}

// quantizeInt8 quantizes n rows of x (cols each) for weights of type t into qa, reusing its
// buffers. forAsm fills the assembly layout too. It returns false if x holds NaN or ±Inf.
func (qa *qact) quantize(t format.DType, x []float32, n, cols int, forAsm bool) bool {
	qa.layout = layoutOf(t)
	qa.n, qa.cols = n, cols
	step := qa.layout.stepCols()
	qa.colsA = 0
	if forAsm {
		qa.colsA = cols / 128 * 128 // the kernels consume 128 columns per iteration
	}
	qa.lanes = 16 * qa.colsA / step
	qa.nb = (cols + 31) / 32
	qa.asm = forAsm
	n8 := n * (cols + qa.colsA)
	if cap(qa.backing8) < n8 {
		qa.backing8 = make([]int8, n8)
	}
	qa.q, qa.xa = qa.backing8[:n*cols], qa.backing8[n*cols:n8]
	if cap(qa.backing32) < n*qa.lanes {
		qa.backing32 = make([]int32, n*qa.lanes)
	}
	qa.corr = qa.backing32[:n*qa.lanes]
	nf := n * (qa.lanes + qa.nb)
	if cap(qa.backingF) < nf {
		qa.backingF = make([]float32, nf)
	}
	qa.dl, qa.d = qa.backingF[:n*qa.lanes], qa.backingF[n*qa.lanes:nf]
	for i := range n {
		if !quantizeRow(qa.q[i*cols:(i+1)*cols], qa.d[i*qa.nb:(i+1)*qa.nb], x[i*cols:(i+1)*cols]) {
			return false
		}
		if forAsm {
			qa.fillLayout(i)
		}
	}
	return true
}

// quantizeRow quantizes x per block of 32 into q and the block scales d; false if x holds a
// NaN or ±Inf.
func quantizeRow(q []int8, d []float32, x []float32) bool {
	for b := range d {
		xb := x[32*b : min(32*b+32, len(x))]
		var amax float32
		for _, v := range xb {
			a := float32(math.Abs(float64(v)))
			if !(a <= math.MaxFloat32) {
				return false
			}
			amax = max(amax, a)
		}
		db := amax / 127
		d[b] = db
		qb := q[32*b : 32*b+len(xb)]
		if db == 0 {
			clear(qb)
			continue
		}
		id := 1 / db
		for j, v := range xb {
			qb[j] = int8(min(127, max(-127, math.RoundToEven(float64(v*id)))))
		}
	}
	return true
}

// fillLayout writes row i's assembly layout (xa, corr, dl) from its natural q and d.
func (qa *qact) fillLayout(i int) {
	q := qa.q[i*qa.cols : i*qa.cols+qa.colsA]
	xa := qa.xa[i*qa.colsA : (i+1)*qa.colsA]
	corr := qa.corr[i*qa.lanes : (i+1)*qa.lanes]
	dl := qa.dl[i*qa.lanes : (i+1)*qa.lanes]
	d := qa.d[i*qa.nb : (i+1)*qa.nb]
	switch qa.layout {
	case layoutQ8:
		copy(xa, q)
		for l := range corr {
			s := int32(q[4*l]) + int32(q[4*l+1]) + int32(q[4*l+2]) + int32(q[4*l+3])
			corr[l] = -128 * s
			dl[l] = d[l/8]
		}
	case layoutQ4:
		for s := 0; s < len(q); s += 128 {
			for k := range 4 {
				copy(xa[s+16*k:s+16*k+16], q[s+32*k:s+32*k+16])
				copy(xa[s+64+16*k:s+64+16*k+16], q[s+32*k+16:s+32*k+32])
			}
		}
		for l := range corr {
			// Lane l of step s: xa bytes 4(l%16)…+3 of the low and of the high half.
			s, ll := l/16*128, l%16
			var sum int32
			for t := range 4 {
				sum += int32(xa[s+4*ll+t]) + int32(xa[s+64+4*ll+t])
			}
			corr[l] = -8 * sum
			dl[l] = d[l/4]
		}
	case layoutI4:
		for s := 0; s < len(q); s += 128 {
			for j := range 64 {
				xa[s+j], xa[s+64+j] = q[s+2*j], q[s+2*j+1]
			}
		}
		for l := range corr {
			var sum int32
			for _, v := range q[8*l : 8*l+8] {
				sum += int32(v)
			}
			corr[l] = -8 * sum
			dl[l] = d[l/4]
		}
	}
}

// dotRowInt8 is the ModeInt8 reference for row r of w against activation row i of qa over the
// columns [c0, Cols) (c0 a multiple of 32), without the per-tensor scale (and for I4 without
// the row scale).
func dotRowInt8(w *Matrix, r int, qa *qact, i, c0 int) float32 {
	cols := qa.cols
	q := qa.q[i*cols : (i+1)*cols]
	d := qa.d[i*qa.nb : (i+1)*qa.nb]
	codes, sc := w.rowCodes(r), w.rowScales(r)
	var sum float32
	switch w.DType {
	case format.Q8_0:
		for b := c0 / 32; b < cols/32; b++ {
			var is int32
			for j := range 32 {
				is += int32(int8(codes[32*b+j])) * int32(q[32*b+j])
			}
			sum += float32(is) * (f16ToF32(le16(sc, b)) * d[b])
		}
	case format.Q4_0:
		for b := c0 / 32; b < cols/32; b++ {
			var is int32
			for j := range 16 {
				v := codes[16*b+j]
				is += int32(int(v&15)-8)*int32(q[32*b+j]) + int32(int(v>>4)-8)*int32(q[32*b+16+j])
			}
			sum += float32(is) * (f16ToF32(le16(sc, b)) * d[b])
		}
	case format.I4:
		for b := c0 / 32; b < qa.nb; b++ {
			var is int32
			for c := 32 * b; c < min(32*b+32, cols); c++ {
				is += int32(int(codes[c/2]>>(4*(c&1))&15)-8) * int32(q[c])
			}
			sum += float32(is) * d[b]
		}
	}
	return sum
}

// finishRowInt8 applies the I4 row scale and the tensor scale to an int8-mode row sum.
func finishRowInt8(w *Matrix, r int, sum float32) float32 {
	if w.DType == format.I4 {
		sum *= lef32(w.rowScales(r), 0)
	}
	if w.Scale != 1 {
		sum *= w.Scale
	}
	return sum
}

// matVecRowsInt8Generic computes y[lo:hi] for activation row i of qa: the ModeInt8 reference.
func matVecRowsInt8Generic(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
	for r := lo; r < hi; r++ {
		y[r] = finishRowInt8(w, r, dotRowInt8(w, r, qa, i, 0))
	}
}

// matVecRowsInt8 computes y[lo:hi] (outputs of activation row i) with the fastest available
// implementation.
func matVecRowsInt8(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
	if !qa.asm || !matVecRowsInt8Arch(y, w, qa, i, lo, hi) {
		matVecRowsInt8Generic(y, w, qa, i, lo, hi)
	}
}

// getQact returns the shared quantization buffer (release must be called) or, if another call
// holds it, a fresh one.
func getQact() (qa *qact, release func()) {
	if qactBuf.TryLock() {
		return &qactBuf.qa, qactBuf.Unlock
	}
	return new(qact), func() {}
}

// matVecInt8 is MatVec in ModeInt8; false if the activations are not finite (the caller then
// computes exactly).
func matVecInt8(y []float32, w *Matrix, x []float32) bool {
	qa, release := getQact()
	defer release()
	if !qa.quantize(w.DType, x, 1, len(x), int8Asm()) {
		return false
	}
	rows, cols := len(y), len(x)
	if rows*cols < parallelMinWork || Threads() == 1 {
		matVecRowsInt8(y, w, qa, 0, 0, rows)
		return true
	}
	chunk := max(16, (rows/(8*Threads())+15)&^15)
	parallel(rows, chunk, args{y: y, w: w, qa: qa}, func(j *job, _, lo, hi int) {
		matVecRowsInt8(j.y, j.w, j.qa, 0, lo, hi)
	})
	return true
}

// int8Tile is the number of weight rows a MatMul task keeps hot in cache while it runs
// through a group of int8Acts activation rows.
const (
	int8Tile = 64
	int8Acts = 32
)

// matMulInt8 is MatMul in ModeInt8; false if the activations are not finite.
func matMulInt8(y []float32, w *Matrix, x []float32, n int) bool {
	qa, release := getQact()
	defer release()
	if !qa.quantize(w.DType, x, n, w.Cols(), int8Asm()) {
		return false
	}
	rows := w.Rows()
	tiles := (rows + int8Tile - 1) / int8Tile
	chunk := max(1, tiles/(4*Threads()))
	if rows*w.Cols()*n < parallelMinWork {
		chunk = tiles
	}
	parallel(tiles, chunk, args{y: y, w: w, qa: qa, n: n}, func(j *job, _, lo, hi int) {
		rows := j.w.Rows()
		r0, r1 := lo*int8Tile, min(hi*int8Tile, rows)
		for a0 := 0; a0 < j.n; a0 += int8Acts {
			for r := r0; r < r1; r += int8Tile {
				for i := a0; i < min(a0+int8Acts, j.n); i++ {
					matVecRowsInt8(j.y[i*rows:(i+1)*rows], j.w, j.qa, i, r, min(r+int8Tile, r1))
				}
			}
		}
	})
	return true
}
