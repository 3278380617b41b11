//go:build unix

package format

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
)

// TestTruncatedWhileMapped truncates a mapped file and checks that every reader of the
// mapping returns an error wrapping ErrChanged instead of dying of SIGBUS.
func TestTruncatedWhileMapped(t *testing.T) {
	for _, what := range []string{"VerifyChecksums", "VerifyTensor", "EmbeddedFile", "Guard", "ReadAt"} {
		t.Run(what, func(t *testing.T) {
			path := writeSample(t, t.TempDir())
			f, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			switch what {
			case "VerifyChecksums":
				err = f.VerifyChecksums(nil)
			case "VerifyTensor":
				err = f.VerifyTensor("c")
			case "EmbeddedFile":
				_, _, err = f.EmbeddedFile("tokenizer.json")
			case "ReadAt":
				a, _ := f.Tensor("a")
				err = f.ReadAt(make([]byte, a.Length), a.Offset)
			case "Guard":
				a, _ := f.Tensor("a")
				err = f.Guard(func() error {
					for _, b := range a.Data {
						sink += b
					}
					return nil
				})
			}
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "m.gmt") || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("%s after truncation = %v, want ErrChanged naming the file", what, err)
			}
		})
	}
}

var sink byte

func TestMapRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.gmt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, p := range []string{fifo, dir, "/dev/null"} {
		_, err := Open(p, nil)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Open(%s) = %v, want a not-a-regular-file error", p, err)
		}
		if err := RegularFile(p); err == nil {
			t.Errorf("RegularFile(%s) = nil", p)
		}
	}
}

func TestMappedSlice(t *testing.T) {
	path := writeSample(t, t.TempDir())
	m, err := Map(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if b, err := m.Slice(8, 4); err != nil || len(b) != 4 || cap(b) != 4 {
		t.Errorf("Slice(8, 4) = %d bytes (cap %d), %v", len(b), cap(b), err)
	}
	for _, r := range [][2]int64{{-1, 2}, {0, m.Len() + 1}, {m.Len(), 1}, {1 << 62, 1 << 62}, {4, -1}} {
		if _, err := m.Slice(r[0], r[1]); !errors.Is(err, ErrFormat) {
			t.Errorf("Slice(%d, %d) = %v, want ErrFormat", r[0], r[1], err)
		}
	}
	m.Release(0, m.Len()) // pages come back on the next read
	if b, _ := m.Slice(0, 8); string(b) != Magic {
		t.Errorf("after Release the magic reads %q", b)
	}
}

// TestReadAt: ReadAt gives the mapping's bytes and refuses ranges outside the file.
func TestReadAt(t *testing.T) {
	f, err := Open(writeSample(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tn := range f.Tensors() {
		got := make([]byte, tn.Length)
		if err := f.ReadAt(got, tn.Offset); err != nil || string(got) != string(tn.Data) {
			t.Errorf("ReadAt(tensor %s) = %v or different bytes", tn.Name, err)
		}
	}
	for _, off := range []int64{-1, f.Size() - 3, f.Size() + 1} {
		if err := f.ReadAt(make([]byte, 4), off); !errors.Is(err, ErrFormat) {
			t.Errorf("ReadAt(4 bytes at %d) of a %d-byte file = %v, want ErrFormat", off, f.Size(), err)
		}
	}
}

// TestHugeMapped checks that the huge-mapped byte count is known on Linux and never negative
// there, and -1 elsewhere.
func TestHugeMapped(t *testing.T) {
	n := HugeMapped()
	if goruntime.GOOS == "linux" && n < 0 {
		t.Fatalf("HugeMapped() = %d on Linux, want the FilePmdMapped bytes", n)
	}
	if goruntime.GOOS != "linux" && n != -1 {
		t.Fatalf("HugeMapped() = %d off Linux, want -1", n)
	}
}

// TestMapAligned checks that a file of at least hugeSize bytes is mapped at a hugeSize-aligned
// address with its bytes, that a read past its end through Slice is refused, and that Close
// unmaps it.
func TestMapAligned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.bin")
	want := make([]byte, hugeSize+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Map(path)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	if addr := uintptr(pointer(b)); addr%hugeSize != 0 {
		t.Errorf("mapped at %#x, not %d-aligned", addr, hugeSize)
	}
	if !bytes.Equal(b, want) {
		t.Fatal("mapped bytes differ from the file's")
	}
	if _, err := m.Slice(int64(len(want))-10, 11); err == nil {
		t.Error("Slice past the end succeeded")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
