package kernel

// parallelMinWork is the number of multiply-adds below which a product runs on the calling
// goroutine: waking a worker costs a few microseconds, about 20k multiply-adds.
const parallelMinWork = 1 << 15

// matVec is MatVec with e resolved (e.Threads ≥ 1).
func matVec(e Exec, y []float32, w *Matrix, x []float32) {
	if e.Mode == ModeInt8 && w.k.int8 != nil && matVecInt8(e, y, w, x) {
		return
	}
	rows, cols := len(y), len(x)
	perm := w.exact().perm
	xp := getXperm(x, perm)
	defer putXperm(xp)
	if rows*cols < parallelMinWork || e.Threads == 1 {
		w.exact().matVecRows(y, w, x, xp.permFor(perm), 0, rows)
		return
	}
	// Two chunks per thread (whole cache lines of y, at least 16 rows): long weight streams
	// prefetch best, and two let a thread that started late catch up.
	chunk := max(16, (rows/(2*e.Threads)+15)&^15)
	parallel(e.Threads, rows, chunk, args{y: y, w: w, x: x, xp: xp.permFor(perm)}, func(j *job, _, lo, hi int) {
		j.w.exact().matVecRows(j.y, j.w, j.x, j.xp, lo, hi)
	})
}

// matMul is MatMul with e resolved.
func matMul(e Exec, y []float32, w *Matrix, x []float32, n int) {
	if e.Mode == ModeInt8 && w.k.int8 != nil && matMulInt8(e, y, w, x, n) {
		return
	}
	if e.Mode == ModeBF16 && matMulBF16(e, y, w, x, n) {
		return
	}
	w.exact().matMul(e, y, w, x, n)
}

// matMulGeneric decodes each weight row once and takes its dot product with the n rows of x.
func matMulGeneric(e Exec, y []float32, w *Matrix, x []float32, n int) {
	rows := w.Rows()
	body := func(j *job, worker, lo, hi int) {
		rows, cols := j.w.Rows(), j.w.Cols()
		buf := workerScratch(worker, cols)
		for r := lo; r < hi; r++ {
			j.w.exact().dequantRow(buf, j.w, r)
			for i := range j.n {
				j.y[i*rows+r] = dot(buf, j.x[i*cols:(i+1)*cols])
			}
		}
	}
	chunk := max(1, rows/(8*e.Threads))
	if rows*w.Cols()*n < parallelMinWork {
		chunk = rows // one chunk: runs on the calling goroutine
	}
	parallel(e.Threads, rows, chunk, args{y: y, w: w, x: x, n: n}, body)
}
