package kernel

// Block encoders for package quantize: llama.cpp's reference Q4_0 and Q8_0 rounding
// (quantize_row_q4_0_ref, quantize_row_q8_0_ref) with the quantization error accumulated in
// the same pass. They write the same bytes as the scalar encoders of package quantize, which
// test them block for block; they stop at a block that needs the scalar path's care.

// EncodeSums accumulates what an encoder saw of the error it made: Σw², Σ(w − ŵ)² (float64,
// each block's terms summed in lanes and added per call) and max |w − ŵ|, over N elements.
type EncodeSums struct {
	N             int64
	Signal, Noise float64
	MaxAbs        float64
}

// EncodeQ4_0 encodes the leading whole blocks of x (len(x)/32 blocks) as Q4_0: block b's 16
// code bytes go to codes[16b:], its f16 scale (little-endian) to scales[2b:]. It returns the
// number of blocks it encoded, which is smaller than len(x)/32 when block n holds a non-finite
// value, its scale overflows f16, or the scale's reciprocal overflows float32 (the caller
// encodes that block itself and calls again with the rest), and 0 on machines without the
// vector path. The error of the encoded blocks is added to s.
func EncodeQ4_0(codes, scales []byte, x []float32, s *EncodeSums) int {
	nb := len(x) / 32
	if len(codes) < 16*nb || len(scales) < 2*nb {
		panic("kernel.EncodeQ4_0: codes or scales shorter than the blocks of x")
	}
	return encodeQ4_0(codes, scales, x[:32*nb], s)
}

// EncodeQ8_0 is [EncodeQ4_0] for Q8_0: block b's 32 int8 codes go to codes[32b:].
func EncodeQ8_0(codes, scales []byte, x []float32, s *EncodeSums) int {
	nb := len(x) / 32
	if len(codes) < 32*nb || len(scales) < 2*nb {
		panic("kernel.EncodeQ8_0: codes or scales shorter than the blocks of x")
	}
	return encodeQ8_0(codes, scales, x[:32*nb], s)
}

// WidenBF16 sets dst[i] to the bfloat16 value in src[2i:2i+2] (little-endian) widened to
// float32, which is exact: the bits move up by 16. It panics if src is shorter than 2·len(dst).
func WidenBF16(dst []float32, src []byte) {
	if len(src) < 2*len(dst) {
		panic("kernel.WidenBF16: src shorter than 2·len(dst)")
	}
	widenBF16Generic(dst, src, widenBF16(dst, src))
}

// I4SqErrs sets errs[k], for each candidate scale s = scales[k], to the squared error
// Σᵢ (float64(xᵢ) − float64(float32(q(xᵢ, s)·s)))² of the per-channel int4 rounding
// q(x, s) = clamp(rne(float32(x/s)), −8, 7), each square rounded to float64 before it is added,
// over the leading n elements of x, and returns n: a multiple of 16, 0 on machines without the
// vector path. The summation order is the vector lanes', so a sum may differ from a
// sequential one by a relative n·2⁻⁵³. Scales must be positive and finite.
func I4SqErrs(errs []float64, x []float32, scales []float32) int {
	if len(errs) < len(scales) {
		panic("kernel.I4SqErrs: errs shorter than scales")
	}
	return i4SqErrs(errs, x, scales)
}

// EncodeSFP8 encodes the leading values of x (a multiple of 16 of them) as SFP8 codes of
// float32(x·inv) as gemma.cpp's encoder does (package quantize's SFP8, magnitudes clamped to
// 1.875), adding the error against the decoding times scale to s, and returns how many it
// encoded: 0 on machines without the vector path. ok is false, and nothing counts as
// encoded, when some |float32(x·inv)| exceeds limit (the caller reports it).
func EncodeSFP8(codes []byte, x []float32, inv, limit, scale float32, s *EncodeSums) (n int, ok bool) {
	if len(codes) < len(x) {
		panic("kernel.EncodeSFP8: codes shorter than x")
	}
	return encodeSFP8(codes, x, inv, limit, scale, s)
}

// MaxAbsBits returns the largest bit pattern of |x[i]| (sign cleared): the bits of max |x[i]|
// when every value is finite, at least 0x7F800000 when some value is ±Inf or NaN; 0 for an
// empty slice.
func MaxAbsBits(x []float32) uint32 {
	n, m := maxAbsBits(x)
	return maxAbsBitsGeneric(x[n:], m)
}

// EncodeFP8 encodes the leading values of x (a multiple of 16 of them; x finite) as OCP FP8
// E4M3 codes of x/scale as package quantize's E4M3 does (ties to even, saturating at ±448),
// adds the error against the decoding times scale to s, and returns how many it encoded: 0
// on machines without the vector path. scale must be positive and finite.
func EncodeFP8(codes []byte, x []float32, scale float32, s *EncodeSums) int {
	if len(codes) < len(x) {
		panic("kernel.EncodeFP8: codes shorter than x")
	}
	return encodeFP8(codes, x, scale, s)
}
