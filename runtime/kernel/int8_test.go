package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

var int8Types = []format.DType{format.Q4_0, format.Q8_0, format.I4, format.Q4_K, format.Q5_K, format.Q6_K, format.Q3_K, format.Q2_K, format.IQ4_NL}

// withMode runs f with an [Exec] of activation mode m.
func withMode(m ActivationMode, f func(e Exec)) { f(Exec{Mode: m}) }

// testCodes returns row r's signed integer codes, its per-block scales (f16 block scale, or 1)
// and its row scale (I4, else 1), decoded from the payload definitions.
func testCodes(w *Matrix, r int) (codes []int32, bs []float32, rs float32) {
	cols := w.Cols()
	l := w.Layout
	raw := w.Data[int(l.CodesOff)+r*int(l.RowStride):]
	codes = make([]int32, cols)
	rs = 1
	switch w.DType {
	case format.Q8_0:
		for c := range cols {
			codes[c] = int32(int8(raw[c]))
		}
	case format.Q4_0:
		for c := range cols {
			q := raw[16*(c/32)+c%16]
			if c%32 >= 16 {
				q >>= 4
			}
			codes[c] = int32(q&15) - 8
		}
	case format.I4:
		for c := range cols {
			q := raw[c/2]
			if c%2 == 1 {
				q >>= 4
			}
			codes[c] = int32(q&15) - 8
		}
		rs = math.Float32frombits(binary.LittleEndian.Uint32(w.Data[int(l.ScalesOff)+4*r:]))
	}
	nb := (cols + 31) / 32
	bs = make([]float32, nb)
	for b := range bs {
		bs[b] = 1
		if w.DType != format.I4 {
			bs[b] = float32(refF16(binary.LittleEndian.Uint16(w.Data[int(l.ScalesOff)+2*(r*nb+b):])))
		}
	}
	return codes, bs, rs
}

