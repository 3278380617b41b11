package kernel

import (
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"
)

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
	ResidentFrom(ms, func(i, lo int, dst []byte) error {
		copy(dst, ms[i].Data[lo:lo+len(dst)])
		if copied != nil {
			copied(i, lo, lo+len(dst))
		}
		return nil
	})
}

// residentPiece is the largest piece of a payload one read of [ResidentFrom] fills: small
// enough that both threads share the large embedding, large enough that a read costs one
// system call per 8 MiB.
const residentPiece = 8 << 20

// ResidentFrom is [Resident] with the bytes of each piece produced by read, which fills dst
// with bytes [lo, lo+len(dst)) of matrix i's payload: for example with pread(2) from the
// model file, which fills the huge pages straight from the page cache without faulting in
// the file mapping page by page. Pieces are read by one goroutine per thread (GOMAXPROCS), in
// order of position. On the first error the reads stop, the matrices are left untouched and
// the error is returned; a memory fault in read is raised again on the caller's goroutine.
func ResidentFrom(ms []*Matrix, read func(i, lo int, dst []byte) error) error {
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
	type piece struct{ i, lo, hi int }
	var pieces []piece
	for i, w := range ms {
		if w == nil {
			continue
		}
		for lo := 0; lo < len(w.Data); lo += residentPiece {
			pieces = append(pieces, piece{i, lo, min(len(w.Data), lo+residentPiece)})
		}
	}
	var next atomic.Int64
	var failed atomic.Bool
	var fault atomic.Pointer[faultValue]
	errs := make([]error, len(pieces))
	var wg sync.WaitGroup
	for range min(goruntime.GOMAXPROCS(0), len(pieces)) {
		wg.Go(func() {
			// A memory fault reading a mapping (the file truncated meanwhile) is carried to
			// the caller, as the worker pool does (see job.chunkBody).
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(interface{ Addr() uintptr }); !ok {
						panic(r)
					}
					fault.CompareAndSwap(nil, &faultValue{r})
					failed.Store(true)
				}
			}()
			for !failed.Load() {
				k := int(next.Add(1) - 1)
				if k >= len(pieces) {
					return
				}
				p := pieces[k]
				if errs[k] = read(p.i, p.lo, mem[offs[p.i]+p.lo:offs[p.i]+p.hi]); errs[k] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if f := fault.Load(); f != nil {
		panic(f.v)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for i, w := range ms {
		if w != nil {
			w.Data = mem[offs[i] : offs[i]+len(w.Data) : offs[i]+len(w.Data)]
		}
	}
	return nil
}
