package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestErrorStats(t *testing.T) {
	var e ErrorStats
	e.Add([]float32{3, 4}, []float32{3, 4})
	if e.RelL2() != 0 || !math.IsInf(e.SNRdB(), 1) || e.MaxAbs() != 0 || e.Count() != 2 {
		t.Errorf("exact: RelL2 %v SNR %v MaxAbs %v Count %d", e.RelL2(), e.SNRdB(), e.MaxAbs(), e.Count())
	}
	e.Add([]float32{0}, []float32{0.5})
	// Σw² = 25, Σ(w−ŵ)² = 0.25: RelL2 = 0.1, SNR = 20 dB.
	if got := e.RelL2(); math.Abs(got-0.1) > 1e-15 {
		t.Errorf("RelL2 = %v, want 0.1", got)
	}
	if got := e.SNRdB(); math.Abs(got-20) > 1e-12 {
		t.Errorf("SNRdB = %v, want 20", got)
	}
	if e.MaxAbs() != 0.5 {
		t.Errorf("MaxAbs = %v, want 0.5", e.MaxAbs())
	}
	var z ErrorStats
	z.Add([]float32{0}, []float32{1})
	if !math.IsInf(z.RelL2(), 1) {
		t.Errorf("RelL2 of a zero tensor decoded as 1 = %v, want +Inf", z.RelL2())
	}
}

// TestErrorStatsMerge: chunked accumulation merges to the whole, and compensation keeps
// small terms after a large one.
func TestErrorStatsMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	n := 10000
	orig, dec := make([]float32, n), make([]float32, n)
	for i := range orig {
		orig[i] = float32(rng.NormFloat64())
		dec[i] = orig[i] + float32(rng.NormFloat64()*1e-3)
	}
	var whole, merged ErrorStats
	whole.Add(orig, dec)
	for i := 0; i < n; i += 999 {
		var part ErrorStats
		part.Add(orig[i:min(n, i+999)], dec[i:min(n, i+999)])
		merged.Merge(part)
	}
	if merged.Count() != whole.Count() || merged.MaxAbs() != whole.MaxAbs() ||
		math.Abs(merged.RelL2()-whole.RelL2()) > 1e-14*whole.RelL2() {
		t.Errorf("merged %v %v %v, whole %v %v %v", merged.Count(), merged.RelL2(), merged.MaxAbs(), whole.Count(), whole.RelL2(), whole.MaxAbs())
	}
	// One huge signal term, then 1e6 tiny ones that plain float64 summation would drop.
	var c ErrorStats
	c.Add([]float32{1e8}, []float32{1e8})
	small := make([]float32, 1e6)
	for i := range small {
		small[i] = 1
	}
	c.Add(small, small)
	want := 1e16 + 1e6
	if got := 1 / (c.RelL2() + 1); got != 1 || c.sig.Value() != want {
		t.Errorf("compensated Σw² = %v, want %v", c.sig.Value(), want)
	}
}
