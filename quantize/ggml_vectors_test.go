package quantize

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// The vectors in testdata/quant/ggml were written by llama.cpp's own quantizer (see gen.py
// there): 16 rows × 512 columns of float32 input, an importance vector, and per type the GGML
// blocks without and with it.
const ggmlDir = "../testdata/quant/ggml"
const ggmlRows, ggmlCols = 16, 512

func readF32(tb testing.TB, name string) []float32 {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(ggmlDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func readGGML(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(ggmlDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestQ4_0WeightedMatchesLlamaCpp: with importance weights, Q4_0's blocks equal llama.cpp's
// quantize_q4_0 with quant_weights; without, its reference blocks.
func TestQ4_0WeightedMatchesLlamaCpp(t *testing.T) {
	x, imp := readF32(t, "input.f32"), readF32(t, "imatrix.f32")
	for _, tc := range []struct {
		file string
		imp  []float32
	}{{"q4_0.bin", nil}, {"q4_0-imatrix.bin", imp}} {
		want := readGGML(t, tc.file)
		shape := []int64{ggmlRows, ggmlCols}
		payload, _, err := Encode(format.Q4_0, shape, x, Options{Importance: tc.imp, Workers: 3})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := format.LayoutOf(format.Q4_0, shape)
		nb := ggmlRows * ggmlCols / 32
		bad := 0
		for b := range nb {
			got := append(append([]byte(nil), payload[l.ScalesOff+2*int64(b):l.ScalesOff+2*int64(b)+2]...), payload[16*b:16*b+16]...)
			if w := want[18*b : 18*b+18]; !bytes.Equal(got, w) {
				if bad < 3 {
					t.Errorf("%s: block %d (row %d): got % x, llama.cpp % x", tc.file, b, b/(ggmlCols/32), got, w)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d blocks differ", tc.file, bad, nb)
		}
	}
}
