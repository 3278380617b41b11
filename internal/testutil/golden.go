package testutil

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// Tensor is a reference tensor widened to float32.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// ReadSafetensors returns every tensor of a safetensors file as float32 (F32, BF16 and F16
// are widened exactly).
func ReadSafetensors(tb testing.TB, path string) map[string]Tensor {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	out := map[string]Tensor{}
	for _, nt := range st.Tensors() {
		tv := nt.TensorView
		var t Tensor
		for _, d := range tv.Shape() {
			t.Shape = append(t.Shape, int64(d))
		}
		data := tv.Data()
		switch tv.DType() {
		case safetensors.F32:
			t.Data = make([]float32, len(data)/4)
			for i := range t.Data {
				t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
		case safetensors.BF16:
			t.Data = make([]float32, len(data)/2)
			for i := range t.Data {
				t.Data[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16)
			}
		default:
			tb.Fatalf("%s: tensor %s: dtype %v not handled", path, nt.Name, tv.DType())
		}
		out[nt.Name] = t
	}
	return out
}

// NormErr is the golden fixtures' criterion: max|got − want| / max|want|. It fails the test
// on a length mismatch.
func NormErr(tb testing.TB, name string, got, want []float32) float64 {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	var maxDiff, maxRef float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
		maxRef = max(maxRef, math.Abs(float64(want[i])))
	}
	if maxRef == 0 {
		return maxDiff
	}
	return maxDiff / maxRef
}

// Root returns the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Testdata joins elements onto the repository's testdata directory.
func Testdata(elem ...string) string {
	return filepath.Join(append([]string{Root(), "testdata"}, elem...)...)
}
