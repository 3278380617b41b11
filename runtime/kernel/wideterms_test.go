package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// wideTermsCase builds three terms of rows[0..2] weight rows over cols columns (the first with a
// bias, the second accumulating without one, the third accumulating with one) and n activation
// rows; Y holds random values and two guard values past its end.
func wideTermsCase(t *testing.T, rng *rand.Rand, dt format.DType, rows [3]int, cols, n int) ([]WideTerm, []float32) {
	t.Helper()
	terms := make([]WideTerm, 3)
	for i, r := range rows {
		y := randVec(rng, n*r+2)
		y[n*r], y[n*r+1] = 7, 7
		terms[i] = WideTerm{W: randMatrix(t, rng, dt, r, cols), Y: y[:n*r], Acc: i > 0}
		if i != 1 {
			terms[i].Bias = randVec(rng, r)
		}
	}
	return terms, randVec(rng, n*cols)
}

func cloneTerms(terms []WideTerm) []WideTerm {
	out := make([]WideTerm, len(terms))
	for i, t := range terms {
		out[i] = t
		y := append([]float32(nil), t.Y[:cap(t.Y)]...)
		out[i].Y = y[:len(t.Y)]
	}
	return out
}

// checkWideTerms compares got (terms after the product) with a float64 reference over the
// decoded weights (rounded to bf16 with the activations when bf16), within (cols+3)·ε₃₂ of the
// magnitudes summed; before holds the terms' Y values before the product.
func checkWideTerms(t *testing.T, got, before []WideTerm, x []float32, n int, bf16 bool) {
	t.Helper()
	rb := func(v float32) float64 {
		if bf16 {
			return float64(bf16f(bf16Round(v)))
		}
		return float64(v)
	}
	for ti, term := range got {
		rows, cols := term.W.Rows(), term.W.Cols()
		row := make([]float32, cols)
		for r := range rows {
			DequantRow(row, term.W, r)
			for i := range n {
				want, mag := dotAbs(row, x[i*cols:(i+1)*cols], rb)
				if term.Bias != nil {
					want += float64(term.Bias[r])
					mag += math.Abs(float64(term.Bias[r]))
				}
				if term.Acc {
					old := float64(before[ti].Y[i*rows+r])
					want += old
					mag += math.Abs(old)
				}
				g := term.Y[i*rows+r]
				if d := math.Abs(float64(g) - want); !(d <= float64(cols+3)*0x1p-24*mag) {
					t.Fatalf("term %d: Y[%d, %d] = %v, want %v (diff %.3g)", ti, i, r, g, want, d)
				}
			}
		}
		if y := term.Y[:cap(term.Y)]; y[n*rows] != 7 || y[n*rows+1] != 7 {
			t.Fatalf("term %d: wrote past Y", ti)
		}
	}
}

// dotAbs returns Σ rb(w[c])·rb(x[c]) and Σ |rb(w[c])·rb(x[c])| in float64.
func dotAbs(w, x []float32, rb func(float32) float64) (sum, mag float64) {
	for c, v := range w {
		p := rb(v) * rb(x[c])
		sum += p
		mag += math.Abs(p)
	}
	return sum, mag
}

// wideTermsSteps is MatMulWideTerms as separate steps: each product into a buffer by
// product, the bias added, the buffer added to Y.
func wideTermsSteps(terms []WideTerm, n int, product func(y []float32, w *Matrix)) {
	for _, term := range terms {
		rows := term.W.Rows()
		tmp := make([]float32, n*rows)
		product(tmp, term.W)
		for i := range n {
			for r := range rows {
				v := tmp[i*rows+r]
				if term.Bias != nil {
					v += term.Bias[r]
				}
				if term.Acc {
					v = term.Y[i*rows+r] + v
				}
				term.Y[i*rows+r] = v
			}
		}
	}
}

func sameTermBits(t *testing.T, got, want []WideTerm) {
	t.Helper()
	for ti := range got {
		for j, g := range got[ti].Y {
			if w := want[ti].Y[j]; math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("term %d: Y[%d] = %v, the separate steps give %v", ti, j, g, w)
			}
		}
	}
}

// wideKernCase is a bf16 microkernel wideTermsBF16 runs with (store nil: Go stores).
type wideKernCase struct {
	name   string
	mr, nr int
	kern   microKernelBF16
	store  storeKernelBF16
}

