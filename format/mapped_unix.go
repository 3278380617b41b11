//go:build unix

package format

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file read-only and shared, so its pages are the page cache's pages.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return nil, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, unix.EFBIG
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// releasePages tells the kernel this process no longer needs the pages of b, a page-aligned
// piece of a mapping (MADV_DONTNEED: for a shared read-only file mapping this only unmaps
// them; the page cache keeps them).
func releasePages(b []byte) {
	if len(b) > 0 {
		unix.Madvise(b, unix.MADV_DONTNEED)
	}
}

func pointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
