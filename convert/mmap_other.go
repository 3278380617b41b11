//go:build !unix

package convert

import (
	"io"
	"os"
)

// mapFile reads the whole file on systems without mmap (a fallback: memory then grows with
// the checkpoint).
func mapFile(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(f, b)
	return b, err
}

func unmapFile([]byte) error { return nil }

func release([]byte) {}
