//go:build !purego

package kernel

func encodeQ4_0(codes, scales []byte, x []float32, s *EncodeSums) int {
	nb := len(x) / 32
	if !featAVX512.on() || nb == 0 {
		return 0
	}
	var sums [3]float64
	n := encQ4AVX512(&codes[0], &scales[0], &x[0], nb, &sums)
	s.add(n, sums)
	return n
}

func encodeQ8_0(codes, scales []byte, x []float32, s *EncodeSums) int {
	nb := len(x) / 32
	if !featAVX512.on() || nb == 0 {
		return 0
	}
	var sums [3]float64
	n := encQ8AVX512(&codes[0], &scales[0], &x[0], nb, &sums)
	s.add(n, sums)
	return n
}

func (s *EncodeSums) add(blocks int, sums [3]float64) {
	s.N += 32 * int64(blocks)
	s.Signal += sums[0]
	s.Noise += sums[1]
	s.MaxAbs = max(s.MaxAbs, sums[2])
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
	s.N += int64(n)
	s.Signal += sums[0]
	s.Noise += sums[1]
	s.MaxAbs = max(s.MaxAbs, sums[2])
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
	s.N += int64(n)
	s.Signal += sums[0]
	s.Noise += sums[1]
	s.MaxAbs = max(s.MaxAbs, sums[2])
	return n
}
