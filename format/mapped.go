package format

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
)

// ErrChanged means a mapped input file changed underneath the reader: reading its mapping
// faulted (SIGBUS), normally because another process truncated it while it was in use.
var ErrChanged = errors.New("format: mapped file changed while in use")

// Mapped is a whole input file mapped read-only: the one mapped-input layer of gemmatool,
// used by this package's reader and by convert for safetensors checkpoints. Its pages are
// the page cache's (opening costs nothing whatever the size, and several processes share one
// copy); [Mapped.Release] drops pages from the process's resident set after a streaming pass;
// [Mapped.Slice] is a bounds-checked accessor; [Mapped.Guard] turns a memory fault while
// reading the mapping (the file truncated underneath, which raises SIGBUS) into an error
// wrapping [ErrChanged] instead of a crash.
//
// On systems without mmap the file is read into memory instead.
type Mapped struct {
	path  string
	data  []byte
	unmap func() error
	fh    *os.File // kept open for ReadAt
}

// Map opens and maps path. Anything but a regular file (a directory, FIFO, device or
// socket) is refused before it is opened for reading, so that a FIFO cannot block the
// caller.
func Map(path string) (*Mapped, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a regular file (%s)", FileKind(st.Mode()))}
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err = fh.Stat(); err != nil {
		fh.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a regular file (%s)", FileKind(st.Mode()))}
	}
	data, unmap, err := mapFile(fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, &fs.PathError{Op: "mmap", Path: path, Err: err}
	}
	return &Mapped{path: path, data: data, unmap: unmap, fh: fh}, nil
}

// ReadAt reads bytes [off, off+len(p)) of the file into p with pread(2), not through the
// mapping: the page cache's bytes are copied into p without mapping them into the process,
// which for a large copy into fresh memory is several times faster than faulting the
// mapping in page by page. The range must lie inside the file as mapped; a file that has
// since become shorter gives an error wrapping [ErrChanged]. Safe for concurrent use.
func (m *Mapped) ReadAt(p []byte, off int64) error {
	if off < 0 || off > int64(len(m.data)) || int64(len(p)) > int64(len(m.data))-off {
		return &Error{Path: m.path, Offset: off, Msg: fmt.Sprintf("range [%#x, +%d) outside the file of %d bytes", off, len(p), len(m.data)), Err: ErrFormat}
	}
	if m.fh == nil {
		return &Error{Path: m.path, Offset: off, Msg: "read after close", Err: ErrChanged}
	}
	n, err := m.fh.ReadAt(p, off)
	if n < len(p) {
		return &Error{Path: m.path, Offset: off + int64(n), Msg: fmt.Sprintf("file ends before the mapped size %d (truncated while in use?): %v", len(m.data), err), Err: ErrChanged}
	}
	return nil
}

// RegularFile returns an error unless path names a regular file (after following links):
// readers of small inputs call it before opening, so that a FIFO or device in place of a
// file is refused instead of blocking or reading forever.
func RegularFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a regular file (%s)", FileKind(st.Mode()))}
	}
	return nil
}

// Path returns the mapped file's path.
func (m *Mapped) Path() string { return m.path }

// Len returns the file size at the time it was mapped.
func (m *Mapped) Len() int64 { return int64(len(m.data)) }

// Bytes returns the whole mapping. Reading it outside [Mapped.Guard] crashes the process if
// the file is truncated meanwhile.
func (m *Mapped) Bytes() []byte { return m.data }

// Slice returns bytes [off, off+n) of the mapping (capacity limited to them), or an error
// naming the range when it does not lie inside the file.
func (m *Mapped) Slice(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > int64(len(m.data)) || n > int64(len(m.data))-off {
		return nil, &Error{Path: m.path, Offset: off, Msg: fmt.Sprintf("range [%#x, +%d) outside the file of %d bytes", off, n, len(m.data)), Err: ErrFormat}
	}
	return m.data[off : off+n : off+n], nil
}

// Release drops the process's pages of bytes [off, off+n) of the mapping, widened to whole
// pages (the mapping starts on a page boundary); they stay in the page cache and a later
// read faults them in again. Used after a streaming pass so that the resident set does not
// grow with the file. Safe for concurrent use.
func (m *Mapped) Release(off, n int64) { releasePages(m.pages(off, n)) }

// Populate maps the pages of [off, off+n) into this process ahead of use (best effort: a no-op
// where the system cannot), which is many times cheaper than the page faults of a first read.
func (m *Mapped) Populate(off, n int64) { populatePages(m.pages(off, n)) }

// pages returns the mapping's bytes [off, off+n) widened to whole pages at the start and
// clipped to the mapping (empty if nothing is left).
func (m *Mapped) pages(off, n int64) []byte {
	lo := max(0, off) &^ int64(pageSize-1)
	hi := min(int64(len(m.data)), off+n)
	if lo >= hi {
		return nil
	}
	return m.data[lo:hi]
}

var pageSize = os.Getpagesize()

// HugeMapped returns the bytes of file pages the process maps with 2 MiB page-table entries
// (Linux: FilePmdMapped of /proc/self/smaps_rollup), or -1 where that is unknown. A mapped
// model whose page-cache pages are in 2 MiB folios maps that way; one in 4 KiB folios maps
// page by page, and its first pass over the weights costs more (populate_linux.go).
func HugeMapped() int64 { return hugeMapped() }

// Close unmaps the file. Slices of the mapping must not be used afterwards.
func (m *Mapped) Close() error {
	if m == nil || m.unmap == nil {
		return nil
	}
	u, fh := m.unmap, m.fh
	m.unmap, m.data, m.fh = nil, nil, nil
	err := u()
	if fh != nil {
		fh.Close()
	}
	return err
}

// Guard runs fn, which reads the mapping, on the calling goroutine and returns its error;
// a memory fault inside fn becomes an error wrapping [ErrChanged] naming the file and the
// offset. Faults on other goroutines are not caught: run the reads of a parallel loop under
// Guard in each goroutine.
func (m *Mapped) Guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			fa, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = m.faultError(fa.Addr())
		}
	}()
	return fn()
}

// faultError describes a fault at address addr.
func (m *Mapped) faultError(addr uintptr) error {
	e := &Error{Path: m.path, Offset: -1, Err: ErrChanged,
		Msg: "memory fault reading the mapped file (truncated or replaced while in use?)"}
	if len(m.data) > 0 {
		base := uintptr(pointer(m.data))
		if addr >= base && addr-base < uintptr(len(m.data)) {
			e.Offset = int64(addr - base)
		}
	}
	return e
}

// FaultError reports whether r, a value recovered from a panic, is a memory fault, and if
// so returns it as an error wrapping [ErrChanged]. Parallel loops that read a mapping use it
// to carry a worker's fault back to the caller.
func FaultError(r any) (error, bool) {
	fa, ok := r.(interface{ Addr() uintptr })
	if !ok {
		return nil, false
	}
	return fmt.Errorf("%w: memory fault at address %#x reading a mapped file (truncated or replaced while in use?)", ErrChanged, fa.Addr()), true
}
