//go:build unix

package format

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// listDir returns the names in dir.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(sub, "in.gmt")
	if err := os.WriteFile(in, []byte("input"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.gmt")
	if err := os.WriteFile(other, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(in, filepath.Join(dir, "link.gmt")))
	must(os.Symlink(sub, filepath.Join(dir, "sublink")))
	must(os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(os.Link(in, filepath.Join(dir, "hard.gmt")))
	t.Chdir(sub)
	for _, tc := range []struct {
		name, out string
		want      string // "" = accepted, else a substring of the error
	}{
		{"new file", filepath.Join(dir, "new.gmt"), ""},
		{"over a regular file", other, ""},
		{"same path", in, "is also an input"},
		{"relative path", "in.gmt", "is the same file as the input"},
		{"dot-dot", "../sub/in.gmt", "is the same file as the input"},
		{"symlink to input", filepath.Join(dir, "link.gmt"), "is the same file as the input"},
		{"through a linked directory", filepath.Join(dir, "sublink", "in.gmt"), "is the same file as the input"},
		{"hard link", filepath.Join(dir, "hard.gmt"), "is the same file as the input"},
		{"directory", dir, "a directory; write to a new path or over a regular file"},
		{"trailing slash", filepath.Join(dir, "x") + "/", "names a directory"},
		{"missing directory", filepath.Join(dir, "missing", "x.gmt"), "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{"file as directory", filepath.Join(other, "x.gmt"), "is not a directory"},
		{"device", "/dev/null", "a character device"},
		{"fifo", filepath.Join(dir, "fifo"), "a named pipe"},
		{"dangling symlink", filepath.Join(dir, "dangling"), "a symbolic link to a missing file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckOutput(tc.out, in)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckOutput(%q) = %v, want nil", tc.out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrOutput) {
				t.Fatalf("CheckOutput(%q) = %v, want an ErrOutput containing %q", tc.out, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.out) {
				t.Fatalf("CheckOutput(%q) = %v: does not name the path as given", tc.out, err)
			}
		})
	}
}

func TestOutputModeAndCommit(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "x.bin")
	o, err := CreateOutput(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("destination exists before Commit")
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o640 {
		t.Errorf("new output mode %v with umask 027, want -rw-r-----", st.Mode())
	}
	// Replacing a file keeps its permissions.
	if err := os.Chmod(p, 0o604); err != nil {
		t.Fatal(err)
	}
	o, err = CreateOutput(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("def"))
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(p)
	b, _ := os.ReadFile(p)
	if st.Mode().Perm() != 0o604 || string(b) != "def" {
		t.Errorf("replaced output: mode %v content %q, want -rw----r-- \"def\"", st.Mode(), b)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q, want only x.bin", names)
	}
}

func TestOutputCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := CreateContext(ctx, filepath.Join(dir, "m.gmt"))
	if err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) != 1 || !strings.Contains(names[0], tempMarker) {
		t.Fatalf("while writing the directory holds %q, want one temporary file named with %q", names, tempMarker)
	}
	cancel()
	big := make([]byte, 4<<20)
	err = w.WriteTensor("t", F32, []int64{1 << 20}, 1, func(wr io.Writer) error { _, err := wr.Write(big); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteTensor after cancel = %v, want context.Canceled", err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("after cancel the directory holds %q, want nothing", names)
	}
}

func TestStaleOutputs(t *testing.T) {
	dir := t.TempDir()
	// A process id that runs no process: the largest one Linux allows, else a high one.
	dead := 4194304 - 1
	for processAlive(dead) {
		dead--
	}
	stale := fmt.Sprintf(".m.gmt%s%d-0000abcd", tempMarker, dead)
	mine := fmt.Sprintf(".n.gmt%s%d-0000abcd", tempMarker, os.Getpid())
	for _, n := range []string{stale, mine, ".other.tmp", "m.gmt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := StaleOutputs(dir)
	if len(got) != 1 || got[0] != filepath.Join(dir, stale) {
		t.Fatalf("StaleOutputs = %q, want [%s]", got, stale)
	}
}
