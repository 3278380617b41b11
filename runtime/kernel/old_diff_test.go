//go:build amd64 && !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Differential check of the generated assembly against the hand-written files it replaces
// (renamed *Old): same bits on random and special inputs.

func specialVec(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	sp := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, -1e-42, 3e38, -3e38, 65504, 7e4, 1e-8, 88.5, -88, -87.4, 88.3, 89, -100}
	for i := range x {
		if rng.IntN(13) == 0 {
			x[i] = sp[rng.IntN(len(sp))]
		} else {
			x[i] = float32(rng.NormFloat64() * scale)
		}
	}
	return x
}

func bitsEq(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestGeneratedMatchesOld(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 300 {
		sc := []float64{1e-30, 1e-6, 0.01, 1, 10, 100, 1e5, 1e30}[iter%8]
		n := 8 * rng.IntN(40)
		a, b := specialVec(rng, n+64, sc), specialVec(rng, n+64, sc)
		if iter%2 == 0 { // finite inputs too
			for i := range a {
				a[i] = float32(rng.NormFloat64() * sc)
				b[i] = float32(rng.NormFloat64())
			}
		}
		p := func(x []float32) *float32 { return &x[0] }
		if g, w := dotAVX2(p(a), p(b), n), dotAVX2Old(p(a), p(b), n); math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("dot n=%d: %v vs %v", n, g, w)
		}
		if g, w := sumSquaresAVX2(p(a), n), sumSquaresAVX2Old(p(a), n); math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("sumSquares n=%d: %v vs %v", n, g, w)
		}
		if g, w := maxAVX2(p(a), n), maxAVX2Old(p(a), n); math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("max n=%d: %v vs %v", n, g, w)
		}
		s := float32(rng.NormFloat64())
		type mapf struct {
			name     string
			gen, old func(y, x, w []float32)
		}
		maps := []mapf{
			{"axpy", func(y, x, _ []float32) { axpyAVX2(p(y), s, p(x), n) }, func(y, x, _ []float32) { axpyAVX2Old(p(y), s, p(x), n) }},
			{"scale", func(y, _, _ []float32) { scaleAVX2(p(y), s, n) }, func(y, _, _ []float32) { scaleAVX2Old(p(y), s, n) }},
			{"scaleMul", func(y, x, w []float32) { scaleMulAVX2(p(y), p(x), s, p(w), n) }, func(y, x, w []float32) { scaleMulAVX2Old(p(y), p(x), s, p(w), n) }},
			{"add", func(y, x, _ []float32) { addAVX2(p(y), p(x), n) }, func(y, x, _ []float32) { addAVX2Old(p(y), p(x), n) }},
			{"rope", func(y, x, w []float32) { ropeAVX2(p(y), n+8, p(x), p(w), n) }, func(y, x, w []float32) { ropeAVX2Old(p(y), n+8, p(x), p(w), n) }},
			{"gelu512", func(y, _, _ []float32) { geluAVX512(p(y), n&^15) }, func(y, _, _ []float32) { geluAVX512Old(p(y), n&^15) }},
			{"gelu2", func(y, _, _ []float32) { geluAVX2(p(y), n) }, func(y, _, _ []float32) { geluAVX2Old(p(y), n) }},
			{"expSum512", func(y, _, w []float32) { w[0] = float32(expSumAVX512(p(y), n&^15, s)) }, func(y, _, w []float32) { w[0] = float32(expSumAVX512Old(p(y), n&^15, s)) }},
			{"expSum2", func(y, _, w []float32) { w[1] = float32(expSumAVX2(p(y), n, s)) }, func(y, _, w []float32) { w[1] = float32(expSumAVX2Old(p(y), n, s)) }},
		}
		for _, m := range maps {
			y := specialVec(rng, 2*n+16, sc*10)
			if m.name[:3] == "exp" || m.name[:3] == "gel" {
				for i := range y {
					if rng.IntN(20) != 0 {
						y[i] = float32(rng.NormFloat64() * 30)
					}
				}
			}
			y1, y2 := slices.Clone(y), slices.Clone(y)
			w1, w2 := slices.Clone(b), slices.Clone(b)
			m.gen(y1, a, w1)
			m.old(y2, a, w2)
			if !bitsEq(y1, y2) || !bitsEq(w1, w2) {
				t.Fatalf("%s n=%d differs", m.name, n)
			}
		}
		nb := 128 * rng.IntN(6)
		buf := make([]byte, nb+8)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if nb > 0 {
			if g, w := streamReadAVX2(&buf[0], nb), streamReadAVX2Old(&buf[0], nb); g != w {
				t.Fatalf("streamRead")
			}
		}
		// gemm
		for _, sh := range []struct {
			rows, cols int
			gen, old   func(w *float32, ldw int, xp *float32, k int, tile *float32)
		}{{12, 32, gemm12x32AVX512, gemm12x32AVX512Old}, {6, 16, gemm6x16AVX2, gemm6x16AVX2Old}} {
			k := rng.IntN(70)
			ldw := k + rng.IntN(5) + 1
			w := specialVec(rng, sh.rows*ldw, sc)
			xp := specialVec(rng, sh.cols*(k+1), 1)
			t1, t2 := make([]float32, sh.rows*sh.cols), make([]float32, sh.rows*sh.cols)
			sh.gen(&w[0], ldw, &xp[0], k, &t1[0])
			sh.old(&w[0], ldw, &xp[0], k, &t2[0])
			if !bitsEq(t1, t2) {
				t.Fatalf("gemm %dx%d k=%d differs", sh.rows, sh.cols, k)
			}
		}
	}
}

