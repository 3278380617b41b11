//go:build unix

package format

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file read-only and shared, so payload pages are the page cache's
// pages: opening is O(1) in the file size and several processes share one copy.
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
// piece of a mapping (they stay in the page cache). Used after streaming over a payload so
// the resident set does not grow with the file.
func releasePages(b []byte) {
	if len(b) > 0 {
		unix.Madvise(b, unix.MADV_DONTNEED)
	}
}
