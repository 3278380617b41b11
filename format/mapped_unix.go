//go:build unix

package format

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file read-only and shared, so its pages are the page cache's pages.
// A file of at least hugeSize bytes is mapped at a hugeSize-aligned address and advised for
// huge pages (hugePages): a page-cache folio of 2 MiB then maps with one page-table entry
// instead of 512, and pages read in through the mapping come in such folios (see
// populate_linux.go for what that saves).
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return nil, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, unix.EFBIG
	}
	if size >= hugeSize {
		if b, err := mapAligned(f, int(size)); err == nil {
			hugePages(b)
			return b, func() error { return unix.MunmapPtr(pointer(b), uintptr(len(b))) }, nil
		}
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	hugePages(b)
	return b, func() error { return unix.Munmap(b) }, nil
}

// hugeSize is the huge-page size (x86-64, arm64 with 4 KiB pages) the mapping is aligned to.
const hugeSize = 2 << 20

// mapAligned maps the file's size bytes at a hugeSize-aligned address: it reserves size +
// hugeSize bytes of address space, maps the file over the aligned part (MAP_FIXED) and
// returns the rest of the reservation.
func mapAligned(f *os.File, size int) ([]byte, error) {
	r, err := unix.MmapPtr(-1, 0, nil, uintptr(size+hugeSize), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, err
	}
	skip := int((hugeSize - uintptr(r)%hugeSize) % hugeSize)
	at := unsafe.Add(r, skip)
	if _, err := unix.MmapPtr(int(f.Fd()), 0, at, uintptr(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		unix.MunmapPtr(r, uintptr(size+hugeSize))
		return nil, err
	}
	// Return the reservation's pieces before and after the file mapping.
	if skip > 0 {
		unix.MunmapPtr(r, uintptr(skip))
	}
	unix.MunmapPtr(unsafe.Add(at, size), uintptr(hugeSize-skip)) // skip < hugeSize
	return unsafe.Slice((*byte)(at), size), nil
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