// testQuantize is the activation quantization of ModeInt8 written from its definition.
func testQuantize(x []float32) (q []int32, d []float32) {
	q = make([]int32, len(x))
	for b := 0; b < len(x); b += 32 {
		xb := x[b:min(b+32, len(x))]
		var amax float64
		for _, v := range xb {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		db := float32(amax) / 127
		if amax < 0x1p-64 {
			db = 0 // tiny blocks are zero
		}
		d = append(d, db)
		if db == 0 {
			continue
		}
		id := 1 / db
		for j, v := range xb {
			q[b+j] = int32(math.Max(-127, math.Min(127, math.RoundToEven(float64(v*id)))))
		}
	}
	return q, d
}

// int8Ref returns the int8-mode value of row r against x in float64 from the quantized
// integers (Σ_b float32(dw·d_b)·Σ q·w, then row and tensor scales), the bound on the float32
// rounding of any summation order of lane partial sums, and the bound on the difference to
// the exact product: Σ_j |w_j|·d_b·(1/2 + 2⁻¹⁵) (quantization) with w_j the decoded weight.
func int8Ref(w *Matrix, r int, x []float32) (val, tol, qerr float64) {
	if kType(w.DType) {
		return int8RefK(w, r, x)
	}
	codes, bs, rs := testCodes(w, r)
	q, d := testQuantize(x)
	var abs float64
	for b := range d {
		s := float64(float32(bs[b] * d[b]))
		if w.DType == format.I4 {
			s = float64(d[b])
		}
		var is, ia int64
		for j := 32 * b; j < min(32*b+32, len(x)); j++ {
			is += int64(codes[j]) * int64(q[j])
			ia += int64(math.Abs(float64(codes[j]) * float64(q[j])))
			e := float64(d[b]) * (0.5 + 1.0/(1<<15))
			if d[b] == 0 {
				e = math.Abs(float64(x[j])) // tiny block quantized to zero
			}
			qerr += math.Abs(float64(codes[j])*float64(bs[b])*float64(rs)*float64(w.Scale)) * e
		}
		val += s * float64(is)
		abs += math.Abs(s) * float64(ia)
	}
	post := float64(rs) * float64(w.Scale)
	val *= post
	n := float64(len(x))/4 + float64(len(d)) + 4
	return val, n * math.Ldexp(1, -23) * abs * math.Abs(post), qerr
}

// TestInt8 checks ModeInt8 for every implementation against the int8 math computed in
// float64 from independently quantized activations (within the float32 rounding bound of the
// summation order), and against the exact float64 product within the quantization bound.
func TestInt8(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, typ := range int8Types {
			colsList := []int{32, 96, 128, 256, 288, 1152, 4096 + 160} // the last: long-row kernels
			if typ == format.I4 {
				colsList = append(colsList, 1, 31, 33, 130, 300)
			}
			switch {
			case colAlign(typ) == 256:
				colsList = []int{256, 1280}
			case kType(typ):
				colsList = []int{32, 96, 288, 1152}
			}
			for _, cols := range colsList {
				for _, n := range []int{1, 2, 5, 12, 37, 70} {
					rows := []int{1, 3, 17, 70}[rng.IntN(4)]
					w := randMatrix(t, rng, typ, rows, cols)
					x := randVec(rng, n*cols)
					if n == 2 {
						clear(x[:min(cols, 40)]) // an all-zero block
						for j := cols; j < min(2*cols, cols+64); j++ {
							x[j] *= 1e-25 // tiny blocks (quantized to zero), then small ones
							if j >= cols+32 {
								x[j] *= 1e15
							}
						}
					}
					y, check := guarded(n*rows, 1)
					withMode(ModeInt8, func(e Exec) { e.MatMul(y, w, x, n) })
					check(t)
					for i := range n {
						xi := x[i*cols : (i+1)*cols]
						for r := range rows {
							got := float64(y[i*rows+r])
							want, tol, qerr := int8Ref(w, r, xi)
							if math.Abs(got-want) > tol+1e-30 {
								t.Fatalf("int8 e.MatMul(%v %d×%d, n=%d)[%d,%d] = %v, int8 math gives %v ± %g", typ, rows, cols, n, i, r, got, want, tol)
							}
							exact, etol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), xi)
							if math.Abs(got-exact) > qerr+tol+etol {
								t.Fatalf("int8 e.MatMul(%v %d×%d, n=%d)[%d,%d] = %v, exact %v: error above the bound %g", typ, rows, cols, n, i, r, got, exact, qerr+tol+etol)
							}
						}
					}
				}
			}
		}
	})
}

// TestInt8Specials checks that non-finite activations fall back to the exact path and that a
// NaN block scale propagates.
func TestInt8Specials(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(23, 24))
		for _, typ := range int8Types {
			cols := 256
			w := randMatrix(t, rng, typ, 5, cols)
			for k, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
				x := randVec(rng, cols)
				x[7] = v
				y := make([]float32, 5)
				withMode(ModeInt8, func(e Exec) { e.MatVec(y, w, x) })
				for r := range 5 {
					want, tol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), x)
					if !checkClose(y[r], want, tol) {
						t.Fatalf("case %d %v: y[%d] = %v, want %v", k, typ, r, y[r], want)
					}
				}
			}
			pokeSpecialWeight(w, 1, 33)
			x := randVec(rng, cols)
			y := make([]float32, 5)
			withMode(ModeInt8, func(e Exec) { e.MatVec(y, w, x) })
			if !math.IsNaN(float64(y[1])) && !math.IsInf(float64(y[1]), 0) {
				t.Fatalf("%v: NaN/Inf weight scale gives %v, want NaN or ±Inf", typ, y[1])
			}
		}
	})
}

