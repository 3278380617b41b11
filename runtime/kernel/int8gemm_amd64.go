//go:build !purego

package kernel

// gemmKernel runs the prefill kernel for na activation rows (of the panel) and m weight rows,
// writing y[a·ldy+r]: a panel of at most 16 rows takes the half-width kernel.
func gemmKernel(y []float32, ldy, m, na int, scale float32, wq *int8, wd *float32, corr *int32, xp *byte, xd *float32, nb int) {
	mask0, mask1 := 1<<min(na, 16)-1, 1<<max(0, na-16)-1
	if na <= 16 {
		gemm6x16VNNI(&y[0], ldy, m, mask0, 0, scale, wq, 32*nb, wd, corr, xp, xd, nb)
		return
	}
	gemm6x32VNNI(&y[0], ldy, m, mask0, mask1, scale, wq, 32*nb, wd, corr, xp, xd, nb)
}

// expandAsm binds an AVX-512 expansion routine (Q4_0, Q8_0) as an expandFunc.
func expandAsm(kern func(dst *int8, corr *int32, cstride int, codes *byte, nb int)) expandFunc {
	return func(dst []int8, corr []int32, codes []byte, cols, nbP int) {
		kern(&dst[0], &corr[0], 4*gemmRows, &codes[0], nbP)
	}
}
