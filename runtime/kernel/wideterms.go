package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/gemmatool/gemmatool/format"
)

// WideTerm is one weight of [Exec.MatMulWideTerms] with its output: Y holds n rows of
// W.Rows() values, Bias is nil or W.Rows() values added to every output row, and Acc adds the
// result to Y's values instead of overwriting them.
type WideTerm struct {
	W    *Matrix
	Y    []float32
	Bias []float32
	Acc  bool
}

// MatMulWideTerms computes, for every term and activation row i < n (x holds n rows of the
// terms' common column count),
//
//	v = (W·xᵢ)[r] + Bias[r];  Y[i·rows+r] = Y[i·rows+r] + v  (Acc)  or  v
//
// in float32 in this order: the results equal [Exec.MatMulWide] into a buffer, the bias added
// and the buffer added to Y. The terms share one pass over x: in ModeBF16 (where the CPU has
// AVX-512 BF16) x is rounded to bf16 once for all of them, the activation rows take the
// microkernel's broadcast side and the weights its packed side, so that each tile is stored
// with its bias (and added to Y) directly into Y's rows; the sums are the ones MatMulWide
// forms in ModeBF16. It panics if the terms' column counts differ or a slice is too short.
func (e Exec) MatMulWideTerms(x []float32, n int, terms ...WideTerm) {
	if len(terms) == 0 {
		return
	}
	cols := terms[0].W.Cols()
	if n < 0 || len(x) < n*cols {
		panic(fmt.Sprintf("kernel: MatMulWideTerms: n = %d, len(x) = %d, want ≥ %d", n, len(x), n*cols))
	}
	for i, t := range terms {
		if rows := t.W.Rows(); t.W.Cols() != cols || len(t.Y) < n*rows || (t.Bias != nil && len(t.Bias) != rows) {
			panic(fmt.Sprintf("kernel: MatMulWideTerms: term %d: %d×%d weight, len(Y) = %d, len(Bias) = %d, want %d columns, len(Y) ≥ %d, len(Bias) = %d or 0",
				i, rows, t.W.Cols(), len(t.Y), len(t.Bias), cols, n*rows, rows))
		}
	}
	if n == 0 {
		return
	}
	e = e.resolved()
	if e.Mode == ModeBF16 {
		if mr, nr, kern, ok := bf16Kernel(); ok {
			store, _, _ := bf16StoreKernel()
			wideTermsBF16(e, x, n, terms, mr, nr, kern, store)
			return
		}
		e.Mode = ModeExact
	}
	for _, t := range terms {
		rows := t.W.Rows()
		if !t.Acc {
			e.MatMulWide(t.Y, t.W, x, n)
			if t.Bias != nil {
				e.ParallelFor(n, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						add(t.Y[i*rows:(i+1)*rows], t.Bias)
					}
				})
			}
			continue
		}
		tmp := wideTermsTmp.get(n * rows)
		e.MatMulWide(tmp, t.W, x, n)
		e.ParallelFor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				y, v := t.Y[i*rows:(i+1)*rows], tmp[i*rows:(i+1)*rows]
				if t.Bias != nil {
					add(v, t.Bias)
				}
				add(y, v)
			}
		})
		wideTermsTmp.put()
	}
}

var (
	wideTermsTmp scratchBuf[float32]
	wideTermsX   scratchBuf[uint16]
	wideTermsW   scratchBuf[uint16]
)

// storeKernelBF16 is the microkernel that stores its mr×nr tile t in place (the shape of
// bf16Kernel's; its narrow variant stores the first nr/2 columns): y[r·ldy+i] = t[r·nr+i] +
// bias[i], added to y[r·ldy+i] when acc ≠ 0.
type storeKernelBF16 func(w *uint16, ldw int, xp *uint16, k int, y *float32, ldy int, bias *float32, acc int)

// negZero is −0, the bias of a term without one: v + (−0) = v for every float32 v, −0 included.
var negZero = float32(math.Copysign(0, -1))

