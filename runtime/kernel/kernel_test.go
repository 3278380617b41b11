package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

const guard = 7 // guard-band length around outputs

// guarded returns a slice of n elements inside a buffer whose guard bands hold a sentinel,
// and a function checking the bands.
func guarded(n, off int) ([]float32, func(tb testing.TB)) {
	buf := make([]float32, off+n+guard)
	sentinel := float32(12345.5)
	for i := range buf {
		buf[i] = sentinel
	}
	return buf[off : off+n], func(tb testing.TB) {
		tb.Helper()
		for i := 0; i < off; i++ {
			if buf[i] != sentinel {
				tb.Fatalf("guard band before output overwritten at %d", i-off)
			}
		}
		for i := off + n; i < len(buf); i++ {
			if buf[i] != sentinel {
				tb.Fatalf("guard band after output overwritten at +%d", i-off-n)
			}
		}
	}
}

func TestDequantRow(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, typ := range allTypes {
			for _, cols := range testCols(typ, testing.Short()) {
				rows := 3
				w := randMatrix(t, rng, typ, rows, cols)
				for r := range rows {
					want := refDecode(typ, w.Layout, w.Data, r, w.Scale)
					off := r & 3
					got, check := guarded(cols, off)
					DequantRow(got, w, r)
					check(t)
					for c := range cols {
						if !sameBits(got[c], want[c]) {
							t.Fatalf("DequantRow(%v %d×%d, row %d)[%d] = %v (%#x), want %v (%#x)",
								typ, rows, cols, r, c, got[c], math.Float32bits(got[c]), want[c], math.Float32bits(want[c]))
						}
					}
				}
			}
		}
	})
}

func TestMatVec(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, typ := range allTypes {
			for _, cols := range testCols(typ, testing.Short()) {
				for _, rows := range []int{1, 3, 17, 70} {
					if testing.Short() && rows == 70 && cols > 100 {
						continue
					}
					w := randMatrix(t, rng, typ, rows, cols)
					off := rng.IntN(4)
					xbuf := randVec(rng, cols+off)
					x := xbuf[off:]
					xcopy := append([]float32(nil), x...)
					y, check := guarded(rows, (off+1)&3)
					Exec{}.MatVec(y, w, x)
					check(t)
					for i := range x {
						if !sameBits(x[i], xcopy[i]) {
							t.Fatalf("MatVec modified x[%d]", i)
						}
					}
					for r := range rows {
						want, tol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), x)
						if !checkClose(y[r], want, tol) {
							t.Fatalf("e.MatVec(%v %d×%d)[%d] = %v, want %v ± %g", typ, rows, cols, r, y[r], want, tol)
						}
					}
				}
			}
		}
	})
}

func TestMatMul(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		type shape struct{ rows, cols, n int }
		shapes := []shape{{1, 64, 2}, {5, 96, 3}, {33, 128, 13}, {47, 64, 17}, {70, 160, 30}, {129, 544, 9}}
		for _, typ := range allTypes {
			for _, s := range shapes {
				cols := s.cols
				if !blockType(typ) {
					cols -= 3
				}
				cols = alignCols(typ, cols)
				w := randMatrix(t, rng, typ, s.rows, cols)
				x := randVec(rng, s.n*cols)
				y, check := guarded(s.n*s.rows, 1)
				Exec{}.MatMul(y, w, x, s.n)
				check(t)
				for r := range s.rows {
					wr := refDecode(typ, w.Layout, w.Data, r, w.Scale)
					for i := range s.n {
						want, tol := refDot(wr, x[i*cols:(i+1)*cols])
						if got := y[i*s.rows+r]; !checkClose(got, want, tol) {
							t.Fatalf("e.MatMul(%v %d×%d, n=%d)[i=%d, r=%d] = %v, want %v ± %g", typ, s.rows, cols, s.n, i, r, got, want, tol)
						}
					}
				}
			}
		}
	})
}

