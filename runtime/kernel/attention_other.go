//go:build !amd64 || purego

package kernel

// attnKernel returns the Go microkernel Attention runs on without assembly.
func attnKernel() (mr, nr int, kern microKernel) { return 4, 16, gemmTileFunc(4, 16) }

func rowMax(x []float32) float32 { return rowMaxGeneric(x) }

func expSumShift(x []float32, m float32) float64 { return expSumShiftGeneric(x, m) }

// wideKernel reports no float32 microkernel: MatMulWide is MatMul.
func wideKernel() (mr, nr int, kern microKernel, ok bool) { return 0, 0, nil, false }
