package kernel

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/gemmatool/gemmatool/format"
)

// MatMulWide is [Exec.MatMul] for products with thousands of activation rows (the vision
// tower's patches), with the same contract and results within float32 rounding. The weights
// are decoded to float32 (ModeBF16: rounded to bf16, or read in place when stored BF16) once
// per call for all the activation rows, instead of once per weight-row group, and the
// activations are taken a chunk of panels at a time (about 1 MB: the chunk stays in its
// core's L2 while every weight group passes over it) rather than all panels per group, which
// streams them from memory once per group when they exceed the last-level cache. Without a
// microkernel (purego, no AVX2) and in ModeInt8 it is MatMul.
func (e Exec) MatMulWide(y []float32, w *Matrix, x []float32, n int) {
	rows, cols := w.Rows(), w.Cols()
	if n < 0 || len(y) < n*rows || len(x) < n*cols {
		panic(fmt.Sprintf("kernel: MatMulWide: n = %d, len(y) = %d, len(x) = %d, want ≥ %d, %d", n, len(y), len(x), n*rows, n*cols))
	}
	e = e.resolved()
	if e.Mode == ModeBF16 {
		if mr, nr, kern, ok := bf16Kernel(); ok && n > 1 && rows > 0 {
			matMulBF16With(e, y[:n*rows], w, x[:n*cols], n, mr, nr, kern)
			return
		}
		e.Mode = ModeExact
	}
	mr, nr, kern, ok := wideKernel()
	if e.Mode != ModeExact || !ok || n < 2*nr || rows == 0 {
		e.MatMul(y, w, x, n)
		return
	}
	pairs := cols // float32: one "pair" per column
	wf := wideF32.get(((rows + mr - 1) / mr) * mr * cols)
	defer wideF32.put()
	e.ParallelFor((rows+mr-1)/mr, func(lo, hi int) {
		for r := lo * mr; r < min(rows, hi*mr); r++ {
			w.exact().dequantRow(wf[r*cols:(r+1)*cols], w, r)
		}
		clear(wf[min(rows, hi*mr)*cols : hi*mr*cols])
	})
	panels := (n + nr - 1) / nr
	xp := wideF32X.get(panels * nr * cols)
	defer wideF32X.put()
	e.ParallelFor(panels, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			packRows(xp[p*nr*cols:(p+1)*nr*cols], x, n, cols, nr, p)
		}
	})
	wideProduct(e, y, rows, n, mr, nr, 4*pairs, func(g, p int, tile []float32) {
		kern(&wf[g*mr*cols], cols, &xp[p*nr*cols], cols, &tile[0])
	})
}

// packRows packs activation rows [nr·p, nr·p+nr) into dst: dst[c·nr+i] = x[(nr·p+i)·cols+c].
func packRows(dst, x []float32, n, cols, nr, p int) {
	for i := range nr {
		row := p*nr + i
		if row >= n {
			for c := range cols {
				dst[c*nr+i] = 0
			}
			continue
		}
		for c, v := range x[row*cols : (row+1)*cols] {
			dst[c*nr+i] = v
		}
	}
}

// wideChunkBytes is the activation bytes a chunk of panels holds: a quarter of Zen 4's 1 MB
// L2 per core, leaving room for the weight group streaming past.
const wideChunkBytes = 256 << 10

// wideProduct runs the tiles of a product of rows weight rows (groups of mr) by n activation
// rows (panels of nr, panelBytes bytes per activation row) a chunk of panels at a time: each
// task takes one chunk and passes every weight group over it. call computes the tile of
// group g and panel p; wideProduct stores it in y[i·rows+r].
func wideProduct(e Exec, y []float32, rows, n, mr, nr, rowBytes int, call func(g, p int, tile []float32)) {
	panels := (n + nr - 1) / nr
	per := max(1, wideChunkBytes/(nr*rowBytes))
	chunks := (panels + per - 1) / per
	groups := (rows + mr - 1) / mr
	e.ParallelFor(chunks, func(lo, hi int) {
		tile := make([]float32, mr*nr)
		for c := lo; c < hi; c++ {
			for g := range groups {
				r0 := g * mr
				m := min(mr, rows-r0)
				for p := c * per; p < min(panels, (c+1)*per); p++ {
					call(g, p, tile)
					for i := range min(nr, n-p*nr) {
						out := y[(p*nr+i)*rows+r0 : (p*nr+i)*rows+r0+m]
						for r := range out {
							out[r] = tile[r*nr+i]
						}
					}
				}
			}
		}
	})
}

// scratchBuf is a call-wide buffer reused across calls; a concurrent call allocates its own.
type scratchBuf[T float32 | uint16] struct {
	mu     sync.Mutex
	buf    []T
	locked bool
}

func (s *scratchBuf[T]) get(n int) []T {
	if !s.mu.TryLock() {
		return make([]T, n)
	}
	s.locked = true
	if cap(s.buf) < n {
		s.buf = make([]T, n)
	}
	return s.buf[:n]
}

// put releases the buffer if get took it (a fresh allocation needs nothing).
func (s *scratchBuf[T]) put() {
	if s.locked {
		s.locked = false
		s.mu.Unlock()
	}
}

var (
	wideF32, wideF32X    scratchBuf[float32]
	wideBF16W, wideBF16X scratchBuf[uint16]
)

// bf16Rows returns the bf16 rows of w for the bf16 product, padded to whole groups of mr
// rows and column pairs, and their stride in elements: in place from the payload when w is
// BF16 with an even column count and no tensor scale (plus a padded copy of a partial last
// group), otherwise decoded and rounded once into buf.
func bf16Rows(e Exec, w *Matrix, mr int, buf *scratchBuf[uint16]) (rowsAt func(g int) *uint16, ldw int, release func()) {
	rows, cols := w.Rows(), w.Cols()
	pairs := (cols + 1) / 2
	groups := (rows + mr - 1) / mr
	if w.DType == format.BF16 && w.Scale == 1 && cols%2 == 0 && w.Layout.RowStride%2 == 0 {
		ld := int(w.Layout.RowStride) / 2
		full := rows / mr
		last := make([]uint16, mr*ld+1)
		for r := full * mr; r < rows; r++ {
			codes := w.rowCodes(r)
			for c := range cols {
				last[(r-full*mr)*ld+c] = uint16(codes[2*c]) | uint16(codes[2*c+1])<<8
			}
		}
		base := unsafe.Pointer(&w.Data[w.Layout.CodesOff])
		return func(g int) *uint16 {
			if g < full {
				return (*uint16)(unsafe.Add(base, g*mr*int(w.Layout.RowStride)))
			}
			return &last[0]
		}, ld, func() {}
	}
	wb := buf.get(groups * mr * pairs * 2)
	e.ParallelFor(groups, func(lo, hi int) {
		f := make([]float32, cols)
		for g := lo; g < hi; g++ {
			dst := wb[g*mr*pairs*2 : (g+1)*mr*pairs*2]
			clear(dst)
			for r := range min(mr, rows-g*mr) {
				w.exact().dequantRow(f, w, g*mr+r)
				for c, v := range f {
					dst[r*pairs*2+c] = bf16Round(v)
				}
			}
		}
	})
	return func(g int) *uint16 { return &wb[g*mr*pairs*2] }, pairs * 2, buf.put
}
