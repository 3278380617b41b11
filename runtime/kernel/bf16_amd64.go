//go:build !purego

package kernel

// bf16Kernel returns the bf16 microkernel and its shape, ok false without AVX-512 BF16.
func bf16Kernel() (mr, nr int, kern microKernelBF16, ok bool) {
	if !featBF16.on() {
		return 0, 0, nil, false
	}
	return 12, 32, gemm12x32BF16AVX512, true
}

// roundBF16 is dst[i] = bf16Round(src[i]) (AVX-512 BF16: subnormals become zero, see
// roundBF16AVX512).
func roundBF16(dst []uint16, src []float32) {
	n := 0
	if featBF16.on() {
		if n = len(src) &^ 15; n > 0 {
			roundBF16AVX512(&dst[0], &src[0], n)
		}
	}
	roundBF16Generic(dst[n:len(src)], src[n:])
}
