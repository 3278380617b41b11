//go:build unix

package convert

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps a whole file read-only and shared: its pages are the page cache's, so a
// checkpoint is never copied into the heap.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if int64(int(size)) != size {
		return nil, unix.EFBIG
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
}

func unmapFile(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// release drops b's pages from this process's resident set (MADV_DONTNEED). For a shared
// read-only file mapping this only unmaps the pages: the page cache keeps them, and a later
// access faults them back in. Pages touched while converting count toward RSS until released.
func release(b []byte) {
	if len(b) > 0 {
		unix.Madvise(b, unix.MADV_DONTNEED)
	}
}
