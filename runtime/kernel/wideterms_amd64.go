//go:build !purego

package kernel

// bf16StoreKernel returns the microkernel of bf16Kernel's shape that stores its tile in place,
// ok false without AVX-512 BF16.
func bf16StoreKernel() (store storeKernelBF16, ok bool) {
	if !featBF16.on() {
		return nil, false
	}
	return gemm12x32BF16StoreAVX512, true
}
