package testutil

import (
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
)

// ConvertOpen converts the checkpoint directory src (a golden case, a bundled model) into a
// gemmatool file in a temporary directory and opens it; the file closes when the test ends.
func ConvertOpen(tb testing.TB, src string) *format.File {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), filepath.Base(src)+".gmt")
	if _, err := convert.Run(src, out, convert.Options{}, nil); err != nil {
		tb.Fatal(err)
	}
	f, err := format.Open(out, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}
