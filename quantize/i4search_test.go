package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
)

// i4SearchSeq is the sequential clipping search as I4Search documents it.
func i4SearchSeq(x []float32, s0 float32) float32 {
	s := s0
	best := i4SqErr(x, s0, math.Inf(1))
	for k := 99; k >= 50 && best > 0; k-- {
		sk := s0 * (float32(k) / 100)
		if sk == 0 {
			continue
		}
		if e := i4SqErr(x, sk, best); e < best {
			s, best = sk, e
		}
	}
	return s
}

// TestI4SearchSequential checks the (vector-assisted) search against the sequential one on
// rows made to tie: small integers, constant rows, a few distinct values, and plain noise.
func TestI4SearchSequential(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for it := range 3000 {
		n := []int{16, 17, 32, 48, 100, 1152}[it%6]
		x := make([]float32, n)
		switch it % 4 {
		case 0:
			for i := range x {
				x[i] = float32(rng.IntN(15) - 7)
			}
		case 1:
			c := float32(rng.NormFloat64())
			for i := range x {
				x[i] = c
			}
		case 2:
			vals := []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64()), 0}
			for i := range x {
				x[i] = vals[rng.IntN(3)]
			}
		default:
			for i := range x {
				x[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()))
			}
		}
		s0 := MaxAbs(x) / 7
		if s0 == 0 {
			continue
		}
		if got, want := i4Search(x, s0), i4SearchSeq(x, s0); got != want {
			t.Fatalf("row %d (%d values, kind %d): scale %v, sequential search picks %v", it, n, it%4, got, want)
		}
	}
}
