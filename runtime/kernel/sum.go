package kernel

import "math"

// Sum is a float64 accumulator with Neumaier's compensation: the rounding error of every
// addition is collected in a second term, so a long series sums to within a few ulps of the
// exact value regardless of its length or order. The zero value is empty. It is the one
// compensated sum of the project (quantization error statistics, perplexity, KL divergence).
type Sum struct{ s, c float64 }

// Add adds x.
func (k *Sum) Add(x float64) {
	t := k.s + x
	if math.Abs(k.s) >= math.Abs(x) {
		k.c += (k.s - t) + x
	} else {
		k.c += (x - t) + k.s
	}
	k.s = t
}

// Merge adds the values accumulated in o.
func (k *Sum) Merge(o Sum) { k.Add(o.s); k.Add(o.c) }

// Value returns the compensated sum.
func (k Sum) Value() float64 { return k.s + k.c }