// TestSpecials checks NaN/±Inf propagation from activations and from weights, and extreme
// scales.
func TestSpecials(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, typ := range allTypes {
			cols := alignCols(typ, 288) // 2 steps of the nibble kernels + 1 block
			if !blockType(typ) {
				cols = 259
			}
			for k, poke := range []func(w *Matrix, x []float32){
				func(w *Matrix, x []float32) { x[5] = float32(math.Inf(1)) },
				func(w *Matrix, x []float32) { x[cols-1] = float32(math.NaN()) },
				func(w *Matrix, x []float32) { x[3] = float32(math.Inf(-1)); x[40] = float32(math.Inf(1)) },
				func(w *Matrix, x []float32) { pokeSpecialWeight(w, 1, 33) },
				func(w *Matrix, x []float32) { pokeExtremeScale(w, 2) },
			} {
				rows := 5
				w := randMatrix(t, rng, typ, rows, cols)
				x := randVec(rng, cols*3)
				poke(w, x[:cols])
				rechoose(t, w)
				y := make([]float32, rows*3)
				for _, n := range []int{1, 3} {
					if n == 1 {
						Exec{}.MatVec(y, w, x[:cols])
					} else {
						Exec{}.MatMul(y, w, x, n)
					}
					for i := range n {
						for r := range rows {
							want, tol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), x[i*cols:(i+1)*cols])
							if got := y[i*rows+r]; !checkClose(got, want, tol) {
								t.Fatalf("case %d: n=%d %v: y[%d, %d] = %v, want %v ± %g", k, n, typ, i, r, got, want, tol)
							}
						}
					}
				}
				for r := range rows {
					got := make([]float32, cols)
					DequantRow(got, w, r)
					want := refDecode(typ, w.Layout, w.Data, r, w.Scale)
					for c := range got {
						if !sameBits(got[c], want[c]) {
							t.Fatalf("case %d: DequantRow(%v, %d)[%d] = %v, want %v", k, typ, r, c, got[c], want[c])
						}
					}
				}
			}
		}
	})
}

// pokeSpecialWeight makes the weight at (row, col) NaN or infinite where the type can encode it.
func pokeSpecialWeight(w *Matrix, row, col int) {
	l := w.Layout
	codes := w.Data[int(l.RowStride)*row:]
	switch w.DType {
	case format.F32:
		binary.LittleEndian.PutUint32(codes[4*col:], math.Float32bits(float32(math.NaN())))
	case format.F16:
		binary.LittleEndian.PutUint16(codes[2*col:], 0x7c00) // +Inf
	case format.BF16:
		binary.LittleEndian.PutUint16(codes[2*col:], 0xff80) // −Inf
	case format.Q8_0, format.Q4_0:
		nb := int(l.Cols) / 32
		binary.LittleEndian.PutUint16(w.Data[int(l.ScalesOff)+2*(row*nb+col/32):], 0x7e00) // NaN scale
	default:
		if kType(w.DType) { // the block's d: NaN
			n, _, sb, _ := format.SuperBlock(w.DType)
			o := int(l.ScalesOff) + sb*(row*int(l.Cols)/n+col/n) + kF16Fields(w.DType)[0]
			binary.LittleEndian.PutUint16(w.Data[o:], 0x7e00)
		}
	case format.I4:
		binary.LittleEndian.PutUint32(w.Data[int(l.ScalesOff)+4*row:], math.Float32bits(float32(math.Inf(1))))
	case format.FP8:
		codes[col] = 0xff // NaN
	case format.SFP8:
		codes[col] = 0x80 // reserved code: NaN
	}
}

