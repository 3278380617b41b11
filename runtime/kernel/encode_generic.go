package kernel

import "math"

// The Go side of encode.go's operations. The references of the block, FP8 and SFP8
// encoders are package quantize's scalar encoders (their tests compare the bytes block for
// block); here are the loops every implementation finishes with.

// add counts n encoded elements whose error sums (Σw², Σ(w − ŵ)², max |w − ŵ|) are sums.
func (s *EncodeSums) add(n int, sums [3]float64) {
	s.N += int64(n)
	s.Signal += sums[0]
	s.Noise += sums[1]
	s.MaxAbs = max(s.MaxAbs, sums[2])
}

// widenBF16Generic is WidenBF16 from element lo on.
func widenBF16Generic(dst []float32, src []byte, lo int) {
	for i := lo; i < len(dst); i++ {
		dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
	}
}

// maxAbsBitsGeneric is MaxAbsBits of x merged into m.
func maxAbsBitsGeneric(x []float32, m uint32) uint32 {
	for _, v := range x {
		m = max(m, math.Float32bits(v)&0x7fffffff)
	}
	return m
}
