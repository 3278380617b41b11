package kernel

import "math"

// Sum is a float64 accumulator with Neumaier's compensation: the rounding error of every
// addition is collected in a second term, so a long series sums to within a few ulps of the
// exact value regardless of its length or order. The zero value is empty. It is the one
// compensated sum of the project (quantization error statistics, perplexity, KL divergence).
type Sum struct{ s, c float64 }

// Add adds x.
func (k *Sum) Add(x float64) { Neumaier(&k.s, &k.c, x) }

// Neumaier adds x to the compensated sum held in sum (the running sum) and c (the collected
// rounding errors; the value is sum + c): the step [Sum] is made of, for callers that keep the
// two terms in their own fields.
func Neumaier(sum, c *float64, x float64) {
	t := *sum + x
	if math.Abs(*sum) >= math.Abs(x) {
		*c += (*sum - t) + x
	} else {
		*c += (x - t) + *sum
	}
	*sum = t
}

// Merge adds the values accumulated in o.
func (k *Sum) Merge(o Sum) { k.Add(o.s); k.Add(o.c) }

// Value returns the compensated sum.
func (k Sum) Value() float64 { return k.s + k.c }
