package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExp checks the vector exp of every implementation against math.Exp: relative error
// within 2 ulp (2⁻²² relative) where the result is a normal float32, 0 below expLo, +Inf
// above expHi, NaN for NaN.
func TestExp(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(31, 32))
		var x []float32
		for range 20000 {
			x = append(x, float32(rng.Float64()*200-105))
		}
		for range 2000 {
			x = append(x, float32(rng.NormFloat64()*3))
		}
		x = append(x, 0, -0.0, 1, -1, expLo, expLo-1e-5, expHi, expHi+1e-4, 88.72, -87.3,
			float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e30, -1e30,
			0.34657359, -0.34657359, 1e-30, -1e-30)
		got := append([]float32(nil), x...)
		expVec(got)
		var worst float64
		for i, v := range x {
			g, want := float64(got[i]), math.Exp(float64(v))
			switch {
			case v != v:
				if g == g {
					t.Fatalf("exp(NaN) = %v", g)
				}
			case v < expLo:
				if g != 0 {
					t.Fatalf("exp(%v) = %v, want 0 (below expLo)", v, g)
				}
			case v > expHi:
				if !math.IsInf(g, 1) {
					t.Fatalf("exp(%v) = %v, want +Inf (above expHi)", v, g)
				}
			default:
				e := math.Abs(g-want) / want
				worst = max(worst, e)
				if math.Abs(g-want) > math.Ldexp(1, -22)*want+math.Ldexp(1, -148) {
					t.Fatalf("exp(%v) = %v, want %v (relative error %.3g)", v, g, want, e)
				}
			}
		}
		t.Logf("max relative error %.3g (%.2f × 2⁻²⁴)", worst, worst*(1<<24))
	})
}

// TestSoftmax checks Softmax against a float64 softmax of the float32 differences x−max:
// relative error 2⁻²⁰ per element; −Inf entries give 0; NaN or +Inf entries make all NaN.
func TestSoftmax(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(33, 34))
		lengths := []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000, 4096}
		if !testing.Short() {
			lengths = append(lengths, 262144)
		}
		for _, n := range lengths {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 8)
				if i%17 == 5 {
					x[i] = float32(math.Inf(-1))
				}
				if i%23 == 7 {
					x[i] -= 120 // underflows to 0
				}
			}
			m := float32(math.Inf(-1))
			for _, v := range x {
				m = max(m, v)
			}
			want := make([]float64, n)
			var sum float64
			for i, v := range x {
				want[i] = math.Exp(float64(v - m))
				sum += want[i]
			}
			got := append([]float32(nil), x...)
			Softmax(got)
			for i := range got {
				w := want[i] / sum
				if m == float32(math.Inf(-1)) { // every entry −Inf
					continue
				}
				if math.Abs(float64(got[i])-w) > math.Ldexp(1, -20)*w+1e-37 {
					t.Fatalf("n=%d: Softmax[%d] = %v, want %v", n, i, got[i], w)
				}
			}
		}
		for _, c := range []struct {
			x    []float32
			want []float32
		}{
			{[]float32{1, 2, 3, float32(math.Inf(-1)), 1000}, []float32{0, 0, 0, 0, 1}},
			{[]float32{0, 0}, []float32{0.5, 0.5}},
		} {
			got := append([]float32(nil), c.x...)
			Softmax(got)
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("Softmax(%v) = %v, want %v", c.x, got, c.want)
					break
				}
			}
		}
		for _, special := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
			for _, n := range []int{5, 40} {
				x := make([]float32, n)
				x[n/2] = special
				Softmax(x)
				for i, v := range x {
					if v == v {
						t.Fatalf("Softmax with %v at %d (n=%d): [%d] = %v, want NaN", special, n/2, n, i, v)
					}
				}
			}
		}
	})
}

