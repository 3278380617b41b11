//go:build !unix

package format

import (
	"io"
	"os"
	"unsafe"
)

// mapFile reads the file into memory on systems without mmap (memory then grows with the
// file).
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}

func releasePages([]byte) {}

func pointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
