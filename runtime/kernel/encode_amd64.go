//go:build !purego

package kernel

// Dispatch of encode.go's operations to the generated AVX-512 routines (encode_amd64.s,
// declared in encode_stubs_amd64.go) over the leading whole vectors; the callers finish the
// rest (encode_generic.go, or package quantize's scalar encoders for the blocks).

func encodeQ4_0(codes, scales []byte, x []float32, s *EncodeSums) int {
	return encodeBlocks(encQ4AVX512, codes, scales, x, s)
}

func encodeQ8_0(codes, scales []byte, x []float32, s *EncodeSums) int {
	return encodeBlocks(encQ8AVX512, codes, scales, x, s)
}

// encodeBlocks runs a block encoder over the whole blocks of x and adds what it encoded to s.
func encodeBlocks(enc func(codes, scales *byte, x *float32, nb int, sums *[3]float64) int, codes, scales []byte, x []float32, s *EncodeSums) int {
	nb := len(x) / 32
	if !featAVX512.on() || nb == 0 {
		return 0
	}
	var sums [3]float64
	n := enc(&codes[0], &scales[0], &x[0], nb, &sums)
	s.add(32*n, sums)
	return n
}

// widenBF16 widens the leading multiple of 64 elements and returns how many it did.
func widenBF16(dst []float32, src []byte) int {
	n := len(dst) &^ 63
	if !featAVX512.on() || n == 0 {
		return 0
	}
	widenBF16AVX512(&dst[0], &src[0], n)
	return n
}

func i4SqErrs(errs []float64, x []float32, scales []float32) int {
	n := len(x) &^ 15
	if !featAVX512.on() || n == 0 || len(scales) == 0 {
		return 0
	}
	i4ErrAVX512(&x[0], n, &scales[0], len(scales), &errs[0])
	return n
}

func encodeSFP8(codes []byte, x []float32, inv, limit, scale float32, s *EncodeSums) (int, bool) {
	n := len(x) &^ 15
	if !featAVX512.on() || n == 0 {
		return 0, true
	}
	var sums [3]float64
	if !encSFP8AVX512(&codes[0], &x[0], n, inv, limit, scale, &sums) {
		return 0, false
	}
	s.add(n, sums)
	return n, true
}

func maxAbsBits(x []float32) (int, uint32) {
	n := len(x) &^ 63
	if !featAVX512.on() || n == 0 {
		return 0, 0
	}
	return n, maxAbsBitsAVX512(&x[0], n)
}

func encodeFP8(codes []byte, x []float32, scale float32, s *EncodeSums) int {
	n := len(x) &^ 15
	if !featAVX512.on() || n == 0 {
		return 0
	}
	var sums [3]float64
	encFP8AVX512(&codes[0], &x[0], n, scale, &sums)
	s.add(n, sums)
	return n
}
