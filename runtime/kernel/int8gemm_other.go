//go:build !amd64 || purego

package kernel

// gemmKernel is never called: no table entry has the prefill routines here.
func gemmKernel(y []float32, ldy, m, na int, scale float32, wq *int8, wd *float32, corr *int32, xp *byte, xd *float32, nb int) {
	panic("kernel: no int8 prefill kernel")
}
