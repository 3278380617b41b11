package quantize

import (
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// ErrorStats accumulates the quantization error of a tensor: Σw², Σ(w − ŵ)² and max|w − ŵ|
// over every element, in float64 with compensated sums. Accumulate chunks in separate values
// (one per goroutine) and combine them with [ErrorStats.Merge]. The zero value is empty.
type ErrorStats struct {
	n      int64
	sig    kernel.Sum // Σ w²
	noise  kernel.Sum // Σ (w − ŵ)²
	maxAbs float64
	// Importance-weighted sums (AddWeighted): Σ qw·w², Σ qw·(w − ŵ)².
	wsig, wnoise kernel.Sum
}

// AddWeighted accumulates the importance-weighted sums of one row (imp: one weight per
// column) in addition to what [ErrorStats.Add] records.
func (e *ErrorStats) AddWeighted(orig, decoded, imp []float32) {
	e.Add(orig, decoded)
	for i, w := range orig {
		d := float64(w) - float64(decoded[i])
		q := float64(imp[i])
		e.wsig.Add(q * float64(w) * float64(w))
		e.wnoise.Add(q * d * d)
	}
}

// WRelL2 returns the importance-weighted relative error √(Σqw·(w − ŵ)² / Σqw·w²), or 0 when
// no weighted rows were added.
func (e *ErrorStats) WRelL2() float64 {
	n, s := e.wnoise.Value(), e.wsig.Value()
	if n == 0 || s == 0 {
		return 0
	}
	return math.Sqrt(n / s)
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
		e.sig.Add(sig)
		e.noise.Add(noise)
		e.n += int64(n)
		orig, decoded = orig[n:], decoded[n:]
	}
}

// addSums accumulates n elements whose Σw², Σ(w − ŵ)² and max |w − ŵ| were computed
// elsewhere (by a fused encoder).
func (e *ErrorStats) addSums(n int64, sig, noise, maxAbs float64) {
	e.n += n
	e.sig.Add(sig)
	e.noise.Add(noise)
	if maxAbs > e.maxAbs || math.IsNaN(maxAbs) {
		e.maxAbs = maxAbs
	}
}

// Merge adds the elements accumulated in o.
func (e *ErrorStats) Merge(o ErrorStats) {
	e.n += o.n
	e.sig.Merge(o.sig)
	e.noise.Merge(o.noise)
	e.wsig.Merge(o.wsig)
	e.wnoise.Merge(o.wnoise)
	if o.maxAbs > e.maxAbs || math.IsNaN(o.maxAbs) {
		e.maxAbs = o.maxAbs
	}
}

// Count returns the number of elements accumulated.
func (e *ErrorStats) Count() int64 { return e.n }

// RelL2 returns the relative L2 error ‖W − Ŵ‖₂ / ‖W‖₂ (dimensionless; 0 when nothing was
// lost, +Inf when W = 0 but Ŵ ≠ 0).
func (e *ErrorStats) RelL2() float64 {
	n, s := e.noise.Value(), e.sig.Value()
	if n == 0 {
		return 0
	}
	return math.Sqrt(n / s)
}

// SNRdB returns the signal-to-noise ratio 10·log10(Σw² / Σ(w − ŵ)²) in decibels (+Inf when
// the decoding is exact).
func (e *ErrorStats) SNRdB() float64 {
	n, s := e.noise.Value(), e.sig.Value()
	if n == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s/n)
}

// MaxAbs returns max |w − ŵ| over all elements (NaN if a decoded value was NaN).
func (e *ErrorStats) MaxAbs() float64 { return e.maxAbs }
