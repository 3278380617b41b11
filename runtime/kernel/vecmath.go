package kernel

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
