//go:build !purego

package kernel

// bf16Kernel returns the bf16 microkernel and its shape, ok false without AVX-512 BF16.
func bf16Kernel() (mr, nr int, kern microKernelBF16, ok bool) {
	if !featBF16.on() {
		return 0, 0, nil, false
	}
	return 12, 32, gemm12x32BF16AVX512, true
}