func TestInt8NoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	w := randMatrix(t, rng, format.Q8_0, 512, 1152)
	x := randVec(rng, 1152*4)
	y := make([]float32, 512*4)
	withMode(ModeInt8, func(e Exec) {
		e.MatVec(y, w, x[:1152])
		e.MatMul(y, w, x, 4)
		if a := testing.AllocsPerRun(10, func() { e.MatVec(y, w, x[:1152]) }); a != 0 {
			t.Errorf("int8 MatVec allocates %v times per call, want 0", a)
		}
		if a := testing.AllocsPerRun(10, func() { e.MatMul(y, w, x, 4) }); a != 0 {
			t.Errorf("int8 MatMul allocates %v times per call, want 0", a)
		}
	})
}

// BenchmarkMatVecInt8 compares the exact and int8 modes on the 1B decode shapes (SetBytes =
// weight bytes, so MB/s reads as weight bandwidth).
func BenchmarkMatVecInt8(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range benchShapes[:6] {
		for _, typ := range int8Types {
			if s.cols%colAlign(typ) != 0 {
				continue
			}
			w := randMatrix(b, rng, typ, s.rows, s.cols)
			x := randVec(rng, s.cols)
			y := make([]float32, s.rows)
			for _, m := range []ActivationMode{ModeExact, ModeInt8} {
				b.Run(fmt.Sprintf("%s/%v/%s", s.name, typ, modeName(m)), func(b *testing.B) {
					withMode(m, func(e Exec) {
						b.SetBytes(w.WeightBytes())
						b.ReportAllocs()
						for b.Loop() {
							e.MatVec(y, w, x)
						}
					})
				})
			}
		}
	}
}

func BenchmarkMatMulInt8(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 512
	for _, s := range []int{0, 3} {
		sh := benchShapes[s]
		x := randVec(rng, n*sh.cols)
		y := make([]float32, n*sh.rows)
		for _, typ := range int8Types {
			if sh.cols%colAlign(typ) != 0 {
				continue
			}
			w := randMatrix(b, rng, typ, sh.rows, sh.cols)
			for _, m := range []ActivationMode{ModeExact, ModeInt8} {
				b.Run(fmt.Sprintf("%s/%v/%s", sh.name, typ, modeName(m)), func(b *testing.B) {
					withMode(m, func(e Exec) {
						for b.Loop() {
							e.MatMul(y, w, x, n)
						}
					})
					b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

func modeName(m ActivationMode) string {
	if m == ModeInt8 {
		return "int8"
	}
	return "exact"
}

// TestQuantizeRow checks the activation quantization of every implementation bit for bit
// against the definition, including tiny, zero and rounding-tie blocks and non-finite input.
func TestQuantizeRow(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(27, 28))
		for _, n := range []int{1, 31, 32, 33, 64, 100, 1152} {
			x := randVec(rng, n)
			for j := range x {
				switch j % 97 {
				case 3:
					x[j] = 0
				case 5:
					x[j] *= 1e-21 // tiny (block may quantize to zero)
				}
			}
			if n >= 64 {
				clear(x[32:64])
				for j := range 32 {
					x[j] = float32(j-16) / 2 // ties after scaling by 127/8
				}
			}
			q := make([]int8, n)
			d := make([]float32, (n+31)/32)
			if !quantizeRow(q, d, x) {
				t.Fatalf("n=%d: quantizeRow = false for finite input", n)
			}
			wq, wd := testQuantize(x)
			for b := range d {
				if math.Float32bits(d[b]) != math.Float32bits(wd[b]) {
					t.Fatalf("n=%d: d[%d] = %v, want %v", n, b, d[b], wd[b])
				}
			}
			for j := range q {
				if int32(q[j]) != wq[j] {
					t.Fatalf("n=%d: q[%d] = %d, want %d (x = %v, d = %v)", n, j, q[j], wq[j], x[j], d[j/32])
				}
			}
			for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
				x[n-1] = v
				if quantizeRow(q, d, x) {
					t.Fatalf("n=%d: quantizeRow accepts %v", n, v)
				}
			}
		}
	})
}