// wideKernCases lists the Go reference microkernel and, where the CPU has them, the assembly
// one with the Go store and with the storing kernel.
func wideKernCases(t *testing.T) []wideKernCase {
	t.Helper()
	kerns := []wideKernCase{{"generic4x8", 4, 8, gemmBF16Generic(4, 8), nil}}
	if mr, nr, kern, ok := bf16Kernel(); ok {
		store, _, ok := bf16StoreKernel()
		if !ok {
			t.Fatal("bf16Kernel without bf16StoreKernel")
		}
		kerns = append(kerns, wideKernCase{"asm", mr, nr, kern, nil}, wideKernCase{"asm+store", mr, nr, kern, store})
	}
	return kerns
}

var wideTermsShapes = []struct {
	rows    [3]int
	cols, n int
}{
	{[3]int{1, 2, 3}, 2, 1},
	{[3]int{13, 8, 5}, 7, 5},
	{[3]int{33, 70, 32}, 64, 25},
	{[3]int{64, 96, 40}, 36, 24},
	{[3]int{70, 32, 64}, 96, 37},
}

// TestMatMulWideTerms checks the exact path against a float64 reference and, bit for bit,
// against MatMulWide followed by the bias and the accumulation (the steps it replaces).
func TestMatMulWideTerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	forEachImpl(t, func(t *testing.T) {
		for _, dt := range []format.DType{format.BF16, format.F32, format.Q8_0} {
			for _, sh := range wideTermsShapes {
				if dt == format.Q8_0 && sh.cols%32 != 0 {
					continue
				}
				t.Run(fmt.Sprintf("%v/%v/%dx%d", dt, sh.rows, sh.cols, sh.n), func(t *testing.T) {
					terms, x := wideTermsCase(t, rng, dt, sh.rows, sh.cols, sh.n)
					before, steps := cloneTerms(terms), cloneTerms(terms)
					e := Exec{Threads: 2}
					e.MatMulWideTerms(x, sh.n, terms...)
					checkWideTerms(t, terms, before, x, sh.n, false)
					wideTermsSteps(steps, sh.n, func(y []float32, w *Matrix) { e.MatMulWide(y, w, x, sh.n) })
					sameTermBits(t, terms, steps)
				})
			}
		}
	})
}

// TestMatMulWideTermsBF16 checks the bf16 path (the Go reference microkernel, the assembly one
// with the Go store, and the storing assembly one) against a float64 reference over the
// bf16-rounded operands and, bit for bit, against matMulBF16With (the weights on the
// microkernel's broadcast side) followed by the bias and the accumulation.
func TestMatMulWideTermsBF16(t *testing.T) {
	kerns := wideKernCases(t)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, kc := range kerns {
		for _, dt := range []format.DType{format.BF16, format.F32, format.Q8_0} {
			for _, sh := range wideTermsShapes {
				if dt == format.Q8_0 && sh.cols%32 != 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%v/%v/%dx%d", kc.name, dt, sh.rows, sh.cols, sh.n), func(t *testing.T) {
					terms, x := wideTermsCase(t, rng, dt, sh.rows, sh.cols, sh.n)
					before, steps := cloneTerms(terms), cloneTerms(terms)
					e := Exec{Threads: 2, Mode: ModeBF16}
					wideTermsBF16(e, x, sh.n, terms, kc.mr, kc.nr, kc.kern, kc.store)
					checkWideTerms(t, terms, before, x, sh.n, true)
					wideTermsSteps(steps, sh.n, func(y []float32, w *Matrix) {
						matMulBF16With(e, y, w, x, sh.n, kc.mr, kc.nr, kc.kern)
					})
					sameTermBits(t, terms, steps)
				})
			}
		}
	}
}

// TestMatMulWideTermsPanics checks the argument checks.
func TestMatMulWideTermsPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	w := randMatrix(t, rng, format.F32, 4, 8)
	w2 := randMatrix(t, rng, format.F32, 4, 6)
	for _, c := range []struct {
		name  string
		x     []float32
		terms []WideTerm
	}{
		{"short x", make([]float32, 15), []WideTerm{{W: w, Y: make([]float32, 8)}}},
		{"short Y", make([]float32, 16), []WideTerm{{W: w, Y: make([]float32, 7)}}},
		{"bias", make([]float32, 16), []WideTerm{{W: w, Y: make([]float32, 8), Bias: make([]float32, 3)}}},
		{"cols", make([]float32, 16), []WideTerm{{W: w, Y: make([]float32, 8)}, {W: w2, Y: make([]float32, 8)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("MatMulWideTerms(%s) did not panic", c.name)
				}
			}()
			Exec{}.MatMulWideTerms(c.x, 2, c.terms...)
		})
	}
}

