package runtime

import (
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/internal/testutil"
)

// readSafetensors returns the tensors of a safetensors file as float32, by name, with their
// shapes.
func readSafetensors(tb testing.TB, path string) (map[string][]float32, map[string][]int64) {
	tb.Helper()
	vals, shapes := map[string][]float32{}, map[string][]int64{}
	for name, t := range testutil.ReadSafetensors(tb, path) {
		vals[name], shapes[name] = t.Data, t.Shape
	}
	return vals, shapes
}

// writeTestModel converts the HF checkpoint directory src to a gemmatool file in dir.
func writeTestModel(tb testing.TB, src, dir string) string {
	tb.Helper()
	out := filepath.Join(dir, "model.gmt")
	if _, err := convert.Run(src, out, convert.Options{}, nil); err != nil {
		tb.Fatalf("convert %s: %v", src, err)
	}
	return out
}