// TestGELU checks GELU against the float64 formula within 2⁻²¹·(1 + |2u|)·|GELU(x)| + |x|·
// 2⁻¹²⁶ (|2u| the sigmoid argument: its float32 rounding is amplified where GELU(x) is far
// below x), with ±Inf, NaN and huge inputs.
func TestGELU(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		var x []float32
		for range 20000 {
			x = append(x, float32(rng.NormFloat64()*4))
		}
		for range 2000 {
			x = append(x, float32(rng.Float64()*40-30), float32(math.Ldexp(rng.Float64()-0.5, rng.IntN(60)-40)))
		}
		x = append(x, 0, 1e-30, -1e-30, 1e20, -1e20, 3e38, -3e38)
		got := append([]float32(nil), x...)
		GELU(got)
		var worst float64
		for i, v := range x {
			f := float64(v)
			u2 := 2 * math.Sqrt(2/math.Pi) * (f + 0.044715*f*f*f)
			// 0.5·x·(1 + tanh(u)) = x·σ(2u); the σ form keeps its accuracy for negative x.
			want := f / (1 + math.Exp(-u2))
			if d := 0.5 * f * (1 + math.Tanh(u2/2)); math.Abs(f) < 3 && math.Abs(d-want) > 1e-13*math.Abs(want) {
				t.Fatalf("reference forms disagree at %v: %v, %v", v, d, want)
			}
			g := float64(got[i])
			err := math.Abs(g - want)
			bound := math.Ldexp(1, -21)*(1+math.Abs(u2))*math.Abs(want) + math.Ldexp(math.Abs(f), -126)
			if math.Abs(want) > 1e-30*math.Abs(f) {
				worst = max(worst, err/(math.Abs(want)*(1+math.Abs(u2))))
			}
			if !(err <= bound) {
				t.Fatalf("GELU(%v) = %v, want %v (bound %g)", v, g, want, bound)
			}
		}
		t.Logf("max error / ((1+|2u|)·|GELU|) = %.3g (%.2f × 2⁻²⁴)", worst, worst*(1<<24))
		sp := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
		GELU(sp)
		if !math.IsInf(float64(sp[0]), 1) || sp[1] == sp[1] || sp[2] == sp[2] {
			t.Errorf("GELU(+Inf, −Inf, NaN) = %v, want +Inf, NaN, NaN (as the formula)", sp)
		}
	})
}

func BenchmarkSoftmax(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{512, 4096, 262144} {
		x := randVec(rng, n)
		buf := make([]float32, n)
		b.Run(fmtInt(n), func(b *testing.B) {
			forEachImplB(b, func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				for b.Loop() {
					copy(buf, x)
					Softmax(buf)
				}
			})
		})
	}
}

func BenchmarkGELU(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randVec(rng, 6912)
	buf := make([]float32, len(x))
	forEachImplB(b, func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for b.Loop() {
			copy(buf, x)
			GELU(buf)
		}
	})
}

func fmtInt(n int) string {
	s := ""
	for n >= 10 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return string(rune('0'+n)) + s
}

// TestExpShift checks the unnormalised softmax against float64: the max, every exp(x − max)
// and the sum, for every implementation and the tail lengths of the vector loops.
func TestExpShift(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(35, 36))
		for _, n := range []int{1, 7, 8, 9, 16, 17, 33, 300} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 6)
			}
			want := float32(math.Inf(-1))
			for _, v := range x {
				want = max(want, v)
			}
			got := append([]float32(nil), x...)
			m, sum := ExpShift(got)
			if m != want {
				t.Fatalf("n=%d: max %v, want %v", n, m, want)
			}
			var ws float64
			for i, v := range x {
				e := math.Exp(float64(v - want))
				ws += e
				if d := math.Abs(float64(got[i]) - e); d > 4e-7*e {
					t.Fatalf("n=%d: exp[%d] = %v, want %v", n, i, got[i], e)
				}
			}
			if math.Abs(sum-ws) > 1e-6*ws {
				t.Fatalf("n=%d: sum %v, want %v", n, sum, ws)
			}
		}
		if m, s := ExpShift(nil); !math.IsInf(float64(m), -1) || s != 0 {
			t.Errorf("ExpShift(nil) = %v, %v", m, s)
		}
	})
}

// TestElementwise checks ScaleMul, Add and RoPE bit for bit against their Go loops for every
// implementation and the tail lengths of the vector loops.
func TestElementwise(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(37, 38))
		for _, n := range []int{1, 7, 8, 9, 16, 17, 33, 128, 1152} {
			x, w, y := randVec(rng, n), randVec(rng, n), randVec(rng, n)
			a := float32(rng.NormFloat64())
			got := make([]float32, n)
			ScaleMul(got, x, a, w)
			for i := range x {
				if want := (x[i] * a) * w[i]; !sameBits(got[i], want) {
					t.Fatalf("ScaleMul n=%d: [%d] = %v, want %v", n, i, got[i], want)
				}
			}
			sum := append([]float32(nil), y...)
			Add(sum, x)
			for i := range x {
				if want := y[i] + x[i]; !sameBits(sum[i], want) {
					t.Fatalf("Add n=%d: [%d] = %v, want %v", n, i, sum[i], want)
				}
			}
			c, s := randVec(rng, n), randVec(rng, n)
			r := append(append([]float32(nil), x...), y...)
			RoPE(r, c, s)
			for i := range n {
				a, b := x[i], y[i]
				w0 := float32(a*c[i]) - float32(b*s[i])
				w1 := float32(b*c[i]) + float32(a*s[i])
				if !sameBits(r[i], w0) || !sameBits(r[n+i], w1) {
					t.Fatalf("RoPE n=%d: pair %d = %v, %v, want %v, %v", n, i, r[i], r[n+i], w0, w1)
				}
			}
		}
	})
}
