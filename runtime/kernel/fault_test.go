//go:build unix

package kernel

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// TestParallelForFault: a memory fault in a chunk run by a helper goroutine (here, reading a
// mapping whose file was truncated) is re-raised on the calling goroutine, where a guard
// with debug.SetPanicOnFault recovers it, instead of killing the process on the helper.
func TestParallelForFault(t *testing.T) {
	e := Exec{Threads: 2}
	path := filepath.Join(t.TempDir(), "m")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m, err := unix.Mmap(int(fh.Fd()), 0, 1<<20, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	os.Truncate(path, 0)
	var faulted any
	func() {
		prev := debug.SetPanicOnFault(true)
		defer debug.SetPanicOnFault(prev)
		defer func() { faulted = recover() }()
		sums := make([]byte, 256)
		e.ParallelFor(256, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				for _, b := range m[i*4096 : (i+1)*4096] {
					sums[i] += b
				}
			}
		})
	}()
	if _, ok := faulted.(interface{ Addr() uintptr }); !ok {
		t.Fatalf("recovered %v, want a memory fault", faulted)
	}
	// The pool keeps working afterwards.
	n := 0
	e.ParallelFor(100, func(lo, hi int) {})
	e.ParallelFor(1, func(lo, hi int) { n = hi - lo })
	if n != 1 {
		t.Error("pool broken after a fault")
	}
}
