package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
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
	forEachImpl(t, testKQuantKernels)
}

func testKQuantKernels(t *testing.T) {
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

// kF16Fields returns the offsets of the f16 fields (d, then dmin) in a block's scale bytes.
func kF16Fields(t format.DType) []int {
	switch t {
	case format.Q4_K, format.Q5_K:
		return []int{0, 2}
	case format.Q6_K:
		return []int{16}
	case format.Q2_K:
		return []int{16, 18}
	case format.Q3_K:
		return []int{12}
	}
	return []int{0} // IQ4_NL
}

// int8RefK is int8Ref for the k-quants and IQ4_NL: the documented ModeInt8 formula (kquant.go)
// in float64 from independently quantized activations, over the sub-block levels, scales and
// mins (whose decoding TestKQuantKernels checks against llama.cpp),
//
//	Σ_s float32(scale_s·d_b)·Σ_{j∈s} level_j·q_j − float32(min_s·d_b)·Σ_{j∈s} q_j,
//
// the float32 rounding bound of any summation order of its terms, and the bound on the
// difference to the exact product of the decoded weights (activation rounding, plus the
// rounding of the decoded weights themselves).
func int8RefK(w *Matrix, r int, x []float32) (val, tol, qerr float64) {
	q, d := testQuantize(x)
	dec := refDecode(w.DType, w.Layout, w.Data, r, 1)
	var abs float64
	kRowBlocks(w, r, 0, func(k *kBlock, c0 int) {
		for s := range k.n / k.sub {
			j0 := c0 + s*k.sub
			db := d[j0/32]
			sc, mn := float64(float32(k.scale[s]*db)), float64(float32(k.min[s]*db))
			var is, qs, ia, qa int64
			for j := j0; j < j0+k.sub; j++ {
				is += int64(k.level[j-c0]) * int64(q[j])
				qs += int64(q[j])
				ia += int64(math.Abs(float64(k.level[j-c0]) * float64(q[j])))
				qa += int64(math.Abs(float64(q[j])))
				e := float64(db) * (0.5 + 1.0/(1<<15))
				if db == 0 {
					e = math.Abs(float64(x[j]))
				}
				exact := math.Abs(float64(k.scale[s])*float64(k.level[j-c0])) + math.Abs(float64(k.min[s]))
				qerr += (math.Abs(float64(dec[j]))*e + 2*math.Ldexp(1, -23)*exact*math.Abs(float64(x[j]))) * math.Abs(float64(w.Scale))
			}
			val += sc*float64(is) - mn*float64(qs)
			abs += math.Abs(sc)*float64(ia) + math.Abs(mn)*float64(qa)
		}
	})
	post := float64(w.Scale)
	n := float64(len(x))/4 + 2*float64(len(d)) + 8
	return val * post, n * math.Ldexp(1, -23) * abs * math.Abs(post), qerr
}

// BenchmarkKQuant measures MatVec (one thread) on the 1B ffn_down shape for the k-quant types
// (all have assembly entries), both activation modes, under every implementation configuration
// (SetBytes = weight bytes: MB/s reads as weight bandwidth).
func BenchmarkKQuant(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 1152, 6912
	x := randVec(rng, cols)
	y := make([]float32, rows)
	for _, typ := range []format.DType{format.Q4_K, format.Q5_K, format.Q6_K, format.Q3_K, format.Q2_K, format.IQ4_NL} {
		w := randMatrix(b, rng, typ, rows, cols)
		for _, m := range []ActivationMode{ModeExact, ModeInt8} {
			b.Run(fmt.Sprintf("%v/%s", typ, modeName(m)), func(b *testing.B) {
				forEachImplB(b, func(b *testing.B) {
					e := Exec{Mode: m, Threads: 1}
					b.SetBytes(w.WeightBytes())
					for b.Loop() {
						e.MatVec(y, w, x)
					}
				})
			})
		}
	}
}
