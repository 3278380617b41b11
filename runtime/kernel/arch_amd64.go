//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

func hasAVX2() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}

func hasAVX512() bool {
	x := &cpu.X86
	return hasAVX2() && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512DQ
}

func init() {
	useAVX2 = hasAVX2()
	useAVX512 = hasAVX512()
}

func dot(a, b []float32) float32               { return dotGeneric(a, b) }
func axpy(y []float32, a float32, x []float32) { axpyGeneric(y, a, x) }
func sumSquares(x []float32) float32           { return sumSquaresGeneric(x) }
func scale(x []float32, a float32)             { scaleGeneric(x, a) }

func matVecRowsArch(y []float32, w *Matrix, x []float32, lo, hi int) bool { return false }
func dequantRowArch(dst []float32, w *Matrix, r int) bool                 { return false }
func matMulArch(y []float32, w *Matrix, x []float32, n int) bool          { return false }

func streamRead(p []byte) uint64 { return streamReadGeneric(p) }
