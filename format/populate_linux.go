package format

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// populatePages maps the pages of b, a piece of a file mapping, in one call
// (MADV_POPULATE_READ, Linux 5.14+): for pages in the page cache this takes a fraction of the
// time that faulting them in one by one does. Best effort: an older kernel refuses it and the
// pages fault in as they are read.
//
// On a guest of a shadow-paging hypervisor the first read of each page mapped 4 KiB at a time
// still costs a trip to the hypervisor after populating, far more than one of a 2 MiB folio
// mapped with one entry (figures in README "Speed"). hugePages makes the pages read in through
// the mapping come in 2 MiB folios; pages already cached in small folios (written, or read by
// 4 KiB faults) stay so.
func populatePages(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_POPULATE_READ)
	}
}

// hugePages advises the mapping b for huge pages (MADV_HUGEPAGE): page-cache folios of 2 MiB
// are mapped with one page-table entry (the mapping is 2 MiB-aligned, mapped_unix.go), and a
// page read in through the mapping is read in such a folio (2 MiB of readahead) where the file
// system supports large folios. Best effort: a kernel without transparent huge pages refuses it.
func hugePages(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	}
}

// hugeMapped returns FilePmdMapped of /proc/self/smaps_rollup in bytes: the file pages this
// process maps with 2 MiB entries; -1 if it cannot be read.
func hugeMapped() int64 {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("FilePmdMapped:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}