// pokeExtremeScale gives row the largest or smallest scales the type stores.
func pokeExtremeScale(w *Matrix, row int) {
	l := w.Layout
	switch w.DType {
	case format.Q8_0, format.Q4_0:
		nb := int(l.Cols) / 32
		for b := range nb {
			v := uint16(0x7bff) // 65504
			if b%2 == 1 {
				v = 0x0001 // smallest subnormal
			}
			binary.LittleEndian.PutUint16(w.Data[int(l.ScalesOff)+2*(row*nb+b):], v)
		}
	case format.I4, format.FP8:
		binary.LittleEndian.PutUint32(w.Data[int(l.ScalesOff)+4*row:], math.Float32bits(1e-40))
	case format.SFP8:
		w.Scale = 1e30
	default:
		if kType(w.DType) { // d (and dmin) of the row's blocks: largest, then smallest subnormal
			n, _, sb, _ := format.SuperBlock(w.DType)
			nb := int(l.Cols) / n
			for b := range nb {
				v := uint16(0x7bff)
				if b%2 == 1 {
					v = 0x0001
				}
				for _, f := range kF16Fields(w.DType) {
					binary.LittleEndian.PutUint16(w.Data[int(l.ScalesOff)+sb*(row*nb+b)+f:], v)
				}
			}
		}
	}
}

func TestPrivateDecodeMatchesFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, typ := range allTypes {
		if kType(typ) {
			continue // their independent reference is llama.cpp's output (TestKQuantKernels)
		}
		w := randMatrix(t, rng, typ, 3, 96)
		pokeSpecialWeight(w, 1, 33)
		for r := range 3 {
			got := privateDecode(typ, w.Layout, w.Data, r, w.Scale)
			want := refDecode(typ, w.Layout, w.Data, r, w.Scale)
			for c := range got {
				if !sameBits(got[c], want[c]) {
					t.Fatalf("privateDecode(%v, %d)[%d] = %v, format.DecodeRow = %v", typ, r, c, got[c], want[c])
				}
			}
		}
	}
}

func TestVectorHelpers(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for n := 0; n <= 200; n++ {
			if testing.Short() && n > 70 && n%13 != 0 {
				continue
			}
			off := n & 3
			a := randVec(rng, n+off)[off:]
			b := randVec(rng, n)
			want, tol := refDot(a, b)
			if got := Dot(a, b); !checkClose(got, want, tol) {
				t.Fatalf("Dot(n=%d) = %v, want %v ± %g", n, got, want, tol)
			}
			want, tol = refDot(a, a)
			if got := SumSquares(a); !checkClose(got, want, tol) {
				t.Fatalf("SumSquares(n=%d) = %v, want %v ± %g", n, got, want, tol)
			}
			y, check := guarded(n, off)
			copy(y, b)
			Axpy(y, 0.75, a)
			check(t)
			for i := range y {
				if w := b[i] + 0.75*a[i]; math.Abs(float64(y[i]-w)) > 1e-6*math.Abs(float64(w))+1e-7 {
					t.Fatalf("Axpy(n=%d)[%d] = %v, want %v", n, i, y[i], w)
				}
			}
			copy(y, b)
			Scale(y, -1.5)
			check(t)
			for i := range y {
				if y[i] != b[i]*-1.5 {
					t.Fatalf("Scale(n=%d)[%d] = %v, want %v", n, i, y[i], b[i]*-1.5)
				}
			}
		}
		nan := float32(math.NaN())
		if got := Dot([]float32{1, nan, 2}, []float32{1, 1, 1}); !math.IsNaN(float64(got)) {
			t.Errorf("Dot with NaN = %v, want NaN", got)
		}
		if got := SumSquares([]float32{1, float32(math.Inf(-1))}); !math.IsInf(float64(got), 1) {
			t.Errorf("SumSquares with -Inf = %v, want +Inf", got)
		}
	})
}

