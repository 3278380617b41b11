package quantize

import (
	"math"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// i4Candidates is the number of clipping ratios [I4Search] tries (α = 1.00 … 0.50).
const i4Candidates = 51

// i4Search returns the scale [I4Search] picks for row x with absmax scale s0 > 0: the
// candidate with the smallest squared error, the larger α on a tie.
//
// Where the machine has the vector path, every candidate's error is first summed in vector
// lanes (kernel.I4SqErrs), which may differ from the sequential float64 sum by a relative
// n·2⁻⁵³. Only the candidates within a relative 1e-8 of the smallest such sum can be the
// sequential minimum (for rows below 4·10⁷ values); when there are several, their sequential
// sums decide, so the choice is the one of the sequential search.
func i4Search(x []float32, s0 float32) float32 {
	var scales [i4Candidates]float32
	var alive [i4Candidates]bool
	for i := range i4Candidates {
		k := 100 - i
		sk := s0
		if k != 100 {
			sk = s0 * (float32(k) / 100)
		}
		scales[i], alive[i] = sk, sk != 0
	}
	var approx [i4Candidates]float64
	n := 0
	if alive[i4Candidates-1] { // every candidate is positive: the vector path takes them all
		n = kernel.I4SqErrs(approx[:], x, scales[:])
	}
	if n > 0 {
		for i := range approx {
			approx[i] += i4SqErr(x[n:], scales[i], math.Inf(1))
		}
		low := math.Inf(1)
		for _, e := range approx {
			low = min(low, e)
		}
		limit := low * (1 + 1e-8)
		count := 0
		for i, e := range approx {
			alive[i] = e <= limit
			if alive[i] {
				count++
			}
		}
		if count == 1 {
			for i := range alive {
				if alive[i] {
					return scales[i]
				}
			}
		}
	}
	// The sequential search over the remaining candidates, in order of decreasing α.
	s, best := float32(0), math.Inf(1)
	for i := range i4Candidates {
		if !alive[i] {
			continue
		}
		if s == 0 {
			s, best = scales[i], i4SqErr(x, scales[i], math.Inf(1))
			if best == 0 {
				break
			}
			continue
		}
		if e := i4SqErr(x, scales[i], best); e < best {
			s, best = scales[i], e
			if best == 0 {
				break
			}
		}
	}
	return s
}
