package kernel

import (
	"sync"
)

// Activation layouts of the matrix-vector kernels. A kernel step covers 128 columns (Q8_0: 64) and
// yields 16 int32 lanes; lane l of step s sums the products of a fixed set of columns, and xa
// holds the quantized activations in the byte order the weight codes are loaded in:
//
//	Q4_0 (step 128, 4 blocks): xa[128s+16k+j] = q[128s+32k+j], xa[128s+64+16k+j] = q[128s+32k+16+j]
//	I4   (step 128):           xa[128s+j] = q[128s+2j],        xa[128s+64+j] = q[128s+2j+1]
//	Q8_0 (step 64, 2 blocks):  xa = q
//
// corr[16s+l] = −off·Σ_{j∈lane l} q_j, where off (8 for nibbles, 128 for Q8_0 codes xor 0x80)
// is the offset that makes the weight codes unsigned for VPDPBUSD: Σ (u_j − off)·q_j =
// Σ u_j·q_j + corr. dl[16s+l] = d_b of the block lane l belongs to. IQ4_NL uses the Q4_0
// layout. The k-quant layouts (kquant_amd64.go; columns in super-blocks of 256):
//
//	K4 (Q4_K, Q5_K): xa[256S+128g+64h+32k+j] = q[256S+128g+64k+32h+j] (the order of the code
//	           nibbles), dl[b] = float32(Σ_{j∈b} q_j) per block of 32, no corr
//	K6 (Q6_K, Q3_K, Q2_K): xa = q, corr[l] = −32·Σ_{j<4} q[4l+j] (the kernels scale it to
//	           their code offset: Q6_K codes are level+32, Q3_K's level+4; Q2_K's levels are
//	           unsigned and corr gives its sub-block sums for the mins), no dl
type actLayout int

const (
	layoutQ4 actLayout = iota
	layoutI4
	layoutQ8
	layoutK4
	layoutK6
)

// lanes returns the length of corr and dl for colsA columns of one activation row.
func (l actLayout) lanes(colsA int) int {
	switch l {
	case layoutQ8, layoutK6:
		return colsA / 4
	case layoutK4:
		return colsA / 32
	}
	return colsA / 8
}

// qact is the quantized form of n activation rows of cols columns each (row i at offsets i·cols,
// i·colsA, i·lanes, i·nb of the slices below).
type qact struct {
	layout    actLayout
	n, cols   int
	colsA     int // columns covered by the assembly kernels: a multiple of 128
	lanes, nb int // layout.lanes(colsA) lanes; ⌈cols/32⌉ blocks per row
	q, xa     []int8
	corr      []int32
	dl, d     []float32
	fill      actFill   // what of the assembly layout is filled
	gemm      gemmState // the prefill kernel's packed panels
	// xm holds the activations of rows [0, 4·groups) packed per step for the multi-row kernel
	// (packMulti, int8multi_amd64.go); groups is 0 when they are not packed.
	xm        []byte
	groups    int
	backing8  []int8
	backing32 []int32
	backingF  []float32
}

var qactBuf struct {
	sync.Mutex
	qa qact
}

// actFill is what of the assembly activation layout (xa, corr, dl) a row kernel reads.
type actFill uint8

const (
	fillNone actFill = iota // nothing: the Go references read the natural q and d
	fillXA                  // xa only (the VNNI kernels of Q4_0 and Q8_0 take d and derive corr)
	fillAll                 // xa, corr and dl
)

// quantize quantizes n rows of x (cols each) for weights of activation layout layout into
// qa, reusing its buffers, and fills what fill says of the assembly layout. It returns false
// if x holds NaN or ±Inf.
func (qa *qact) quantize(layout actLayout, x []float32, n, cols int, fill actFill) bool {
	qa.layout = layout
	qa.n, qa.cols = n, cols
	qa.colsA = 0
	forAsm := fill != fillNone
	if forAsm {
		qa.colsA = cols / 128 * 128 // the kernels consume 128 columns per iteration (k-quants: 256 = cols)
	}
	qa.lanes = qa.layout.lanes(qa.colsA)
	qa.nb = (cols + 31) / 32
	qa.fill = fill
	qa.groups = 0
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

// row returns activation row i's quantized values and block scales.
func (qa *qact) row(i int) (q []int8, d []float32) {
	return qa.q[i*qa.cols : (i+1)*qa.cols], qa.d[i*qa.nb : (i+1)*qa.nb]
}

// quantizeRow quantizes x per block of 32 into q and the block scales d (quantizeBlocksGeneric,
// the full blocks by the assembly where there is one); false if x holds a NaN or ±Inf.
func quantizeRow(q []int8, d []float32, x []float32) bool {
	b0, ok := quantizeRowsArch(q, d, x)
	return ok && quantizeBlocksGeneric(q, d, x, b0)
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
		if qa.fill == fillXA {
			return
		}
		// Lane l sums q[4l … 4l+3]; a block of 32 holds lanes 8b … 8b+7. Fixed-size
		// subslices keep the loops free of bounds checks (this runs on every decode call).
		for b := 0; 32*b+32 <= len(q); b++ {
			src := q[32*b : 32*b+32 : 32*b+32]
			c, dd := corr[8*b:8*b+8:8*b+8], dl[8*b:8*b+8:8*b+8]
			for t := range 8 {
				w := src[4*t : 4*t+4 : 4*t+4]
				c[t] = -128 * (int32(w[0]) + int32(w[1]) + int32(w[2]) + int32(w[3]))
				dd[t] = d[b]
			}
		}
	case layoutQ4:
		// Step s (128 columns) holds lanes s/8 … s/8+15: lane ll sums xa bytes 4ll … 4ll+3 of
		// the low and of the high half of the step.
		for s := 0; s+128 <= len(q); s += 128 {
			src, dst := q[s:s+128:s+128], xa[s:s+128:s+128]
			for k := range 4 {
				copy(dst[16*k:16*k+16], src[32*k:32*k+16])
				copy(dst[64+16*k:64+16*k+16], src[32*k+16:32*k+32])
			}
			if qa.fill == fillXA {
				continue
			}
			c, dd, db := corr[s/8:s/8+16:s/8+16], dl[s/8:s/8+16:s/8+16], d[s/32:s/32+4:s/32+4]
			for ll := range 16 {
				lo, hi := dst[4*ll:4*ll+4:4*ll+4], dst[64+4*ll:64+4*ll+4:64+4*ll+4]
				sum := int32(lo[0]) + int32(lo[1]) + int32(lo[2]) + int32(lo[3]) +
					int32(hi[0]) + int32(hi[1]) + int32(hi[2]) + int32(hi[3])
				c[ll] = -8 * sum
				dd[ll] = db[ll/4]
			}
		}
	case layoutK4, layoutK6:
		fillLayoutK(qa.layout, xa, corr, dl, q)
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

// getQact returns the shared quantization buffer (locked: the caller calls putQact) or, if
// another call holds it, a fresh one.
func getQact() *qact {
	if qactBuf.TryLock() {
		return &qactBuf.qa
	}
	return new(qact)
}

func putQact(qa *qact) {
	if qa == &qactBuf.qa {
		qactBuf.Unlock()
	}
}
