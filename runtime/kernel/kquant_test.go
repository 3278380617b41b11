package kernel

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// kMatrix builds a matrix of type t from the blocks llama.cpp wrote in testdata/quant/ggml
// (16 × 512) and returns it with llama.cpp's dequantized values.
func kMatrix(t *testing.T, typ format.DType, name string) (*Matrix, []float32) {
	t.Helper()
	dir := "../../testdata/quant/ggml"
	blocks, err := os.ReadFile(filepath.Join(dir, name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.ReadFile(filepath.Join(dir, name+".bin.f32"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(fb)/4)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(fb[4*i:]))
	}
	shape := []int64{16, 512}
	l, err := format.LayoutOf(typ, shape)
	if err != nil {
		t.Fatal(err)
	}
	n, _, _, _ := format.SuperBlock(typ)
	bsz := format.GGMLBlockSize(typ)
	payload := make([]byte, l.Size)
	nb := 512 / n
	for r := range 16 {
		for b := range nb {
			format.PutGGMLBlock(payload, l, r, b, blocks[(r*nb+b)*bsz:(r*nb+b+1)*bsz])
		}
	}
	w, err := NewMatrix(typ, shape, payload, 1)
	if err != nil {
		t.Fatal(err)
	}
	return w, want
}

// TestKQuantKernels checks the k-quant and IQ4_NL paths: DequantRow gives llama.cpp's
// dequantized values bit for bit; MatVec and MatMul on the exact path agree with a float64
// product of those values; in ModeInt8 they agree with a float64 evaluation of the documented
// formula (activation blocks of 32) and stay within its error bound of the exact product.
func TestKQuantKernels(t *testing.T) {
	for _, tc := range []struct {
		t    format.DType
		name string
	}{{format.Q2_K, "q2_K"}, {format.Q3_K, "q3_K"}, {format.Q4_K, "q4_K"}, {format.Q5_K, "q5_K"}, {format.Q6_K, "q6_K"}, {format.IQ4_NL, "iq4_nl"}} {
		t.Run(tc.name, func(t *testing.T) {
			w, want := kMatrix(t, tc.t, tc.name)
			rows, cols := 16, 512
			row := make([]float32, cols)
			for r := range rows {
				DequantRow(row, w, r)
				for c, v := range row {
					if math.Float32bits(v) != math.Float32bits(want[r*cols+c]) {
						t.Fatalf("row %d col %d: %v, llama.cpp %v", r, c, v, want[r*cols+c])
					}
				}
			}
			const n = 3
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)*0.37)) * float32(1+i%7)
			}
			x[100] = 40 // an outlier channel
			for _, mode := range []ActivationMode{ModeExact, ModeInt8} {
				e := Exec{Mode: mode, Threads: 2}
				y := make([]float32, n*rows)
				e.MatMul(y, w, x, n)
				y1 := make([]float32, rows)
				for i := range n {
					xi := x[i*cols : (i+1)*cols]
					e.MatVec(y1, w, xi)
					ref, bound := kInt8Ref(want, xi, rows, cols, mode)
					for r := range rows {
						var mag float64
						for c := range cols {
							mag += math.Abs(float64(want[r*cols+c]) * float64(xi[c]))
						}
						tol := 1e-5*mag + 1e-30
						for _, got := range []float32{y[i*rows+r], y1[r]} {
							if math.Abs(float64(got)-ref[r]) > tol {
								t.Fatalf("mode %d act %d row %d: %v, reference %v (tol %g)", mode, i, r, got, ref[r], tol)
							}
						}
						if mode == ModeInt8 {
							var exact float64
							for c := range cols {
								exact += float64(want[r*cols+c]) * float64(xi[c])
							}
							if math.Abs(ref[r]-exact) > bound[r]+tol {
								t.Fatalf("int8 row %d: %v vs exact %v beyond the bound %g", r, ref[r], exact, bound[r])
							}
						}
					}
				}
			}
		})
	}
}

// kInt8Ref evaluates a product in float64: exactly, or with the activations quantized per block
// of 32 as ModeInt8 does (q = round(x/d), d = max|x|/127); bound is Σ_b (d_b/2)·Σ_{j∈b}|w_j|.
func kInt8Ref(w, x []float32, rows, cols int, mode ActivationMode) (ref, bound []float64) {
	xq := make([]float64, cols)
	dh := make([]float64, cols)
	for b := 0; b < cols; b += 32 {
		var amax float32
		for _, v := range x[b : b+32] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		for j := b; j < b+32; j++ {
			if mode == ModeExact || d == 0 {
				xq[j] = float64(x[j])
				continue
			}
			q := math.RoundToEven(float64(float32(x[j] * (1 / d))))
			xq[j] = q * float64(d)
			dh[j] = float64(d) / 2
		}
	}
	ref, bound = make([]float64, rows), make([]float64, rows)
	for r := range rows {
		for c := range cols {
			ref[r] += float64(w[r*cols+c]) * xq[c]
			bound[r] += math.Abs(float64(w[r*cols+c])) * dh[c]
		}
	}
	return ref, bound
}
