package kernel

import "golang.org/x/sys/unix"

// adviseHuge asks for transparent huge pages on b (whole 2 MiB pages, not yet touched). The
// advice is only a hint: with huge pages disabled system-wide it has no effect, which is fine.
func adviseHuge(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	}
}