// TestPackPanelBF16Unaligned checks that a BF16 payload at an address that is not a multiple
// of 4 packs as the same payload aligned.
func TestPackPanelBF16Unaligned(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	w := randMatrix(t, rng, format.BF16, 40, 10)
	buf := make([]byte, len(w.Data)+2)
	copy(buf[2:], w.Data)
	u, err := NewMatrix(format.BF16, []int64{40, 10}, buf[2:], 1)
	if err != nil {
		t.Fatal(err)
	}
	for q := range 2 {
		want, got := make([]uint16, 32*10), make([]uint16, 32*10)
		packPanelBF16(want, w, q, 32, nil)
		packPanelBF16(got, u, q, 32, nil)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("panel %d: [%d] = %#x unaligned, %#x aligned", q, i, got[i], want[i])
			}
		}
	}
}

// FuzzMatMulWideTerms gives random shapes and weight bytes (NaN and Inf codes included) to the
// bf16 wide product (Go reference microkernel; the assembly ones with and without the storing
// kernel where the CPU has them) and to the exact one, and compares each with its separate
// steps (the product into a buffer, the bias, the accumulation), bit for bit (NaN as NaN).
func FuzzMatMulWideTerms(f *testing.F) {
	f.Add(uint8(0), uint8(33), uint8(5), uint8(64), uint8(25), []byte{1, 2, 3, 0x7f, 0xff, 0x80})
	f.Add(uint8(1), uint8(64), uint8(1), uint8(7), uint8(37), []byte{0x7f, 0x80, 0x00, 0x41})
	f.Fuzz(func(t *testing.T, ti, rows8, rows28, cols8, n8 uint8, seed []byte) {
		typ := []format.DType{format.BF16, format.F32}[int(ti)%2]
		rows, rows2, cols, n := int(rows8%70)+1, int(rows28%40)+1, int(cols8%100)+1, int(n8%40)+1
		mk := func(r int) *Matrix {
			l, err := format.LayoutOf(typ, []int64{int64(r), int64(cols)})
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, l.Size)
			for i := range data {
				if len(seed) > 0 {
					data[i] = seed[i%len(seed)] ^ byte(i*131>>3)
				}
			}
			w, err := NewMatrix(typ, []int64{int64(r), int64(cols)}, data, 1)
			if err != nil {
				t.Fatal(err)
			}
			tameScales(w)
			return w
		}
		rng := rand.New(rand.NewPCG(uint64(len(seed)), 2))
		x := randVec(rng, n*cols)
		base := []WideTerm{
			{W: mk(rows), Y: randVec(rng, n*rows), Bias: randVec(rng, rows)},
			{W: mk(rows2), Y: randVec(rng, n*rows2), Acc: true},
			{W: mk(rows), Y: randVec(rng, n*rows), Bias: randVec(rng, rows), Acc: true},
		}
		same := func(name string, got, want []WideTerm) {
			for ti := range got {
				for j, g := range got[ti].Y {
					w := want[ti].Y[j]
					if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
						t.Fatalf("%s %v %d/%d×%d n %d: term %d: Y[%d] = %v, the steps give %v", name, typ, rows, rows2, cols, n, ti, j, g, w)
					}
				}
			}
		}
		e := Exec{Threads: 2, Mode: ModeBF16}
		for _, kc := range wideKernCases(t) {
			got, steps := cloneTerms(base), cloneTerms(base)
			wideTermsBF16(e, x, n, got, kc.mr, kc.nr, kc.kern, kc.store)
			wideTermsSteps(steps, n, func(y []float32, w *Matrix) { matMulBF16With(e, y, w, x, n, kc.mr, kc.nr, kc.kern) })
			same(kc.name, got, steps)
		}
		forEachImpl(t, func(t *testing.T) {
			ex := Exec{Threads: 2}
			got, steps := cloneTerms(base), cloneTerms(base)
			ex.MatMulWideTerms(x, n, got...)
			wideTermsSteps(steps, n, func(y []float32, w *Matrix) { ex.MatMulWide(y, w, x, n) })
			same("exact", got, steps)
		})
	})
}
