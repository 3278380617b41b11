package kernel

import "math"

// The Go references of the vector exp, softmax and GELU (constants and error bounds in
// vecmath.go): the steps the assembly (vecmath_amd64.s) evaluates with fused multiply-adds.

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
