//go:build unix

package convert_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
)

// copyGolden copies testdata/<name> into a fresh temporary directory.
func copyGolden(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := testutil.CopyDir(dir, filepath.Join("..", "testdata", name)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTruncatedWhileConverting truncates a mapped shard under an open checkpoint: reading
// it is an error wrapping format.ErrChanged, not a SIGBUS crash.
func TestTruncatedWhileConverting(t *testing.T) {
	dir := copyGolden(t, "a_text_1b_like")
	ck, err := convert.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if err := os.Truncate(filepath.Join(dir, "model.safetensors"), 0); err != nil {
		t.Fatal(err)
	}
	e, _ := ck.Plan.Entry("text.embed")
	err = ck.ReadRows(e, 0, 1, make([]float32, e.Cols()))
	if !errors.Is(err, format.ErrChanged) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("ReadRows of a truncated shard = %v, want format.ErrChanged naming the file", err)
	}
}

// TestSpecialFilesRefused puts a FIFO, a directory or a device in place of each input file
// of a checkpoint: convert refuses it up front (a FIFO used to block it forever).
func TestSpecialFilesRefused(t *testing.T) {
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "tokenizer_config.json"} {
		for _, kind := range []string{"fifo", "dir", "device"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				dir := copyGolden(t, "a_text_1b_like")
				p := filepath.Join(dir, name)
				os.Remove(p)
				switch kind {
				case "fifo":
					if err := syscall.Mkfifo(p, 0o600); err != nil {
						t.Skip("mkfifo:", err)
					}
				case "dir":
					os.Mkdir(p, 0o755)
				case "device":
					if err := os.Symlink("/dev/zero", p); err != nil {
						t.Skip(err)
					}
				}
				out := filepath.Join(t.TempDir(), "out.gmt")
				_, err := convert.Run(dir, out, convert.Options{}, nil)
				if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), name) {
					t.Fatalf("Run with a %s as %s = %v, want a not-a-regular-file error naming it", kind, name, err)
				}
				if _, serr := os.Stat(out); serr == nil {
					t.Error("output written")
				}
			})
		}
	}
}