func TestParallelFor(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 5} {
		e := Exec{Threads: threads}
		if e.NumThreads() != threads {
			t.Fatalf("NumThreads() = %d, want %d", e.NumThreads(), threads)
		}
		for _, n := range []int{0, 1, 2, 7, 100, 1001} {
			hits := make([]atomic.Int32, n)
			e.ParallelFor(n, func(lo, hi int) {
				if lo >= hi {
					t.Errorf("empty range [%d, %d)", lo, hi)
				}
				for i := lo; i < hi; i++ {
					hits[i].Add(1)
				}
				// A nested call runs serially instead of deadlocking.
				e.ParallelFor(2, func(lo, hi int) {})
			})
			for i := range hits {
				if hits[i].Load() != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", threads, n, i, hits[i].Load())
				}
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	w := randMatrix(t, rng, format.Q4_0, 512, 1152)
	x := randVec(rng, 1152*4)
	y := make([]float32, 512*4)
	Exec{}.MatVec(y, w, x) // warm up the pool
	Exec{}.MatMul(y, w, x, 4)
	if a := testing.AllocsPerRun(10, func() { Exec{}.MatVec(y, w, x[:1152]) }); a != 0 {
		t.Errorf("MatVec allocates %v times per call, want 0", a)
	}
	if a := testing.AllocsPerRun(10, func() { Exec{}.MatMul(y, w, x, 4) }); a != 0 {
		t.Errorf("MatMul allocates %v times per call, want 0", a)
	}
}

func TestNewMatrixErrors(t *testing.T) {
	tests := []struct {
		name  string
		t     format.DType
		shape []int64
		n     int
	}{
		{"short payload", format.Q4_0, []int64{4, 64}, 10},
		{"cols not a block multiple", format.Q8_0, []int64{4, 33}, 1000},
		{"unknown type", format.DType(99), []int64{4, 4}, 1000},
		{"rank 1 packed", format.I4, []int64{4}, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewMatrix(tt.t, tt.shape, make([]byte, tt.n), 1); err == nil {
				t.Errorf("NewMatrix(%v, %v, %d bytes) = nil error, want an error", tt.t, tt.shape, tt.n)
			}
		})
	}
}

// FuzzMatVec gives random shapes and bytes (NaN and reserved codes included) to every
// implementation and compares with the float64 reference over the decoded weights.
func FuzzMatVec(f *testing.F) {
	f.Add(uint8(4), uint8(3), uint8(2), uint8(1), []byte{1, 2, 3, 0x7f, 0xff, 0x80})
	f.Add(uint8(3), uint8(9), uint8(1), uint8(3), []byte{0x7c, 0x00, 0x7e, 0x00})
	f.Fuzz(func(t *testing.T, ti, rows8, cols8, n8 uint8, seed []byte) {
		typ := allTypes[int(ti)%len(allTypes)]
		rows, cols, n := int(rows8%40)+1, int(cols8%200)+1, int(n8%5)+1
		if blockType(typ) {
			cols = (cols%7 + 1) * 32
			if colAlign(typ) == 256 {
				cols = (cols/32%3 + 1) * 256
			}
		}
		l, err := format.LayoutOf(typ, []int64{int64(rows), int64(cols)})
		if err != nil {
			t.Skip()
		}
		data := make([]byte, l.Size)
		for i := range data {
			if len(seed) > 0 {
				data[i] = seed[i%len(seed)] ^ byte(i*131>>3)
			}
		}
		// Keep magnitudes from overflowing float32 in finite arithmetic: clear the top
		// exponent bits of plain floats and scales.
		scale := float32(0.75)
		w, err := NewMatrix(typ, []int64{int64(rows), int64(cols)}, data, scale)
		if err != nil {
			t.Fatal(err)
		}
		tameScales(w)
		track(w)
		rng := rand.New(rand.NewPCG(uint64(len(seed)), 1))
		x := randVec(rng, n*cols)
		forEachImpl(t, func(t *testing.T) {
			y := make([]float32, n*rows)
			Exec{}.MatMul(y, w, x, n)
			for r := range rows {
				wr := refDecode(typ, w.Layout, w.Data, r, w.Scale)
				got := make([]float32, cols)
				DequantRow(got, w, r)
				for c := range got {
					if !sameBits(got[c], wr[c]) {
						t.Fatalf("DequantRow(%v, %d)[%d] = %v, want %v", typ, r, c, got[c], wr[c])
					}
				}
				for i := range n {
					want, tol := refDot(wr, x[i*cols:(i+1)*cols])
					if math.Abs(want) > 1e30 || tol > 1e30 {
						continue // float32 overflow territory: order-dependent
					}
					if !checkClose(y[i*rows+r], want, tol) {
						t.Fatalf("e.MatMul(%v %d×%d, n=%d)[%d,%d] = %v, want %v ± %g", typ, rows, cols, n, i, r, y[i*rows+r], want, tol)
					}
				}
			}
		})
	})
}

