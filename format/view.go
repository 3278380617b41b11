package format

import (
	"fmt"
	"unsafe"
)

// This file holds the package's only unsafe reinterpretations of mapped bytes. Each checks
// alignment and length first. The file format is little-endian; like the rest of gemmatool,
// these views assume a little-endian host (amd64, arm64).

// Float32s views b as []float32 without copying. b must be 4-byte aligned and a multiple of
// 4 bytes long (payload offsets are 64-byte aligned, so every F32 tensor qualifies).
func Float32s(b []byte) ([]float32, error) {
	if len(b)%4 != 0 || (len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%4 != 0) {
		return nil, fmt.Errorf("format: %d bytes at %p cannot be viewed as float32s", len(b), unsafe.SliceData(b))
	}
	if len(b) == 0 {
		return nil, nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), nil
}

// Uint16s views b as []uint16 (BF16 and F16 elements) without copying, under the same rules
// as [Float32s] with 2-byte alignment.
func Uint16s(b []byte) ([]uint16, error) {
	if len(b)%2 != 0 || (len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%2 != 0) {
		return nil, fmt.Errorf("format: %d bytes at %p cannot be viewed as uint16s", len(b), unsafe.SliceData(b))
	}
	if len(b) == 0 {
		return nil, nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2), nil
}

// Float32Bytes views a []float32 as its bytes (for writing F32 payloads without a copy).
func Float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}
