package kernel

import (
	"math"
	"unsafe"
)

// ModeBF16's products: activations and weights rounded to bfloat16, pairs of columns
// multiplied by VDPBF16PS (products exact in float32, two float32 additions per pair), tiles
// accumulated in float32. The Go reference microkernel (gemmBF16Generic) follows the same
// order; the products run only where the CPU has AVX-512 BF16 (elsewhere ModeBF16 is exact).

// microKernelBF16 is the bf16 microkernel of shape mr×nr over k column pairs:
//
//	tile[r·nr+i] = Σ_{c<k} (f32(w[r·ldw+2c+1])·f32(xp[2nr·c+2i+1]) + f32(w[r·ldw+2c])·f32(xp[2nr·c+2i]))
//
// summed from 0 in c order, the odd product added before the even one.
type microKernelBF16 func(w *uint16, ldw int, xp *uint16, k int, tile *float32)

// bf16Round rounds f to bfloat16, to nearest even; a NaN stays a (quiet) NaN.
func bf16Round(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func roundBF16Generic(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = bf16Round(v)
	}
}

func bf16f(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// gemmBF16Generic returns the Go reference microkernel of shape mr×nr.
func gemmBF16Generic(mr, nr int) microKernelBF16 {
	return func(w *uint16, ldw int, xp *uint16, k int, tile *float32) {
		ws := unsafe.Slice(w, (mr-1)*ldw+2*k)
		xs := unsafe.Slice(xp, 2*nr*k)
		ts := unsafe.Slice(tile, mr*nr)
		for r := range mr {
			for i := range nr {
				var acc float32
				for c := range k {
					acc += bf16f(ws[r*ldw+2*c+1]) * bf16f(xs[2*nr*c+2*i+1])
					acc += bf16f(ws[r*ldw+2*c]) * bf16f(xs[2*nr*c+2*i])
				}
				ts[r*nr+i] = acc
			}
		}
	}
}

// packBF16 packs rows [nr·p, nr·p+nr) of x (n rows of cols) into panel p of xb, rounded to
// bf16: xb[p][c][i][h] = bf16(x[(nr·p+i)·cols + 2c+h]), zero past n rows and cols columns;
// row is scratch of 2·pairs elements.
func packBF16(xb []uint16, x []float32, n, cols, nr, p int, row []uint16) {
	pairs := (cols + 1) / 2
	dst := unsafe.Slice((*uint32)(unsafe.Pointer(&xb[p*nr*pairs*2])), nr*pairs)
	src := unsafe.Slice((*uint32)(unsafe.Pointer(&row[0])), pairs)
	for i := range nr {
		if p*nr+i >= n {
			for c := range pairs {
				dst[nr*c+i] = 0
			}
			continue
		}
		row[2*pairs-1] = 0
		roundBF16(row, x[(p*nr+i)*cols:(p*nr+i+1)*cols])
		for c, v := range src {
			dst[nr*c+i] = v
		}
	}
}

// matMulBF16With is MatMul in ModeBF16 with an mr×nr bf16 microkernel, in the loop of
// MatMulWide: activations packed and weights rounded (or read in place) once per call.
func matMulBF16With(e Exec, y []float32, w *Matrix, x []float32, n, mr, nr int, kern microKernelBF16) {
	rows, cols := w.Rows(), w.Cols()
	pairs := (cols + 1) / 2
	panels := (n + nr - 1) / nr
	xb := wideBF16X.get(panels * nr * pairs * 2)
	defer wideBF16X.put()
	e.ParallelFor(panels, func(lo, hi int) {
		row := make([]uint16, 2*pairs)
		for p := lo; p < hi; p++ {
			packBF16(xb, x, n, cols, nr, p, row)
		}
	})
	at, ldw, release := bf16Rows(e, w, mr, &wideBF16W)
	defer release()
	wideProduct(e, y, rows, n, mr, nr, 4*pairs, func(g, p int, tile []float32) {
		kern(at(g), ldw, &xb[p*nr*pairs*2], pairs, &tile[0])
	})
}

// matMulBF16 runs MatMul in ModeBF16 and reports true, or false where the CPU has no bf16
// microkernel (the caller then computes exactly).
func matMulBF16(e Exec, y []float32, w *Matrix, x []float32, n int) bool {
	mr, nr, kern, ok := bf16Kernel()
	if !ok {
		return false
	}
	matMulBF16With(e, y, w, x, n, mr, nr, kern)
	return true
}

// HasBF16 reports whether ModeBF16 runs bf16 products on this CPU and build (otherwise it
// computes exactly).
func HasBF16() bool {
	_, _, _, ok := bf16Kernel()
	return ok
}
