package kernel

import "math"

// Fast float32 exp for Softmax and GELU. expf32 is the reference every implementation
// follows (the assembly versions evaluate the same steps with fused multiply-adds):
//
//	x < expLo (= ln 2⁻¹²⁶ ≈ −87.34) → 0;  x > expHi (≈ 88.376, ln 2¹²⁷·1.5) → +Inf;  NaN → NaN
//	n = roundToEven(x·log₂e),  r = x − n·ln2hi − n·ln2lo  (|r| ≤ ln2/2, Cody–Waite)
//	exp(x) = 2ⁿ · (1 + r + r²·P(r)),  P the degree-5 polynomial of Cephes' expf
//
// Its relative error against math.Exp is below 2 ulp for every x in [expLo, expHi] (results
// that are subnormal may lose more; they are below 2⁻¹²⁶·1.5). x in (88.376, 88.723], where
// float32 exp is still finite, returns +Inf: neither caller can get there with a finite result.
const (
	expLo   = -87.33654
	expHi   = 88.3762
	log2e   = 1.44269504088896341
	ln2hi   = 0.693359375
	ln2lo   = -2.12194440e-4
	expP0   = 1.9875691500e-4
	expP1   = 1.3981999507e-3
	expP2   = 8.3334519073e-3
	expP3   = 4.1665795894e-2
	expP4   = 1.6666665459e-1
	expP5   = 5.0000001201e-1
	sqrt2pi = 0.7978845608028654 // √(2/π)
)

// expf32 is the scalar reference of the vector exp.
func expf32(x float32) float32 {
	switch {
	case x < expLo:
		return 0
	case x > expHi:
		return float32(math.Inf(1))
	case x != x:
		return x
	}
	n := float32(math.RoundToEven(float64(float32(x * log2e))))
	r := float32(x - float32(n*ln2hi))
	r = float32(r - float32(n*ln2lo))
	p := float32(expP0)
	p = float32(p*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	e := float32(float32(float32(r*r)*p)+r) + 1
	return e * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// geluf32 is the scalar reference of the vector GELU (tanh approximation), written as
// x·σ(2u) = x / (1 + exp(−2u)) with u = √(2/π)·(x + 0.044715·x³), which equals
// 0.5·x·(1 + tanh(u)) without its cancellation for negative x.
func geluf32(x float32) float32 {
	t := float32(x*x)*0.044715 + 1
	u2 := float32(float32(x*(2*sqrt2pi)) * t)
	return x / (1 + expf32(-u2))
}

func softmaxGeneric(x []float32) {
	_, sum := expShiftGeneric(x)
	scale(x, float32(1/sum))
}

func expShiftGeneric(x []float32) (float32, float64) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	var sum float64
	for i, v := range x {
		e := expf32(v - m)
		x[i] = e
		sum += float64(e)
	}
	return m, sum
}

func geluGeneric(x []float32) {
	for i, v := range x {
		x[i] = geluf32(v)
	}
}
