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

// TestQ4_0WeightedMatchesLlamaCpp: with importance weights, q4BlockGGML's blocks equal
// llama.cpp's quantize_q4_0 with quant_weights (Encode then keeps them only where its own search
// gives no smaller weighted error, see TestQ4_0WeightedNeverWorse); without, Encode's blocks
// equal its reference blocks.
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
			if tc.imp != nil {
				r, c := b/(ggmlCols/32), b%(ggmlCols/32)*32
				h, err := q4BlockGGML(got[2:], x[r*ggmlCols+c:], tc.imp[c:], rowSigma2(x[r*ggmlCols:(r+1)*ggmlCols]))
				if err != nil {
					t.Fatal(err)
				}
				binary.LittleEndian.PutUint16(got, h)
			}
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

// TestKQuantsMatchLlamaCpp: without importance weights, every k-quant and IQ4_NL block equals
// the block llama.cpp's reference quantizer wrote for the same values, and our decoder gives
// llama.cpp's dequantized values bit for bit.
func TestKQuantsMatchLlamaCpp(t *testing.T) {
	x := readF32(t, "input.f32")
	shape := []int64{ggmlRows, ggmlCols}
	for _, tc := range []struct {
		t    format.DType
		file string
	}{{format.Q2_K, "q2_K"}, {format.Q3_K, "q3_K"}, {format.Q4_K, "q4_K"}, {format.Q5_K, "q5_K"}, {format.Q6_K, "q6_K"}, {format.IQ4_NL, "iq4_nl"}} {
		t.Run(tc.file, func(t *testing.T) {
			want := readGGML(t, tc.file+".bin")
			payload, _, err := Encode(tc.t, shape, x, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			l, _ := format.LayoutOf(tc.t, shape)
			n, _, _, _ := format.SuperBlock(tc.t)
			bsz := format.GGMLBlockSize(tc.t)
			nb := ggmlCols / n
			got := make([]byte, bsz)
			bad := 0
			for r := range ggmlRows {
				for b := range nb {
					format.GGMLBlock(got, l, payload, r, b)
					w := want[(r*nb+b)*bsz : (r*nb+b+1)*bsz]
					if !bytes.Equal(got, w) {
						if bad < 2 {
							t.Errorf("row %d block %d:\n got % x\nwant % x", r, b, got, w)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d blocks differ", bad, ggmlRows*nb)
			}
			// Decode llama.cpp's own blocks: the planar payload rebuilt from them decodes to
			// llama.cpp's dequantized values exactly.
			back := readF32(t, tc.file+".bin.f32")
			planar := make([]byte, l.Size)
			for r := range ggmlRows {
				for b := range nb {
					format.PutGGMLBlock(planar, l, r, b, want[(r*nb+b)*bsz:(r*nb+b+1)*bsz])
				}
			}
			if !bytes.Equal(planar, payload) {
				t.Fatal("scatter of llama.cpp's blocks differs from the encoded payload")
			}
			dec := make([]float32, ggmlCols)
			for r := range ggmlRows {
				format.DecodeRow(dec, tc.t, l, planar, r, 1)
				for c, v := range dec {
					if w := back[r*ggmlCols+c]; math.Float32bits(v) != math.Float32bits(w) {
						t.Fatalf("row %d col %d: decoded %v, llama.cpp %v", r, c, v, w)
					}
				}
			}
		})
	}
}

// TestKQuantsWeightedMatchLlamaCpp: every k-quant and IQ4_NL with importance weights equals
// llama.cpp's quantize_q2_K / q3_K / q4_K / q5_K / q6_K / iq4_nl with quant_weights, on the
// vectors of testdata/quant/ggml and on those of its weighted/ (16 × 1024, four kinds of
// importance: uniform, with zeros, ten decades, a few dominant channels; see gen.py there).
func TestKQuantsWeightedMatchLlamaCpp(t *testing.T) {
	for _, set := range []struct {
		dir        string
		rows, cols int
	}{{"", ggmlRows, ggmlCols}, {"weighted/", 16, 1024}} {
		x, imp := readF32(t, set.dir+"input.f32"), readF32(t, set.dir+"imatrix.f32")
		shape := []int64{int64(set.rows), int64(set.cols)}
		for _, tc := range []struct {
			t    format.DType
			file string
		}{{format.Q2_K, "q2_K"}, {format.Q3_K, "q3_K"}, {format.Q4_K, "q4_K"}, {format.Q5_K, "q5_K"}, {format.Q6_K, "q6_K"}, {format.IQ4_NL, "iq4_nl"}} {
			name := set.dir + tc.file + "-imatrix.bin"
			want := readGGML(t, name)
			payload, _, err := Encode(tc.t, shape, x, Options{Importance: imp, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			l, _ := format.LayoutOf(tc.t, shape)
			n, _, _, _ := format.SuperBlock(tc.t)
			bsz := format.GGMLBlockSize(tc.t)
			nb := set.cols / n
			got := make([]byte, bsz)
			bad := 0
			for r := range set.rows {
				for b := range nb {
					format.GGMLBlock(got, l, payload, r, b)
					if w := want[(r*nb+b)*bsz : (r*nb+b+1)*bsz]; !bytes.Equal(got, w) {
						if bad < 2 {
							t.Errorf("%s: row %d block %d:\n got % x\nwant % x", name, r, b, got, w)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s: %d of %d blocks differ", name, bad, set.rows*nb)
			}
		}
	}
}

// TestKQuantsWeightedLowerError: on the vectors of testdata/quant/ggml/weighted, each k-quant
// and IQ4_NL encoded with the importance weights has a smaller importance-weighted error
// Σ imp·(w − ŵ)² than encoded without them.
func TestKQuantsWeightedLowerError(t *testing.T) {
	const rows, cols = 16, 1024
	x, imp := readF32(t, "weighted/input.f32"), readF32(t, "weighted/imatrix.f32")
	shape := []int64{rows, cols}
	werr := func(dt format.DType, o Options) float64 {
		payload, _, err := Encode(dt, shape, x, o)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := format.LayoutOf(dt, shape)
		dec := make([]float32, cols)
		var e float64
		for r := range rows {
			format.DecodeRow(dec, dt, l, payload, r, 1)
			for c, v := range dec {
				d := float64(v) - float64(x[r*cols+c])
				e += float64(imp[c]) * d * d
			}
		}
		return e
	}
	for _, dt := range []format.DType{format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_NL} {
		plain, weighted := werr(dt, Options{Workers: 2}), werr(dt, Options{Importance: imp, Workers: 2})
		t.Logf("%v: weighted error %.4g with the importance, %.4g without (%.3f×)", dt, weighted, plain, weighted/plain)
		if !(weighted < plain) {
			t.Errorf("%v: weighted error %.4g with the importance, not below %.4g without", dt, weighted, plain)
		}
	}
}
