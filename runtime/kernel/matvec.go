package kernel

// Feature flags: set once at start-up by impl_amd64.go from golang.org/x/sys/cpu (never in
// purego builds); tests flip them with forEachImpl to run every implementation.
var (
	useAVX2   bool // AVX2 + FMA + F16C
	useAVX512 bool // AVX-512 F/BW/VL/DQ (+ VNNI for ModeInt8)
)

// parallelMinWork is the number of multiply-adds below which a product runs on the calling
// goroutine: waking a worker costs a few microseconds, about 20k multiply-adds.
const parallelMinWork = 1 << 15

// matVec is MatVec with e resolved (e.Threads ≥ 1).
func matVec(e Exec, y []float32, w *Matrix, x []float32) {
	if e.Mode == ModeInt8 && int8Type(w.DType) && matVecInt8(e, y, w, x) {
		return
	}
	rows, cols := len(y), len(x)
	xp := getXperm(x, w.DType)
	defer putXperm(xp)
	if rows*cols < parallelMinWork || e.Threads == 1 {
		matVecRows(y, w, x, xp.permFor(w.DType), 0, rows)
		return
	}
	// Two chunks per thread (whole cache lines of y, at least 16 rows): long weight streams
	// prefetch best, and two let a thread that started late catch up.
	chunk := max(16, (rows/(2*e.Threads)+15)&^15)
	parallel(e.Threads, rows, chunk, args{y: y, w: w, x: x, xp: xp.permFor(w.DType)}, func(j *job, _, lo, hi int) {
		matVecRows(j.y, j.w, j.x, j.xp, lo, hi)
	})
}

// matVecRows computes y[r] for r in [lo, hi); xp is x permuted for the nibble kernels or nil.
func matVecRows(y []float32, w *Matrix, x, xp []float32, lo, hi int) {
	if matVecRowsArch(y, w, x, xp, lo, hi) {
		return
	}
	matVecRowsGeneric(y, w, x, lo, hi)
}

func matVecRowsGeneric(y []float32, w *Matrix, x []float32, lo, hi int) {
	for r := lo; r < hi; r++ {
		y[r] = dotRowGeneric(w, r, x)
	}
}

func dequantRow(dst []float32, w *Matrix, r int) {
	if dequantRowArch(dst, w, r) {
		return
	}
	dequantRowGeneric(dst, w, r)
}

// matMul is MatMul with e resolved.
func matMul(e Exec, y []float32, w *Matrix, x []float32, n int) {
	if e.Mode == ModeInt8 && int8Type(w.DType) && matMulInt8(e, y, w, x, n) {
		return
	}
	if matMulArch(e, y, w, x, n) {
		return
	}
	matMulGeneric(e, y, w, x, n)
}

// matMulGeneric decodes each weight row once and takes its dot product with the n rows of x.
func matMulGeneric(e Exec, y []float32, w *Matrix, x []float32, n int) {
	rows := w.Rows()
	body := func(j *job, worker, lo, hi int) {
		rows, cols := j.w.Rows(), j.w.Cols()
		buf := workerScratch(worker, cols)
		for r := lo; r < hi; r++ {
			dequantRow(buf, j.w, r)
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