// wideTermsBF16 is MatMulWideTerms in ModeBF16 with an mr×nr bf16 microkernel (and the
// storing variant of its shape, or nil: every tile then goes through storeTileBF16). The
// activations are rounded into groups of mr rows (the microkernel's w operand, zero rows past
// n), each weight into panels of nr rows (its xp operand: panel q holds
// bf16(W[nr·q+i][2c+h]) at [c][i][h]); a task takes a chunk of activation groups (about
// wideChunkBytes: they stay in L2) and passes every panel of every term over it.
func wideTermsBF16(e Exec, x []float32, n int, terms []WideTerm, mr, nr int, kern microKernelBF16, store storeKernelBF16) {
	cols := terms[0].W.Cols()
	pairs := (cols + 1) / 2
	ldx := 2 * pairs
	groups := (n + mr - 1) / mr
	xb := wideTermsX.get(groups * mr * ldx)
	defer wideTermsX.put()
	e.ParallelFor(groups, func(lo, hi int) {
		for r := lo * mr; r < hi*mr; r++ {
			dst := xb[r*ldx : (r+1)*ldx]
			if r >= n {
				clear(dst)
				continue
			}
			dst[ldx-1] = 0
			roundBF16(dst, x[r*cols:(r+1)*cols])
		}
	})
	// Panels of all terms, numbered consecutively: term t's panels start at first[t].
	first := make([]int, len(terms)+1)
	for t, term := range terms {
		first[t+1] = first[t] + (term.W.Rows()+nr-1)/nr
	}
	panelLen := nr * ldx
	wp := wideTermsW.get(first[len(terms)] * panelLen)
	defer wideTermsW.put()
	e.ParallelFor(first[len(terms)], func(lo, hi int) {
		var f []float32
		t := 0
		for p := lo; p < hi; p++ {
			for p >= first[t+1] {
				t++
			}
			f = packPanelBF16(wp[p*panelLen:(p+1)*panelLen], terms[t].W, p-first[t], nr, f)
		}
	})
	biases := make([][]float32, len(terms)) // the bias of each term padded to whole panels (−0 without one)
	for t, term := range terms {
		b := make([]float32, (first[t+1]-first[t])*nr)
		for j := range b {
			b[j] = negZero
		}
		copy(b, term.Bias)
		biases[t] = b
	}
	per := max(1, wideChunkBytes/(mr*ldx*2))
	chunks := (groups + per - 1) / per
	parallel(e.Threads, chunks, 1, args{fn: func(lo, hi int) {
		tile := make([]float32, mr*nr)
		for c := lo; c < hi; c++ {
			for t, term := range terms {
				rows := term.W.Rows()
				acc := 0
				if term.Acc {
					acc = 1
				}
				for q := range first[t+1] - first[t] {
					xp := &wp[(first[t]+q)*panelLen]
					b := biases[t][q*nr : (q+1)*nr]
					for g := c * per; g < min(groups, (c+1)*per); g++ {
						m, w := min(mr, n-g*mr), min(nr, rows-q*nr)
						y := term.Y[g*mr*rows+q*nr:]
						if store != nil && m == mr && w == nr {
							store(&xb[g*mr*ldx], ldx, xp, pairs, &y[0], rows, &b[0], acc)
							continue
						}
						kern(&xb[g*mr*ldx], ldx, xp, pairs, &tile[0])
						storeTileBF16(y, rows, tile, nr, m, w, b, term.Acc)
					}
				}
			}
		}
	}}, func(j *job, _, lo, hi int) { j.fn(lo, hi) })
}

// storeTileBF16 stores the first m rows and w columns of an mr×nr tile t into y (rows ldy
// apart): y[r·ldy+i] = t[r·nr+i] + b[i], added to y's value when acc (the reference of the
// storing microkernel's store).
func storeTileBF16(y []float32, ldy int, t []float32, nr, m, w int, b []float32, acc bool) {
	for r := range m {
		out, tr := y[r*ldy:r*ldy+w], t[r*nr:r*nr+w]
		for i := range out {
			v := tr[i] + b[i]
			if acc {
				v = out[i] + v
			}
			out[i] = v
		}
	}
}

// packPanelBF16 packs weight rows [nr·q, nr·q+nr) of w into dst (nr·ldx elements, ldx the
// even column count): dst[2nr·c+2i+h] = bf16(W[nr·q+i][2c+h]), zero past the rows and
// columns. BF16 codes without a tensor scale are copied; other types are decoded into f (grown
// as needed and returned) and rounded with bf16Round, as bf16Rows rounds them. The panel is
// written 16 pair columns at a time, from a cache line of each row's words.
func packPanelBF16(dst []uint16, w *Matrix, q, nr int, f []float32) []float32 {
	rows, cols := w.Rows(), w.Cols()
	pairs := (cols + 1) / 2
	d32 := unsafe.Slice((*uint32)(unsafe.Pointer(&dst[0])), nr*pairs)
	m := min(nr, rows-q*nr) // rows present
	src := make([][]uint32, m)
	if w.DType == format.BF16 && w.Scale == 1 && cols%2 == 0 {
		for i := range src {
			codes := w.rowCodes(q*nr + i)[:4*pairs]
			if uintptr(unsafe.Pointer(&codes[0]))%4 != 0 {
				src[i] = make([]uint32, pairs)
				for c := range pairs {
					src[i][c] = binary.LittleEndian.Uint32(codes[4*c:])
				}
				continue
			}
			src[i] = unsafe.Slice((*uint32)(unsafe.Pointer(&codes[0])), pairs)
		}
	} else {
		if cap(f) < cols {
			f = make([]float32, cols)
		}
		f = f[:cols]
		words := make([]uint32, m*pairs)
		for i := range src {
			w.exact().dequantRow(f, w, q*nr+i)
			src[i] = words[i*pairs : (i+1)*pairs]
			for c := range pairs {
				lo, hi := bf16Round(f[2*c]), uint16(0)
				if 2*c+1 < cols {
					hi = bf16Round(f[2*c+1])
				}
				src[i][c] = uint32(lo) | uint32(hi)<<16
			}
		}
	}
	// A cache line of each row at a time (16 words), into 16 pair columns of the panel.
	for c0 := 0; c0 < pairs; c0 += 16 {
		c1 := min(pairs, c0+16)
		for i, r := range src {
			for j, v := range r[c0:c1] {
				d32[nr*(c0+j)+i] = v
			}
		}
		if m < nr {
			for c := c0; c < c1; c++ {
				clear(d32[nr*c+m : nr*c+nr])
			}
		}
	}
	return f
}
