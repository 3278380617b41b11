package quantize

import (
	"math"
)

// sfp8Max is the largest SFP8 magnitude (gemma.cpp's SfpStream::kMax), 1.875 = 1.111b·2⁰.
const sfp8Max = 1.875

// E4M3 encodes v as OCP FP8 E4M3FN: round to the nearest representable value with ties to
// even (subnormals included, sign of zero kept); magnitudes beyond 448 saturate to ±448
// (0x7E/0xFE), so finite input never gives NaN. NaN gives 0x7F (with its sign).
func E4M3(v float32) byte {
	b := math.Float32bits(v)
	sign := byte(b>>24) & 0x80
	a := b & 0x7FFFFFFF
	switch {
	case a > 0x7F800000: // NaN
		return sign | 0x7F
	case a >= 0x43E00000: // ≥ 448 = 1.75·2⁸, ±Inf included: saturate
		return sign | 0x7E
	case a < 0x3C800000: // < 2⁻⁶: subnormal codes m·2⁻⁹
		// a·2⁹ is exact in float32 (power-of-two scaling, no overflow or underflow).
		q := math.RoundToEven(float64(math.Float32frombits(a) * 512))
		return sign | byte(q) // q = 8 is code 0x08 = 2⁻⁶
	}
	code := (a>>23-127+7)<<3 | (a>>20)&7
	rem := a & 0xFFFFF
	if rem > 0x80000 || rem == 0x80000 && code&1 == 1 {
		code++ // carries into the exponent; cannot pass 0x7E since a < 448
	}
	return sign | byte(code)
}

// SFP8 encodes v with gemma.cpp's vectorised SFP8 encoder (SfpCodec::EncBytes), which is
// what quant-formats.md section (c) specifies: truncate v to bf16, drop the bf16 mantissa LSB,
// choose the width (3 mantissa bits when |v| ≥ 1.1111b·2⁻⁸, else 2), round the remaining 6
// mantissa bits to that width with ties to even, flush results below 2⁻²³ to 0x00 and lift
// 2⁻²³ to 1.25·2⁻²³. This is not correctly rounded (63 bf16 inputs differ from exact
// rounding). Callers scale weights into [−1.875, 1.875] first ([SFP8Scale]); larger
// magnitudes saturate to ±1.875 (0x7F/0xFF). NaN gives the reserved code 0x80, which
// [format.SFP8ToFloat32] decodes as NaN.
func SFP8(v float32) byte {
	b := math.Float32bits(v)
	a := b & 0x7FFFFFFF
	if a > 0x7F800000 {
		return 0x80
	}
	sign := byte(b>>24) & 0x80
	if a > 0x3FF00000 { // 1.875
		a = 0x3FF00000
	}
	h := a >> 16 // truncated to bf16 (no rounding), sign removed
	e := int(h >> 7)
	m6 := (h & 0x7F) >> 1
	large := e > 119 || e == 119 && m6 >= 0x3C
	k := uint32(2)
	if large {
		k = 3
	}
	drop := 6 - k
	keep := m6 >> drop
	rem := m6 & (1<<drop - 1)
	half := uint32(1) << (drop - 1)
	if rem > half || rem == half && keep&1 == 1 {
		keep++
		if keep == 1<<k {
			keep = 0
			e++
		}
	}
	switch {
	case e < 104:
		return 0x00 // below 2⁻²³ after rounding; −0 is reserved, so the sign is dropped
	case e > 119: // large, including small values that rounded up to 2⁻⁷ (keep is 0 then)
		return sign | 0x40 | byte(e-120)<<3 | byte(keep)
	case e == 104 && keep == 0:
		keep = 1 // 1.0·2⁻²³ is the zero pattern: lift to 1.25·2⁻²³
	}
	return sign | byte(e-104)<<2 | byte(keep)
}

// SFP8Scale returns the per-tensor SFP8 scale for a tensor whose largest magnitude is maxabs
// (gemma.cpp's ScaleWeights): 1 when maxabs ≤ 1.875, else float32(maxabs / 1.875). maxabs
// must be finite; compute it over the whole tensor (for example with [MaxAbs] per chunk,
// merged with max) before encoding any row.
func SFP8Scale(maxabs float32) float32 {
	if maxabs <= sfp8Max {
		return 1
	}
	return maxabs / sfp8Max
}

// MaxAbs returns max |x[i]| (0 for an empty slice). NaN elements are skipped; ±Inf gives +Inf.
func MaxAbs(x []float32) float32 {
	var m float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > m {
			m = a
		}
	}
	return m
}
