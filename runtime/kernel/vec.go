package kernel

import (
	"fmt"
	"math"
)

// Dot returns Σ a[i]·b[i] in float32. It panics if the lengths differ.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kernel: Dot: len(a) = %d, len(b) = %d", len(a), len(b)))
	}
	return dot(a, b)
}

// Axpy computes y[i] += a·x[i]. It panics if the lengths differ.
func Axpy(y []float32, a float32, x []float32) {
	if len(y) != len(x) {
		panic(fmt.Sprintf("kernel: Axpy: len(y) = %d, len(x) = %d", len(y), len(x)))
	}
	axpy(y, a, x)
}

// SumSquares returns Σ x[i]² in float32 (the RMSNorm statistic).
func SumSquares(x []float32) float32 { return sumSquares(x) }

// Scale computes x[i] *= a.
func Scale(x []float32, a float32) { scale(x, a) }

// Softmax replaces x by softmax(x) in place: exp(x[i] − max) / Σ exp(x[j] − max), computed in
// float32 with float64 normalisation of the sum. An empty x is left alone; −Inf entries become 0.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += float64(e)
	}
	scale(x, float32(1/sum))
}

// GELU applies the tanh approximation of GELU in place:
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), evaluated in float64 and rounded once (so it is
// within one ulp of the float32 formula's exact value).
func GELU(x []float32) {
	const c = 0.7978845608028654 // √(2/π)
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Tanh(c*(f+0.044715*f*f*f))))
	}
}

func dotGeneric(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func axpyGeneric(y []float32, a float32, x []float32) {
	for i, v := range x {
		y[i] += a * v
	}
}

func sumSquaresGeneric(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v * v
	}
	return s
}

func scaleGeneric(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}
