//go:build !amd64 || purego

package kernel

func gemmKernel(y []float32, ldy, m, na int, scale float32, wq *int8, wd *float32, corr *int32, xp *byte, xd *float32, nb int) {
	panic("kernel: no int8 prefill kernel")
}

func quantizeRowsArch(q []int8, d []float32, x []float32) (blocks int, ok bool) { return 0, true }

func expandRowArch(dst []int8, corr []int32, w *Matrix, codes []byte, nb int) bool { return false }
