//go:build !purego

package kernel

// q4Multi binds the multi-row Q4_0 VNNI kernel (mvQ4VNNI2x4: two weight rows by multiActs
// activation rows, each weight step unpacked once for all of them): rows [lo, hi) of
// activation rows [i, i+multiActs), y holding row i's products at y[i·Rows:]. An odd last
// row goes to rows, the row kernel of one activation row.
func q4Multi(rows func(y []float32, w *Matrix, qa *qact, i, lo, hi int), o *int8Ops) func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
	return func(y []float32, w *Matrix, qa *qact, i, lo, hi int) {
		n := w.Rows()
		if len(y) < (i+multiActs)*n || qa.groups <= i/multiActs || i%multiActs != 0 {
			panic("kernel: q4Multi: y or the packed activations too short")
		}
		pairs := (hi - lo) / 2
		if pairs > 0 {
			steps := qa.colsA / 128
			codes, scales, nb := blockOperands(w, lo)
			xp := qa.xm[i/multiActs*steps*multiStep:]
			mvQ4VNNI2x4(&y[i*n+lo], 4*n, &codes[0], int(w.Layout.RowStride), &scales[0], nb, &xp[0], pairs, steps)
		}
		for a := range multiActs {
			ya := y[(i+a)*n : (i+a+1)*n]
			finishInt8(ya, w, qa, o, i+a, lo, lo+2*pairs)
			if lo+2*pairs < hi {
				rows(ya, w, qa, i+a, hi-1, hi)
			}
		}
	}
}
