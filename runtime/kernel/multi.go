package kernel

import (
	"fmt"

	"github.com/gemmatool/gemmatool/format"
)

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
}

// MatVecMulti computes ys[i][r] = Σ_c ws[i][r,c]·x[c] for every matrix i: products that share
// one input (the q/k/v projections, gate and up). The rows of all matrices are split across
// the worker pool as one range (one parallel loop instead of len(ws)), and in [ModeInt8] the
// activations are quantized once. Results equal those of len(ws) MatVec calls (int8 matrices
// of different activation layouts run one after the other). It panics if len(ys) != len(ws),
// len(ws) > MaxMulti, the matrices' column counts differ, len(x) is below them, or some
// len(ys[i]) < ws[i].Rows().
func MatVecMulti(ys [][]float32, ws []*Matrix, x []float32) {
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
	matVecMulti(&a, total)
}

func matVecMulti(a *args, total int) {
	m, x := &a.mv, a.x
	if GetActivationMode() == ModeInt8 {
		// One quantization serves all int8 matrices; matrices of other types run exactly, as
		// MatVec runs them. Int8 matrices of different activation layouts (rare) run one by one.
		var t format.DType
		have := false
		for i := range m.n {
			if u := m.w[i].DType; int8Type(u) {
				if have && layoutOf(u) != layoutOf(t) {
					for k := range m.n {
						matVec(m.y[k], m.w[k], x)
					}
					return
				}
				t, have = u, true
				m.int8[i] = true
			}
		}
		if have {
			qa := getQact()
			defer putQact(qa)
			if qa.quantize(t, x, 1, len(x), int8Asm()) {
				a.qa = qa
			} else {
				m.int8 = [MaxMulti]bool{}
			}
		}
	}
	// Exact rows of the permuted-activation types share permuted copies of x.
	var ts [MaxMulti]format.DType
	k := 0
	for i := range m.n {
		if !m.int8[i] {
			ts[k] = m.w[i].DType
			k++
		}
	}
	if k > 0 {
		xp := getXperm(x, ts[:k]...)
		defer putXperm(xp)
		for i := range m.n {
			if !m.int8[i] {
				m.xp[i] = xp.permFor(m.w[i].DType)
			}
		}
	}
	if total*len(x) < parallelMinWork || Threads() == 1 {
		multiRows(&job{args: *a}, 0, 0, total)
		return
	}
	chunk := max(16, (total/(2*Threads())+15)&^15)
	parallel(total, chunk, *a, multiRows)
}

// multiRows computes the rows [lo, hi) of the concatenated range of j.multi.
func multiRows(j *job, _, lo, hi int) {
	m := &j.mv
	start := 0
	for i := range m.n {
		end := m.end[i]
		if lo < end && hi > start {
			a, b := max(lo, start)-start, min(hi, end)-start
			if m.int8[i] {
				matVecRowsInt8(m.y[i], m.w[i], j.qa, 0, a, b)
			} else {
				matVecRows(m.y[i], m.w[i], j.x, m.xp[i], a, b)
			}
		}
		start = end
	}
}
