//go:build !purego

package kernel

// bf16StoreKernel returns the microkernel of bf16Kernel's shape that stores its tile in place
// and its narrow variant (the tile's first 16 columns), ok false without AVX-512 BF16.
func bf16StoreKernel() (store, narrow storeKernelBF16, ok bool) {
	if !featBF16.on() {
		return nil, nil, false
	}
	return gemm12x32BF16StoreAVX512, gemm12x16BF16StoreAVX512, true
}
