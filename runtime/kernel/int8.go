package kernel

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gemmatool/gemmatool/format"
)

// In [ModeInt8], MatVec and MatMul quantize the activations of a call once, per block of 32
// columns (the last block of an I4 row may be shorter):
//
//	d_b = max_{j∈b} |x_j| / 127,  q_j = roundToEven(float32(x_j · (1/d_b)))  (q_j = 0 when d_b = 0)
//
// and takes exact integer dot products with the weight codes, scaled in float32:
//
//	Q8_0, Q4_0: y[r] = Σ_b float32(Σ_{j∈b} w_j·q_j) · (f16(d_w,b)·d_b)      (w_j the signed code)
//	I4:         y[r] = s_r · Σ_b float32(Σ_{j∈b} (nibble_j − 8)·q_j) · d_b
//
// then the per-tensor scale. A block whose max |x| is below 2⁻⁶⁴ quantizes to zero. The
// reference is matVecRowsInt8Generic; the assembly kernels (AVX-512 VNNI, AVX2) compute the
// same integer sums and only round and add the float32 terms in another order (lane partial
// sums of four or eight codes each; the prefill kernel multiplies the I4 row scale into each
// block's scale). Other weight types, and any call whose activations hold NaN or ±Inf, are
// computed exactly.

// int8Type reports whether ModeInt8 changes the computation for weights of type t.
func int8Type(t format.DType) bool {
	return t == format.Q4_0 || t == format.Q8_0 || t == format.I4 || kType(t)
}

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
//	K4 (Q4_K): xa[256S+128g+64h+32k+j] = q[256S+128g+64k+32h+j] (the order of the code
//	           nibbles), dl[b] = float32(Σ_{j∈b} q_j) per block of 32, no corr
//	K6 (Q6_K): xa = q, corr[l] = −32·Σ_{j<4} q[4l+j] (Q6_K codes are level+32), no dl
//	K (Q2_K, Q3_K, Q5_K): the Go reference only (kquant.go)
type actLayout int

const (
	layoutQ4 actLayout = iota
	layoutI4
	layoutQ8
	layoutK
	layoutK4
	layoutK6
)

func layoutOf(t format.DType) actLayout {
	switch t {
	case format.Q4_0, format.IQ4_NL:
		return layoutQ4
	case format.I4:
		return layoutI4
	case format.Q4_K:
		return layoutK4
	case format.Q6_K:
		return layoutK6
	}
	if kType(t) {
		return layoutK
	}
	return layoutQ8
}

