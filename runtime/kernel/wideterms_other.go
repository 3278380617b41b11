//go:build !amd64 || purego

package kernel

// bf16StoreKernel reports no storing bf16 microkernel (there is no bf16 microkernel at all).
func bf16StoreKernel() (store, narrow storeKernelBF16, ok bool) { return nil, nil, false }
