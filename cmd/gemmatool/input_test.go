package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// endless is an input that never ends (like /dev/zero or a pipe that stays open).
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadInput(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(small, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, tc := range []struct {
		name, path string
		stdin      io.Reader
		want       string // content, or a substring of the error
		tooLarge   bool
	}{
		{"regular", small, nil, "hello", false},
		{"stdin", "-", strings.NewReader("from stdin"), "from stdin", false},
		{"file above cap", big, nil, "100 B, above the 64 bytes cap for --x", true},
		{"endless stdin", "-", &endless{}, "standard input: more than the 64 bytes cap", true},
		{"fifo", fifo, nil, "a named pipe (FIFO), not a regular file", false},
		{"device", "/dev/zero", nil, "/dev/zero: a character device, not a regular file", false},
		{"directory", dir, nil, "a directory, not a regular file", false},
		{"missing", filepath.Join(dir, "nope"), nil, "no such file or directory", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := readInput(tc.path, tc.stdin, 64, "--x")
			if err == nil {
				if string(b) != tc.want {
					t.Fatalf("readInput(%s) = %q, want %q", tc.path, b, tc.want)
				}
				return
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("readInput(%s) error %q, want one line containing %q", tc.path, err, tc.want)
			}
			if errors.Is(err, errInputTooLarge) != tc.tooLarge {
				t.Fatalf("readInput(%s) error %q: errors.Is(errInputTooLarge) = %v, want %v", tc.path, err, !tc.tooLarge, tc.tooLarge)
			}
		})
	}
	// The cap holds while reading: an endless input is not read past it.
	e := &endless{}
	if _, err := readInput("-", e, 1<<20, "-"); err == nil || e.n > 2<<20 {
		t.Fatalf("endless input: err %v after %d bytes, want an error after at most 2 MiB", err, e.n)
	}
}
