package quantize

import (
	"fmt"
	"math"
)

// sum is a float64 accumulator with Neumaier's compensation.
type sum struct{ s, c float64 }

func (k *sum) add(x float64) {
	t := k.s + x
	if math.Abs(k.s) >= math.Abs(x) {
		k.c += (k.s - t) + x
	} else {
		k.c += (x - t) + k.s
	}
	k.s = t
}

func (k *sum) merge(o sum) { k.add(o.s); k.add(o.c) }

func (k sum) value() float64 { return k.s + k.c }

// ErrorStats accumulates the quantization error of a tensor: Σw², Σ(w − ŵ)² and max|w − ŵ|
// over every element, in float64 with compensated sums. Accumulate chunks in separate values
// (one per goroutine) and combine them with [ErrorStats.Merge]. The zero value is empty.
type ErrorStats struct {
	n      int64
	sig    sum // Σ w²
	noise  sum // Σ (w − ŵ)²
	maxAbs float64
}

// Add accumulates one chunk of original values and their decoded counterparts. It panics if
// the lengths differ. Runs of 64 squares are summed plainly in float64 and each run's sum
// added with compensation.
func (e *ErrorStats) Add(orig, decoded []float32) {
	if len(orig) != len(decoded) {
		panic(fmt.Sprintf("quantize.ErrorStats.Add: len(orig) = %d, len(decoded) = %d", len(orig), len(decoded)))
	}
	for len(orig) > 0 {
		n := min(64, len(orig))
		var sig, noise float64
		for i, w := range orig[:n] {
			wf := float64(w)
			d := wf - float64(decoded[i])
			sig += float64(wf * wf)
			noise += float64(d * d)
			if a := math.Abs(d); a > e.maxAbs || math.IsNaN(a) {
				e.maxAbs = a
			}
		}
		e.sig.add(sig)
		e.noise.add(noise)
		e.n += int64(n)
		orig, decoded = orig[n:], decoded[n:]
	}
}

// addSums accumulates n elements whose Σw², Σ(w − ŵ)² and max |w − ŵ| were computed
// elsewhere (by a fused encoder).
func (e *ErrorStats) addSums(n int64, sig, noise, maxAbs float64) {
	e.n += n
	e.sig.add(sig)
	e.noise.add(noise)
	if maxAbs > e.maxAbs || math.IsNaN(maxAbs) {
		e.maxAbs = maxAbs
	}
}

// Merge adds the elements accumulated in o.
func (e *ErrorStats) Merge(o ErrorStats) {
	e.n += o.n
	e.sig.merge(o.sig)
	e.noise.merge(o.noise)
	if o.maxAbs > e.maxAbs || math.IsNaN(o.maxAbs) {
		e.maxAbs = o.maxAbs
	}
}

// Count returns the number of elements accumulated.
func (e *ErrorStats) Count() int64 { return e.n }

// RelL2 returns the relative L2 error ‖W − Ŵ‖₂ / ‖W‖₂ (dimensionless; 0 when nothing was
// lost, +Inf when W = 0 but Ŵ ≠ 0).
func (e *ErrorStats) RelL2() float64 {
	n, s := e.noise.value(), e.sig.value()
	if n == 0 {
		return 0
	}
	return math.Sqrt(n / s)
}

// SNRdB returns the signal-to-noise ratio 10·log10(Σw² / Σ(w − ŵ)²) in decibels (+Inf when
// the decoding is exact).
func (e *ErrorStats) SNRdB() float64 {
	n, s := e.noise.value(), e.sig.value()
	if n == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s/n)
}

// MaxAbs returns max |w − ŵ| over all elements (NaN if a decoded value was NaN).
func (e *ErrorStats) MaxAbs() float64 { return e.maxAbs }