func TestGeneratedEncodersMatchOld(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := range 2000 {
		sc := []float64{0, 1e-42, 1e-38, 1e-10, 1e-3, 1, 100, 1e4, 6e4, 1e6, 1e30, 3e38}[iter%12]
		nb := 1 + rng.IntN(9)
		x := make([]float32, 32*nb)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * sc)
			if iter%3 == 0 && rng.IntN(50) == 0 {
				x[i] = []float32{0, float32(math.Inf(1)), float32(math.NaN()), 1e-45, -65504, float32(sc)}[rng.IntN(6)]
			}
			if iter%5 == 0 && rng.IntN(3) == 0 {
				x[i] = float32(math.Copysign(float64(x[rng.IntN(i+1)]), -1)) // repeated magnitudes
			}
		}
		if iter%17 == 0 {
			for i := range x {
				x[i] = 0
			}
		}
		for _, e := range []struct {
			name     string
			cb       int
			gen, old func(codes, scales *byte, x *float32, nb int, sums *[3]float64) int
		}{{"q4", 16, encQ4AVX512, encQ4AVX512Old}, {"q8", 32, encQ8AVX512, encQ8AVX512Old}} {
			c1, c2 := make([]byte, e.cb*nb), make([]byte, e.cb*nb)
			s1, s2 := make([]byte, 2*nb), make([]byte, 2*nb)
			sums1, sums2 := [3]float64{1, 2, 3}, [3]float64{1, 2, 3}
			n1 := e.gen(&c1[0], &s1[0], &x[0], nb, &sums1)
			n2 := e.old(&c2[0], &s2[0], &x[0], nb, &sums2)
			if n1 != n2 || !slices.Equal(c1, c2) || !slices.Equal(s1, s2) || !sameF64(sums1, sums2) {
				t.Fatalf("%s iter %d sc %g: n %d vs %d, sums %v vs %v", e.name, iter, sc, n1, n2, sums1, sums2)
			}
		}
		n := len(x) &^ 15
		for _, inv := range []float32{1, 1 / float32(sc+1e-30), 0.5} {
			for _, limit := range []float32{1.875, 2e38, 1} {
				c1, c2 := make([]byte, n), make([]byte, n)
				sums1, sums2 := [3]float64{}, [3]float64{}
				ok1 := encSFP8AVX512(&c1[0], &x[0], n, inv, limit, 0.7, &sums1)
				ok2 := encSFP8AVX512Old(&c2[0], &x[0], n, inv, limit, 0.7, &sums2)
				if ok1 != ok2 || !slices.Equal(c1, c2) || !sameF64(sums1, sums2) {
					t.Fatalf("sfp8 iter %d differs", iter)
				}
			}
		}
		for _, s := range []float32{1, float32(sc + 1e-30), 1e-3} {
			c1, c2 := make([]byte, n), make([]byte, n)
			sums1, sums2 := [3]float64{}, [3]float64{}
			encFP8AVX512(&c1[0], &x[0], n, s, &sums1)
			encFP8AVX512Old(&c2[0], &x[0], n, s, &sums2)
			if !slices.Equal(c1, c2) || !sameF64(sums1, sums2) {
				t.Fatalf("fp8 iter %d differs", iter)
			}
		}
		scales := []float32{0.1, float32(sc + 1e-20), 3}
		e1, e2 := make([]float64, 3), make([]float64, 3)
		i4ErrAVX512(&x[0], n, &scales[0], 3, &e1[0])
		i4ErrAVX512Old(&x[0], n, &scales[0], 3, &e2[0])
		if !sameF64([3]float64(e1), [3]float64(e2)) {
			t.Fatalf("i4err iter %d: %v vs %v", iter, e1, e2)
		}
		if n64 := len(x) &^ 63; n64 > 0 {
			if g, w := maxAbsBitsAVX512(&x[0], n64), maxAbsBitsAVX512Old(&x[0], n64); g != w {
				t.Fatalf("maxAbsBits")
			}
			src := make([]byte, 2*n64)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			d1, d2 := make([]float32, n64), make([]float32, n64)
			widenBF16AVX512(&d1[0], &src[0], n64)
			widenBF16AVX512Old(&d2[0], &src[0], n64)
			if !bitsEq(d1, d2) {
				t.Fatalf("widen")
			}
		}
	}
}

func sameF64(a, b [3]float64) bool {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
