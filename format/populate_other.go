//go:build !linux

package format

// populatePages does nothing where the kernel has no MADV_POPULATE_READ.
func populatePages([]byte) {}

// hugePages does nothing where the kernel has no MADV_HUGEPAGE.
func hugePages([]byte) {}

// hugeMapped is unknown (-1) off Linux.
func hugeMapped() int64 { return -1 }
