package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSoftmaxRowBF16Exp checks the exp of softmaxRowBF16 against math.Exp: 16 equal scores x
// under a running maximum of 0 give the sum 16·exp(x) exactly, for x over [expLo, 0] (relative
// error ≤ 2⁻²², two float32 ulps) and below it (zero or within 2⁻¹⁴⁹ of exp(x)).
func TestSoftmaxRowBF16Exp(t *testing.T) {
	s := make([]float32, 16)
	p := make([]uint16, 16)
	var worst float64
	check := func(x float32) {
		for i := range s {
			s[i] = x
		}
		m, sum := softmaxRowBF16(p, s, 1, 0)
		if m != 0 {
			t.Fatalf("softmaxRowBF16(%v ×16, m 0) maximum = %v, want 0", x, m)
		}
		got, want := sum/16, math.Exp(float64(x))
		if x < expLo {
			if !(got <= want+0x1p-149) {
				t.Fatalf("exp(%v) = %v, want %v (or 0)", x, got, want)
			}
			return
		}
		rel := math.Abs(got-want) / want
		worst = max(worst, rel)
		if !(rel <= 0x1p-22) {
			t.Fatalf("exp(%v) = %v, want %v (relative error %.3g)", x, got, want, rel)
		}
		if b := bf16Round(float32(got)); p[0] != b && float32(got) >= 0x1p-126 {
			t.Fatalf("exp(%v): p = %#x, want bf16 %#x", x, p[0], b)
		}
	}
	for i := 0; i <= 400000; i++ {
		check(float32(expLo * float64(i) / 400000))
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for range 100000 {
		check(-float32(rng.ExpFloat64() * 4))
	}
	for _, x := range []float32{0, -0x1p-30, -1e-7, expLo, -87.5, -88, -103.9, -104, -150, -1e30, float32(math.Inf(-1))} {
		check(x)
	}
	t.Logf("worst relative error over [expLo, 0]: %.3g", worst)
	for i := range s {
		s[i] = -1
	}
	s[5] = float32(math.NaN())
	if _, sum := softmaxRowBF16(p, s, 1, 0); sum == sum {
		t.Errorf("softmaxRowBF16 with a NaN score: sum %v, want NaN", sum)
	}
}

// TestSoftmaxRowBF16 compares softmaxRowBF16 with its Go reference and a float64 softmax
// over row lengths 1–70 (tails), scales and running maxima above and below the row's.
func TestSoftmaxRowBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for n := 1; n <= 70; n++ {
		for _, m := range []float32{float32(math.Inf(-1)), -3, 0, 40} {
			s := randScaled(rng, n, 30)
			orig := append([]float32(nil), s...)
			sc := float32(0.1 + rng.Float64())
			got, want := make([]uint16, n+1), make([]uint16, n)
			got[n] = 7
			gm, gs := softmaxRowBF16(got[:n], s, sc, m)
			wm, ws := softmaxRowBF16Generic(want, s, sc, m)
			if gm != wm {
				t.Fatalf("n %d m %v: maximum %v, reference %v", n, m, gm, wm)
			}
			var sum float64
			for i, v := range s {
				if v != orig[i] {
					t.Fatalf("n %d: s[%d] modified", n, i)
				}
				e := math.Exp(float64(float32(v*sc) - wm)) // the shift rounded in float32, as both compute it
				sum += e
				g := float64(bf16f(got[i]))
				if d := math.Abs(g - e); !(d <= 0x1p-8*e || e < 0x1p-126) {
					t.Fatalf("n %d m %v: p[%d] = %v, want %v", n, m, i, g, e)
				}
				if w := float64(bf16f(want[i])); math.Abs(g-w) > 0x1p-8*w && e >= 0x1p-126 {
					t.Fatalf("n %d m %v: p[%d] = %v, reference %v", n, m, i, g, w)
				}
			}
			if math.Abs(gs-sum) > 0x1p-21*sum || math.Abs(gs-ws) > 0x1p-21*sum {
				t.Fatalf("n %d m %v: sum %v, reference %v, float64 %v", n, m, gs, ws, sum)
			}
			if got[n] != 7 {
				t.Fatalf("n %d: wrote past p", n)
			}
		}
	}
}