// lanes returns the length of corr and dl for colsA columns of one activation row.
func (l actLayout) lanes(colsA int) int {
	switch l {
	case layoutQ8:
		return colsA / 4
	case layoutK4:
		return colsA / 32
	case layoutK6:
		return colsA / 4
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
	asm       bool      // whether xa, corr and dl are filled
	gemm      gemmState // the prefill kernel's packed panels
	backing8  []int8
	backing32 []int32
	backingF  []float32
}

var qactBuf struct {
	sync.Mutex
	qa qact
}

// quantize quantizes n rows of x (cols each) for weights of activation layout layout into
// qa, reusing its buffers. forAsm fills the assembly layout too. It returns false if x holds
// NaN or ±Inf.
func (qa *qact) quantize(layout actLayout, x []float32, n, cols int, forAsm bool) bool {
	qa.layout = layout
	qa.n, qa.cols = n, cols
	forAsm = forAsm && qa.layout != layoutK
	qa.colsA = 0
	if forAsm {
		qa.colsA = cols / 128 * 128 // the kernels consume 128 columns per iteration (k-quants: 256 = cols)
	}
	qa.lanes = qa.layout.lanes(qa.colsA)
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
// NaN or ±Inf. Rounding q = roundToEven(float32(x·(1/d))) uses the float32 magic-number add
// (exact for |t| < 2²²; here |t| ≤ 127·(1+2⁻²³)). A block whose max |x| is below 2⁻⁶⁴ is
// quantized to zero (so that 1/d stays finite).
const tinyBits = 0x1f800000 // 2⁻⁶⁴

func quantizeRow(q []int8, d []float32, x []float32) bool {
	const magic = 1 << 23 * 1.5
	b0, ok := quantizeRowsArch(q, d, x)
	if !ok {
		return false
	}
	for b := b0; b < len(d); b++ {
		xb := x[32*b : min(32*b+32, len(x))]
		var amaxBits uint32 // the bits of non-negative floats order like the values
		for _, v := range xb {
			amaxBits = max(amaxBits, math.Float32bits(v)&0x7fffffff)
		}
		if amaxBits >= 0x7f800000 {
			return false
		}
		db := math.Float32frombits(amaxBits) / 127
		if amaxBits < tinyBits {
			db = 0
		}
		d[b] = db
		qb := q[32*b : 32*b+len(xb)]
		if db == 0 {
			clear(qb)
			continue
		}
		id := 1 / db
		for j, v := range xb {
			t := float32(v * id)
			r := float32(t+magic) - magic
			qb[j] = int8(min(127, max(-127, int32(r))))
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
	default:
		if kType(w.DType) {
			return dotRowInt8K(w, r, qa, i, c0)
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

// matVecInt8 is MatVec in ModeInt8; false if the activations are not finite (the caller then
// computes exactly).
func matVecInt8(e Exec, y []float32, w *Matrix, x []float32) bool {
	qa := getQact()
	defer putQact(qa)
	if !qa.quantize(w.k.layout, x, 1, len(x), w.k.int8.asm) {
		return false
	}
	rows, cols := len(y), len(x)
	if rows*cols < parallelMinWork || e.Threads == 1 {
		w.k.int8.rows(y, w, qa, 0, 0, rows)
		return true
	}
	chunk := max(16, (rows/(2*e.Threads)+15)&^15)
	parallel(e.Threads, rows, chunk, args{y: y, w: w, qa: qa}, func(j *job, _, lo, hi int) {
		j.w.k.int8.rows(j.y, j.w, j.qa, 0, lo, hi)
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
func matMulInt8(e Exec, y []float32, w *Matrix, x []float32, n int) bool {
	if w.k.int8.gemm && n >= gemmMinN {
		return matMulInt8Gemm(e, y, w, x, n)
	}
	qa := getQact()
	defer putQact(qa)
	if !qa.quantize(w.k.layout, x, n, w.Cols(), w.k.int8.asm) {
		return false
	}
	rows := w.Rows()
	tiles := (rows + int8Tile - 1) / int8Tile
	chunk := max(1, tiles/(4*e.Threads))
	if rows*w.Cols()*n < parallelMinWork {
		chunk = tiles
	}
	parallel(e.Threads, tiles, chunk, args{y: y, w: w, qa: qa, n: n}, func(j *job, _, lo, hi int) {
		rows := j.w.Rows()
		r0, r1 := lo*int8Tile, min(hi*int8Tile, rows)
		for a0 := 0; a0 < j.n; a0 += int8Acts {
			for r := r0; r < r1; r += int8Tile {
				for i := a0; i < min(a0+int8Acts, j.n); i++ {
					j.w.k.int8.rows(j.y[i*rows:(i+1)*rows], j.w, j.qa, i, r, min(r+int8Tile, r1))
				}
			}
		}
	})
	return true
}

// The prefill kernel (gemm6x32VNNI) multiplies groups of gemmRows weight rows, expanded to
// signed int8 codes once per MatMul, by panels of gemmActs activation rows packed as unsigned
// bytes (q+128) with lanes over the activation rows:
//
//	xp[((p·nb+b)·8+k)·128 + 64a + 4l + t] = q[32p+16a+l][32b+4k+t] + 128,  xd[(p·nb+b)·32 + a'] = d
//
// The offset is removed by corr[b·6+r] = −128·Σ_{j∈b} w_rj, and the block scale of row r is
// wd[b·6+r] (f16 scale for Q4_0/Q8_0, the row scale for I4).
const (
	gemmRows = 6
	gemmActs = 32
	gemmMinN = 16 // fewer activation rows use the matrix-vector kernels
)

// gemmSuper is the number of row groups a prefill task expands at once; it then runs every
// panel against all of them, so that each output row segment of 48 floats is written whole.
const gemmSuper = 8

type gemmScratch struct {
	wq   []int8    // [gemmSuper][gemmRows][32·nbP]
	wd   []float32 // [gemmSuper][nbP][gemmRows]
	corr []int32   // [gemmSuper][nbP][gemmRows]
}

type gemmState struct {
	xp  []byte
	xd  []float32
	nbP int
	bad atomic.Bool
	ws  []*gemmScratch
}

func (g *gemmState) scratch(worker, nbP int) *gemmScratch {
	var s *gemmScratch
	if worker >= 0 && worker < len(g.ws) {
		if g.ws[worker] == nil {
			g.ws[worker] = new(gemmScratch)
		}
		s = g.ws[worker]
	} else {
		s = new(gemmScratch)
	}
	k := gemmSuper * gemmRows * nbP
	if cap(s.wq) < 32*k {
		s.wq = make([]int8, 32*k)
		s.wd = make([]float32, k)
		s.corr = make([]int32, k)
	}
	s.wq, s.wd, s.corr = s.wq[:32*k], s.wd[:k], s.corr[:k]
	return s
}

// matMulInt8Gemm is matMulInt8 with the prefill kernel; false if the activations are not finite.
func matMulInt8Gemm(e Exec, y []float32, w *Matrix, x []float32, n int) bool {
	qa := getQact()
	defer putQact(qa)
	cols := w.Cols()
	nbP := (cols + 31) / 32
	panels := (n + gemmActs - 1) / gemmActs
	g := &qa.gemm
	g.nbP = nbP
	g.bad.Store(false)
	if cap(g.xp) < panels*nbP*1024 {
		g.xp = make([]byte, panels*nbP*1024)
		g.xd = make([]float32, panels*nbP*32)
	}
	g.xp, g.xd = g.xp[:panels*nbP*1024], g.xd[:panels*nbP*32]
	if len(g.ws) < e.Threads {
		g.ws = make([]*gemmScratch, e.Threads)
	}
	qa.n, qa.cols, qa.nb = n, cols, nbP
	if cap(qa.backing8) < n*cols {
		qa.backing8 = make([]int8, n*cols)
	}
	if cap(qa.backingF) < n*nbP {
		qa.backingF = make([]float32, n*nbP)
	}
	qa.q, qa.d = qa.backing8[:n*cols], qa.backingF[:n*nbP]
	parallel(e.Threads, panels, 1, args{x: x, w: w, qa: qa, n: n}, packPanelInt8)
	if g.bad.Load() {
		return false
	}
	rows := w.Rows()
	supers := (rows + gemmRows*gemmSuper - 1) / (gemmRows * gemmSuper)
	parallel(e.Threads, supers, 1, args{y: y, w: w, qa: qa, n: n}, gemmGroups)
	return true
}

// packPanelInt8 quantizes activation rows [32p, 32p+32) and packs them into panel p.
func packPanelInt8(j *job, _, lo, hi int) {
	qa := j.qa
	g := &qa.gemm
	cols, nbP := qa.cols, g.nbP
	for p := lo; p < hi; p++ {
		xp := g.xp[p*nbP*1024 : (p+1)*nbP*1024]
		xd := g.xd[p*nbP*32 : (p+1)*nbP*32]
		for a := range gemmActs {
			i := p*gemmActs + a
			if i >= j.n {
				for b := range nbP {
					xd[b*32+a] = 0
					for k := range 8 {
						o := (b*8+k)*128 + (a/16)*64 + (a%16)*4
						xp[o], xp[o+1], xp[o+2], xp[o+3] = 0x80, 0x80, 0x80, 0x80
					}
				}
				continue
			}
			q := qa.q[i*cols : (i+1)*cols]
			d := qa.d[i*nbP : (i+1)*nbP]
			if !quantizeRow(q, d, j.x[i*cols:(i+1)*cols]) {
				g.bad.Store(true)
				return
			}
			qb := int8Bytes(q)
			for b := range nbP {
				xd[b*32+a] = d[b]
				for k := range 8 {
					o := (b*8+k)*128 + (a/16)*64 + (a%16)*4
					c := 32*b + 4*k
					if c+4 <= cols {
						binary.LittleEndian.PutUint32(xp[o:], binary.LittleEndian.Uint32(qb[c:])^0x80808080)
						continue
					}
					for t := range 4 {
						v := byte(0x80)
						if c+t < cols {
							v ^= qb[c+t]
						}
						xp[o+t] = v
					}
				}
			}
		}
	}
}

// gemmGroups runs the prefill kernel for the row groups of super-groups [lo, hi).
func gemmGroups(j *job, worker, lo, hi int) {
	w, qa := j.w, j.qa
	g := &qa.gemm
	rows, nbP := w.Rows(), g.nbP
	s := g.scratch(worker, nbP)
	k := gemmRows * nbP // scales per group
	for sg := lo; sg < hi; sg++ {
		r0 := sg * gemmRows * gemmSuper
		ng := min(gemmSuper, (rows-r0+gemmRows-1)/gemmRows)
		for gi := range ng {
			rg := r0 + gi*gemmRows
			expandGroup(s.wq[gi*32*k:(gi+1)*32*k], s.wd[gi*k:(gi+1)*k], s.corr[gi*k:(gi+1)*k], w, rg, min(gemmRows, rows-rg), nbP)
		}
		for p := range (j.n + gemmActs - 1) / gemmActs {
			xp, xd := &g.xp[p*nbP*1024], &g.xd[p*nbP*32]
			for gi := range ng {
				rg := r0 + gi*gemmRows
				m := min(gemmRows, rows-rg)
				na := min(gemmActs, j.n-p*gemmActs)
				gemmKernel(j.y[p*gemmActs*rows+rg:], rows, m, na, w.Scale, &s.wq[gi*32*k], &s.wd[gi*k], &s.corr[gi*k], xp, xd, nbP)
			}
		}
	}
}

// expandGroup writes the signed codes, block scales and offset corrections of rows
// [r0, r0+m) into wq, wd, corr (rows m…gemmRows−1 zero).
func expandGroup(wq []int8, wd []float32, corr []int32, w *Matrix, r0, m, nbP int) {
	ldw := 32 * nbP
	cols := w.Cols()
	for r := range gemmRows {
		dst := wq[r*ldw : (r+1)*ldw]
		if r >= m {
			clear(dst)
			for b := range nbP {
				wd[b*gemmRows+r], corr[b*gemmRows+r] = 0, 0
			}
			continue
		}
		codes, sc := w.rowCodes(r0+r), w.rowScales(r0+r)
		db := int8Bytes(dst)
		switch {
		case expandRowArch(dst, corr[r:], w, codes, nbP):
		case w.DType == format.Q8_0:
			copy(db, codes[:cols])
			for b := range nbP {
				corr[b*gemmRows+r] = -128 * sumInt8x32(db[32*b:])
			}
		case w.DType == format.Q4_0:
			for b := range nbP {
				c, o := codes[16*b:16*b+16], db[32*b:32*b+32]
				var sum uint64
				for h := 0; h < 16; h += 8 {
					v := binary.LittleEndian.Uint64(c[h:])
					lo, hi := v&0x0f0f0f0f0f0f0f0f, v>>4&0x0f0f0f0f0f0f0f0f
					sum += (lo + hi) * 0x0101010101010101 >> 56 // byte sums ≤ 240
					binary.LittleEndian.PutUint64(o[h:], nibbleToInt8(lo))
					binary.LittleEndian.PutUint64(o[16+h:], nibbleToInt8(hi))
				}
				corr[b*gemmRows+r] = -128 * (int32(sum) - 256)
			}
		case w.DType == format.IQ4_NL:
			for b := range nbP {
				c, o := codes[16*b:16*b+16:16*b+16], dst[32*b:32*b+32:32*b+32]
				var sum int32
				for j, v := range c {
					lo, hi := format.KValuesIQ4NL[v&15], format.KValuesIQ4NL[v>>4]
					o[j], o[16+j] = lo, hi
					sum += int32(lo) + int32(hi)
				}
				corr[b*gemmRows+r] = -128 * sum
			}
		case w.DType == format.I4:
			for i, c := range codes[:(cols+1)/2] {
				binary.LittleEndian.PutUint16(db[2*i:], nibblePairs[c])
			}
			clear(dst[cols:])
			for b := range nbP {
				corr[b*gemmRows+r] = -128 * sumInt8x32(db[32*b:])
			}
		}
		for b := range nbP {
			if w.DType == format.I4 {
				wd[b*gemmRows+r] = lef32(sc, 0)
			} else {
				wd[b*gemmRows+r] = f16ToF32(le16(sc, b))
			}
		}
	}
}

// nibbleToInt8 maps eight bytes holding nibbles q (0…15) to the bytes of int8(q−8): q xor 8
// is q−8 in four-bit two's complement; its bit 3 is copied into bits 4–7.
func nibbleToInt8(v uint64) uint64 {
	t := v ^ 0x0808080808080808
	return t | (t&0x0808080808080808)*0x1e
}

// nibblePairs[c] holds int8(lo(c)−8), int8(hi(c)−8) as two little-endian bytes.
var nibblePairs = func() (t [256]uint16) {
	for c := range 256 {
		t[c] = uint16(uint8(int8(c&15)-8)) | uint16(uint8(int8(c>>4)-8))<<8
	}
	return
}()

// sumInt8x32 returns the sum of the 32 int8 values in b[:32].
func sumInt8x32(b []byte) int32 {
	var s uint64
	for h := 0; h < 32; h += 8 {
		u := binary.LittleEndian.Uint64(b[h:]) ^ 0x8080808080808080 // v+128
		s += ((u & 0x00ff00ff00ff00ff) + (u >> 8 & 0x00ff00ff00ff00ff)) * 0x0001000100010001 >> 48
	}
	return int32(s) - 32*128
}

// int8Bytes views an int8 slice as bytes.
func int8Bytes(s []int8) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s))
}
