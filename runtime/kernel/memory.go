package kernel

import "unsafe"

// AvailableMemory returns an estimate of the memory the system can give a new allocation
// without swapping (Linux: MemAvailable of /proc/meminfo), or 0 when unknown.
func AvailableMemory() int64 { return availableMemory() }

// hugePage is the size of a transparent huge page on amd64 and arm64 Linux.
const hugePage = 2 << 20

// WeightMemory returns n bytes of zeroed memory for weights that the kernels stream on every
// token. The block starts on a 2 MiB boundary and, on Linux, is advised (MADV_HUGEPAGE) to be
// backed by transparent huge pages before it is touched: a decode step then walks a few
// hundred page-table entries instead of a few hundred thousand, which streams the weights
// markedly faster than 4 KiB pages of a file mapping (see [Resident]). The memory belongs to
// the Go heap and is freed with the last reference to it.
func WeightMemory(n int) []byte {
	if n <= 0 {
		return nil
	}
	b := make([]byte, n+hugePage)
	off := (hugePage - int(uintptr(unsafe.Pointer(&b[0]))&(hugePage-1))) & (hugePage - 1)
	b = b[off : off+n : off+n]
	adviseHuge(b[:n&^(hugePage-1)])
	return b
}

// Resident copies the payloads of ms into one block of [WeightMemory] and points every
// matrix at its copy. copied, when not nil, is called after each piece [lo, hi) of matrix i's
// payload has been copied (pieces of at most 8 MiB, possibly from several goroutines at once),
// so that the caller can drop the source pages as the copy goes and the resident set does not
// hold the model twice. Nil entries are skipped. The copy runs on the worker pool.
func Resident(ms []*Matrix, copied func(i, lo, hi int)) {
	const align = 64
	offs := make([]int, len(ms))
	total := 0
	for i, w := range ms {
		if w == nil {
			continue
		}
		offs[i] = total
		total += (len(w.Data) + align - 1) &^ (align - 1)
	}
	mem := WeightMemory(total)
	// Copy in pieces of at most 8 MiB so that both threads share the large embedding too.
	type piece struct{ i, lo, hi int }
	var pieces []piece
	for i, w := range ms {
		if w == nil {
			continue
		}
		for lo := 0; lo < len(w.Data); lo += 8 << 20 {
			pieces = append(pieces, piece{i, lo, min(len(w.Data), lo+8<<20)})
		}
	}
	Exec{}.ParallelFor(len(pieces), func(lo, hi int) {
		for _, p := range pieces[lo:hi] {
			copy(mem[offs[p.i]+p.lo:offs[p.i]+p.hi], ms[p.i].Data[p.lo:p.hi])
			if copied != nil {
				copied(p.i, p.lo, p.hi)
			}
		}
	})
	for i, w := range ms {
		if w != nil {
			w.Data = mem[offs[i] : offs[i]+len(w.Data) : offs[i]+len(w.Data)]
		}
	}
}
