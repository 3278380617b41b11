package kernel

import "fmt"

// MaxMulti is the largest number of matrices one [MatVecMulti] call takes.
const MaxMulti = 4

// multi holds the operands of one MatVecMulti loop: the rows of all matrices form one range,
// matrix i owning [end[i-1], end[i]).
type multi struct {
	n    int
	w    [MaxMulti]*Matrix
	y    [MaxMulti][]float32
	end  [MaxMulti]int
	int8 [MaxMulti]bool      // rows computed from the quantized activations (args.qa)
	xp   [MaxMulti][]float32 // exact rows: x permuted for their kernel (nibble.go), or nil
	// glu: matrices 0 (gate) and 1 (up) share their rows, the loop runs over those rows, and
	// each chunk ends with y[0][r] = GELU(y[0][r])·y[1][r] (MatVecGLU).
	glu bool
}

// MatVecGLU computes out[r] = GELU(Σ_c gate[r,c]·x[c]) · Σ_c up[r,c]·x[c] for r in
// [0, gate.Rows()): the gated feed-forward of a decode step. Both products, the GELU (as
// [GELU]) and the product run in one parallel loop, each chunk of rows finishing its own
// gating, instead of a serial pass over the intermediate vector after the products. up's
// products go to scratch. It panics if the matrices' shapes differ, len(x) < Cols, or out or
// scratch are shorter than Rows.
func (e Exec) MatVecGLU(out, scratch []float32, gate, up *Matrix, x []float32) {
	rows, cols := gate.Rows(), gate.Cols()
	if up.Rows() != rows || up.Cols() != cols || len(x) < cols || len(out) < rows || len(scratch) < rows {
		panic(fmt.Sprintf("kernel: MatVecGLU: gate %d×%d, up %d×%d, len(x) = %d, len(out) = %d, len(scratch) = %d", rows, cols, up.Rows(), up.Cols(), len(x), len(out), len(scratch)))
	}
	var a args
	m := &a.mv
	m.n, m.glu = 2, true
	m.w[0], m.w[1] = gate, up
	m.y[0], m.y[1] = out[:rows], scratch[:rows]
	a.x = x[:cols]
	matVecMulti(e.resolved(), &a, rows) // one range over the rows both matrices share
}

// gluFinish gates rows [lo, hi): y0 = GELU(y0)·y1.
func gluFinish(y0, y1 []float32, lo, hi int) { GELUMul(y0[lo:hi], y1[lo:hi]) }

// GELUMul computes g[i] = GELU(g[i])·u[i] (GELU as [GELU]): the gating of the feed-forward.
// It panics if the lengths differ.
func GELUMul(g, u []float32) {
	if len(g) != len(u) {
		panic(fmt.Sprintf("kernel: GELUMul: len(g) = %d, len(u) = %d", len(g), len(u)))
	}
	gelu(g)
	for i, v := range u {
		g[i] *= v
	}
}

// MatVecMulti computes ys[i][r] = Σ_c ws[i][r,c]·x[c] for every matrix i: products that share
// one input (the q/k/v projections, gate and up). The rows of all matrices are split across
// the worker pool as one range (one parallel loop instead of len(ws)), and in [ModeInt8] the
// activations are quantized once. Results equal those of len(ws) MatVec calls (int8 matrices
// of different activation layouts run one after the other). It panics if len(ys) != len(ws),
// len(ws) > MaxMulti, the matrices' column counts differ, len(x) is below them, or some
// len(ys[i]) < ws[i].Rows().
func (e Exec) MatVecMulti(ys [][]float32, ws []*Matrix, x []float32) {
	if len(ys) != len(ws) || len(ws) > MaxMulti {
		panic(fmt.Sprintf("kernel: MatVecMulti: %d outputs, %d matrices (at most %d)", len(ys), len(ws), MaxMulti))
	}
	if len(ws) == 0 {
		return
	}
	cols := ws[0].Cols()
	if len(x) < cols {
		panic(fmt.Sprintf("kernel: MatVecMulti: len(x) = %d, want ≥ %d", len(x), cols))
	}
	var a args
	m := &a.mv
	total := 0
	for i, w := range ws {
		if w.Cols() != cols || len(ys[i]) < w.Rows() {
			panic(fmt.Sprintf("kernel: MatVecMulti: matrix %d is %d×%d, len(y) = %d, want %d columns", i, w.Rows(), w.Cols(), len(ys[i]), cols))
		}
		total += w.Rows()
		m.w[i], m.y[i], m.end[i] = w, ys[i][:w.Rows()], total
	}
	m.n = len(ws)
	a.x = x[:cols]
	matVecMulti(e.resolved(), &a, total)
}

// matVecMulti runs a MatVecMulti (or MatVecGLU) loop over total rows: the concatenated rows of
// all matrices, or with glu the rows the two matrices share.
func matVecMulti(e Exec, a *args, total int) {
	m, x := &a.mv, a.x
	if e.Mode == ModeInt8 {
		// One quantization serves all int8 matrices; matrices of other types run exactly, as
		// MatVec runs them. Int8 matrices of different activation layouts (rare) run one by one.
		var first *kernels
		for i := range m.n {
			k := m.w[i].k
			if k.int8 == nil {
				continue
			}
			if first != nil && (k.layout != first.layout || k.int8.fill != first.int8.fill) {
				for j := range m.n {
					matVec(e, m.y[j], m.w[j], x)
				}
				if m.glu {
					gluFinish(m.y[0], m.y[1], 0, len(m.y[0]))
				}
				return
			}
			first = k
			m.int8[i] = true
		}
		if first != nil {
			qa := getQact()
			defer putQact(qa)
			if qa.quantize(first.layout, x, 1, len(x), first.int8.fill) {
				a.qa = qa
			} else {
				m.int8 = [MaxMulti]bool{}
			}
		}
	}
	// Exact rows of the permuted-activation types share permuted copies of x.
	var ks [MaxMulti]permKind
	for i := range m.n {
		if !m.int8[i] {
			ks[i] = m.w[i].exact().perm
		}
	}
	if xp := getXperm(x, ks[:m.n]...); xp != nil {
		defer putXperm(xp)
		for i := range m.n {
			m.xp[i] = xp.permFor(ks[i])
		}
	}
	if total*len(x) < parallelMinWork || e.Threads == 1 {
		multiRows(&job{args: *a}, 0, 0, total)
		return
	}
	chunk := max(16, (total/(2*e.Threads)+15)&^15)
	parallel(e.Threads, total, chunk, *a, multiRows)
}

// multiRows computes the rows [lo, hi) of the concatenated range of j.multi.
func multiRows(j *job, _, lo, hi int) {
	m := &j.mv
	if m.glu {
		for i := range 2 {
			if m.int8[i] {
				m.w[i].k.int8.rows(m.y[i], m.w[i], j.qa, 0, lo, hi)
			} else {
				m.w[i].exact().matVecRows(m.y[i], m.w[i], j.x, m.xp[i], lo, hi)
			}
		}
		gluFinish(m.y[0], m.y[1], lo, hi)
		return
	}
	start := 0
	for i := range m.n {
		end := m.end[i]
		if lo < end && hi > start {
			a, b := max(lo, start)-start, min(hi, end)-start
			if m.int8[i] {
				m.w[i].k.int8.rows(m.y[i], m.w[i], j.qa, 0, a, b)
			} else {
				m.w[i].exact().matVecRows(m.y[i], m.w[i], j.x, m.xp[i], a, b)
			}
		}
		start = end
	}
}
