//go:build !purego

package kernel

// encQ4AVX512 encodes up to nb Q4_0 blocks of x and returns how many it encoded; sums gets
// Σw², Σ(w − ŵ)² added and max |w − ŵ| merged.
//
//go:noescape
func encQ4AVX512(codes, scales *byte, x *float32, nb int, sums *[3]float64) int

// encQ8AVX512 is encQ4AVX512 for Q8_0.
//
//go:noescape
func encQ8AVX512(codes, scales *byte, x *float32, nb int, sums *[3]float64) int

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

// widenBF16AVX512 widens n bfloat16 values (n a multiple of 64) to float32.
//
//go:noescape
func widenBF16AVX512(dst *float32, src *byte, n int)

// widenBF16 widens the leading multiple of 64 elements and returns how many it did.
func widenBF16(dst []float32, src []byte) int {
	n := len(dst) &^ 63
	if !featAVX512.on() || n == 0 {
		return 0
	}
	widenBF16AVX512(&dst[0], &src[0], n)
	return n
}

// i4ErrAVX512 is I4SqErrs over n elements (a multiple of 16) and ns scales.
//
//go:noescape
func i4ErrAVX512(x *float32, n int, scales *float32, ns int, errs *float64)

func i4SqErrs(errs []float64, x []float32, scales []float32) int {
	n := len(x) &^ 15
	if !featAVX512.on() || n == 0 || len(scales) == 0 {
		return 0
	}
	i4ErrAVX512(&x[0], n, &scales[0], len(scales), &errs[0])
	return n
}

// encSFP8AVX512 encodes n values (a multiple of 16) as SFP8 and reports whether every
// |float32(w·inv)| stayed within limit.
//
//go:noescape
func encSFP8AVX512(codes *byte, x *float32, n int, inv, limit, scale float32, sums *[3]float64) bool

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

// maxAbsBitsAVX512 is MaxAbsBits over n values (a multiple of 64).
//
//go:noescape
func maxAbsBitsAVX512(x *float32, n int) uint32

func maxAbsBits(x []float32) (int, uint32) {
	n := len(x) &^ 63
	if !featAVX512.on() || n == 0 {
		return 0, 0
	}
	return n, maxAbsBitsAVX512(&x[0], n)
}

// encFP8AVX512 encodes n values (a multiple of 16) as E4M3 codes of w/s.
//
//go:noescape
func encFP8AVX512(codes *byte, x *float32, n int, s float32, sums *[3]float64)

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