// tameScales limits plain-float exponents and scales so that finite products stay far from
// float32 overflow (NaN and Inf encodings are kept).
func tameScales(w *Matrix) {
	l := w.Layout
	d := w.Data
	switch w.DType {
	case format.F32:
		for i := 0; i+4 <= int(l.CodesLen); i += 4 {
			v := binary.LittleEndian.Uint32(d[i:])
			if v&0x7f800000 != 0x7f800000 {
				v &^= 0x40000000
			}
			binary.LittleEndian.PutUint32(d[i:], v)
		}
	case format.BF16:
		for i := 0; i+2 <= int(l.CodesLen); i += 2 {
			v := binary.LittleEndian.Uint16(d[i:])
			if v&0x7f80 != 0x7f80 {
				v &^= 0x4000
			}
			binary.LittleEndian.PutUint16(d[i:], v)
		}
	case format.I4, format.FP8:
		for i := int(l.ScalesOff); i+4 <= int(l.Size); i += 4 {
			v := binary.LittleEndian.Uint32(d[i:])
			if v&0x7f800000 != 0x7f800000 {
				v &^= 0x40000000
			}
			binary.LittleEndian.PutUint32(d[i:], v)
		}
	}
}

func ExampleExec_MatVec() {
	// A 2×32 Q8_0 matrix: row 0 all codes 1, row 1 all codes −2, scales 0.5 (f16 0x3800).
	l, _ := format.LayoutOf(format.Q8_0, []int64{2, 32})
	data := make([]byte, l.Size)
	for c := range 32 {
		data[c], data[32+c] = 1, 0xfe
	}
	binary.LittleEndian.PutUint16(data[l.ScalesOff:], 0x3800)
	binary.LittleEndian.PutUint16(data[l.ScalesOff+2:], 0x3800)
	w, _ := NewMatrix(format.Q8_0, []int64{2, 32}, data, 1)
	x := make([]float32, 32)
	for i := range x {
		x[i] = 1
	}
	y := make([]float32, 2)
	Exec{}.MatVec(y, w, x)
	fmt.Println(y)
	// Output: [16 -32]
}

// TestInfiniteScaleEntries checks the documented property of the entries that factor a scale
// out of their sums (exactImpl.infScale): a matrix with an infinite block or row scale takes
// an entry without it, whose NaN and ±Inf are the reference's, while a NaN scale keeps the
// entry.
func TestInfiniteScaleEntries(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, typ := range []format.DType{format.Q4_0, format.Q8_0, format.I4, format.FP8} {
			const rows, cols = 4, 256
			w := randMatrix(t, rng, typ, rows, cols)
			first := w.exact()
			l := w.Layout
			poke := func(bits uint32) {
				if typ == format.I4 || typ == format.FP8 {
					binary.LittleEndian.PutUint32(w.Data[int(l.ScalesOff)+4*2:], bits)
				} else {
					binary.LittleEndian.PutUint16(w.Data[int(l.ScalesOff)+2*(2*cols/32+3):], uint16(bits))
				}
				rechoose(t, w)
			}
			nan, inf := uint32(0x7fc00000), math.Float32bits(float32(math.Inf(-1)))
			if typ == format.Q4_0 || typ == format.Q8_0 {
				nan, inf = 0x7e00, 0xfc00
			}
			poke(nan)
			if w.exact() != first {
				t.Errorf("%v: a NaN scale changed the entry %s to %s", typ, first.name, w.exact().name)
			}
			poke(inf)
			if w.exact().infScale != nil {
				t.Errorf("%v: with an infinite scale the entry is %s, which needs finite scales", typ, w.exact().name)
			}
			x := randVec(rng, cols)
			y := make([]float32, rows)
			Exec{}.MatVec(y, w, x)
			for r := range rows {
				want, tol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), x)
				if !checkClose(y[r], want, tol) {
					t.Errorf("%v: infinite scale: y[%d] = %v, want %v ± %g", typ, r, y[r], want, tol)
				}
			}
		}
	})
}
