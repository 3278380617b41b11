package kernel

import (
	"encoding/binary"
	"sync/atomic"
)

// The prefill kernel (gemm6x32VNNI) multiplies groups of gemmRows weight rows, expanded to
// signed int8 codes once per MatMul, by panels of gemmActs activation rows packed as unsigned
// bytes (q+128) with lanes over the activation rows:
//
//	xp[((p·nb+b)·8+k)·128 + 64a + 4l + t] = q[32p+16a+l][32b+4k+t] + 128,  xd[(p·nb+b)·32 + a'] = d
//
// The offset is removed by corr[b·6+r] = −128·Σ_{j∈b} w_rj, and the block scale of row r is
// wd[b·6+r] (f16 scale for Q4_0/Q8_0, the row scale for I4): the table entry's expand and its
// type's gemmScales write them.
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
	im := w.k.int8
	for r := range gemmRows {
		dst := wq[r*ldw : (r+1)*ldw]
		if r >= m {
			clear(dst)
			for b := range nbP {
				wd[b*gemmRows+r], corr[b*gemmRows+r] = 0, 0
			}
			continue
		}
		im.expand(dst, corr[r:], w.rowCodes(r0+r), w.Cols(), nbP)
		im.ops.gemmScales(wd[r:], w, r0+r, nbP)
	}
}
