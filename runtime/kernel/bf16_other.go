//go:build !amd64 || purego

package kernel

// bf16Kernel reports no bf16 microkernel: without assembly ModeBF16 computes exactly.
func bf16Kernel() (mr, nr int, kern microKernelBF16, ok bool) { return 0, 0, nil, false }

func roundBF16(dst []uint16, src []float32) { roundBF16Generic(dst[:len(src)], src) }
