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

// Softmax replaces x by softmax(x) in place: exp(x[i] − max) / Σ exp(x[j] − max), with the
// fast float32 exp (below 2 ulp; measured 1.3·2⁻²⁴ relative; see expf32) and a float64 sum. An empty x is
// left alone; −Inf entries become 0; a NaN or +Inf entry makes every output NaN.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	softmax(x)
}

// ExpShift replaces x by exp(x[i] − m), m = max x, and returns m and Σ exp(x[i] − m) (summed
// in float64): the unnormalised softmax, for callers that merge softmax pieces computed apart
// (Softmax is ExpShift followed by a scale by 1/sum). An empty x gives (−Inf, 0); a NaN in x
// makes m NaN.
func ExpShift(x []float32) (m float32, sum float64) {
	if len(x) == 0 {
		return float32(math.Inf(-1)), 0
	}
	return expShift(x)
}

// GELU applies the tanh approximation of GELU in place,
// 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), evaluated in float32 as the equal
// x / (1 + exp(−2u)) with the fast exp (no cancellation for negative x). Its error against the
// float64 formula is at most 2⁻²¹·(1 + |2u|)·|GELU(x)| + 2⁻¹²⁶·|x| (measured: 2.9·2⁻²⁴·(1 +
// |2u|)·|GELU(x)|); the |2u| factor is the float32 rounding of u, amplified where GELU(x) is
// far below x (x below about −3).
func GELU(x []float32) { gelu(x) }

// ScaleMul computes dst[i] = (x[i]·a)·w[i] in float32 (two roundings, as written): the apply
// step of RMSNorm. It panics if the lengths differ; dst may be x.
func ScaleMul(dst, x []float32, a float32, w []float32) {
	if len(dst) != len(x) || len(w) != len(x) {
		panic(fmt.Sprintf("kernel: ScaleMul: len(dst) = %d, len(x) = %d, len(w) = %d", len(dst), len(x), len(w)))
	}
	scaleMul(dst, x, a, w)
}

// Add computes y[i] += x[i]. It panics if the lengths differ.
func Add(y, x []float32) {
	if len(y) != len(x) {
		panic(fmt.Sprintf("kernel: Add: len(y) = %d, len(x) = %d", len(y), len(x)))
	}
	add(y, x)
}

// RoPE rotates the pairs (x[i], x[i+h]), h = len(cos), by the angles whose cosines and sines are
// given: x[i] = x[i]·cos[i] − x[i+h]·sin[i], x[i+h] = x[i+h]·cos[i] + x[i]·sin[i] (each product
// rounded, then the sum: no fused multiply-add). It panics unless len(x) = 2·len(cos) =
// 2·len(sin).
func RoPE(x, cos, sin []float32) {
	if len(sin) != len(cos) || len(x) != 2*len(cos) {
		panic(fmt.Sprintf("kernel: RoPE: len(x) = %d, len(cos) = %d, len(sin) = %d", len(x), len(cos), len(sin)))
	}
	rope(x, cos, sin)
}
