package kernel

import "sync"

// packBuf holds the packed activations of one MatMul; a concurrent MatMul allocates its own.
var packBuf struct {
	sync.Mutex
	xp []float32
}

// matMulTiled is the cache-blocked MatMul: the activations are packed once into panels of nr
// rows (column-interleaved, zero-padded); each task dequantizes mr weight rows into float32
// (once per MatMul) and runs the mr×nr microkernel against every panel.
func matMulTiled(e Exec, y []float32, w *Matrix, x []float32, n, mr, nr int, kern microKernel) {
	rows, cols := w.Rows(), w.Cols()
	panels := (n + nr - 1) / nr
	size := panels * nr * cols
	var xp []float32
	if packBuf.TryLock() {
		defer packBuf.Unlock()
		if cap(packBuf.xp) < size {
			packBuf.xp = make([]float32, size)
		}
		xp = packBuf.xp[:size]
	} else {
		xp = make([]float32, size)
	}
	a := args{y: y, w: w, x: x, n: n}
	a.packed, a.mr, a.nr, a.kern = xp, mr, nr, kern
	parallel(e.Threads, panels, 1, a, packPanel)
	groups := (rows + mr - 1) / mr
	chunk := max(1, groups/(4*e.Threads))
	if rows*cols*n < parallelMinWork {
		chunk = groups
	}
	parallel(e.Threads, groups, chunk, a, matMulGroups)
}

// packPanel packs activation rows [nr·p, nr·p+nr) into panel p: xp[p][c][i] = x[(nr·p+i)·cols+c].
func packPanel(j *job, _, lo, hi int) {
	cols, nr := j.w.Cols(), j.nr
	for p := lo; p < hi; p++ {
		dst := j.packed[p*nr*cols : (p+1)*nr*cols]
		for i := range nr {
			row := p*nr + i
			if row >= j.n {
				for c := range cols {
					dst[c*nr+i] = 0
				}
				continue
			}
			src := j.x[row*cols : (row+1)*cols]
			for c, v := range src {
				dst[c*nr+i] = v
			}
		}
	}
}

// matMulGroups computes the outputs of weight-row groups [lo, hi) (mr rows each).
func matMulGroups(j *job, worker, lo, hi int) {
	rows, cols := j.w.Rows(), j.w.Cols()
	mr, nr := j.mr, j.nr
	buf := workerScratch(worker, mr*cols+mr*nr+1)
	wbuf, tile := buf[:mr*cols+1], buf[mr*cols+1:]
	panels := (j.n + nr - 1) / nr
	for g := lo; g < hi; g++ {
		r0 := g * mr
		m := min(mr, rows-r0)
		for r := range m {
			j.w.exact().dequantRow(wbuf[r*cols:(r+1)*cols], j.w, r0+r)
		}
		for p := range panels {
			j.kern(&wbuf[0], cols, &j.packed[p*nr*cols], cols, &tile[0])
			for i := range min(nr, j.n-p*nr) {
				out := j.y[(p*nr+i)*rows+r0 : (p*nr+i)*rows+r0+m]
				for r := range out {
					out[r] = tile[r*nr+i]
				}
			}
		}
	}
}
