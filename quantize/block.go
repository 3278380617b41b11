package quantize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// Sentinel errors of the encoders (match them with [errors.Is]).
var (
	// ErrNonFinite means an input value is NaN or ±Inf; nothing can encode it.
	ErrNonFinite = errors.New("quantize: value is not finite")
	// ErrScaleOverflow means a block's scale does not fit its storage type: the f16 scale of
	// Q4_0 (from |max| ≥ 524160) or Q8_0 (from amax ≥ 8321040), or the F16/BF16 element
	// itself. llama.cpp refuses such tensors too; use a type with a float32 scale instead.
	ErrScaleOverflow = errors.New("quantize: scale overflows its storage type")
)

const bs = format.BlockSize

// firstNonFinite returns the index of the first NaN or ±Inf in x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if b := math.Float32bits(v); b&0x7F800000 == 0x7F800000 {
			return i
		}
	}
	return -1
}

// q8Block encodes one Q8_0 block (quantize_row_q8_0_ref) into qs and returns the f16 bits of
// its scale. x must be finite.
func q8Block(qs []byte, x []float32) (uint16, error) {
	var amax float32
	for _, v := range x[:bs] {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d // from the unrounded float32 d
	}
	h := format.Float32ToF16(d)
	if h&0x7C00 == 0x7C00 {
		return 0, fmt.Errorf("q8_0 block amax %g: %w", amax, ErrScaleOverflow)
	}
	if math.IsInf(float64(id), 0) {
		// 1/d overflowed: every product is ±Inf or NaN, which x86-64 converts to code 0.
		clear(qs[:bs])
		return h, nil
	}
	for j, v := range x[:bs] {
		p := v * id                                     // one float32 rounding
		qs[j] = byte(int8(int(math.Round(float64(p))))) // roundf: ties away from zero; |p| ≤ 127 + ε
	}
	return h, nil
}

// q4Block encodes one Q4_0 block (quantize_row_q4_0_ref) into qs (16 bytes) and returns the
// f16 bits of its scale. x must be finite.
func q4Block(qs []byte, x []float32) (uint16, error) {
	var amax, max float32 // max: the signed value of the first largest magnitude
	for _, v := range x[:bs] {
		if a := float32(math.Abs(float64(v))); amax < a {
			amax, max = a, v
		}
	}
	d := max / -8 // +0 / −8 = −0 for an all-zero block
	var id float32
	if d != 0 {
		id = 1 / d
	}
	h := format.Float32ToF16(d)
	if h&0x7C00 == 0x7C00 {
		return 0, fmt.Errorf("q4_0 block max %g: %w", max, ErrScaleOverflow)
	}
	if math.IsInf(float64(id), 0) {
		clear(qs[:bs/2]) // as llama.cpp on x86-64: code 0 everywhere (see q8Block)
		return h, nil
	}
	var q [bs]byte
	for j, v := range x[:bs] {
		t := float32(v*id) + 8.5 // two roundings: the conversion forbids a fused multiply-add
		c := int(t)              // t ∈ [0.5, 16.5]: truncation is floor
		q[j] = byte(min(15, c))
	}
	for j := range bs / 2 {
		qs[j] = q[j] | q[j+bs/2]<<4
	}
	return h, nil
}

// EncodeQ8_0Block encodes 32 values as one llama.cpp Q8_0 block: dst[0:2] is the f16 scale d
// (little-endian), dst[2+j] the int8 code of x[j]. The bytes equal llama.cpp's
// quantize_row_q8_0_ref. It fails with [ErrNonFinite] or [ErrScaleOverflow].
func EncodeQ8_0Block(dst *[34]byte, x *[32]float32) error {
	if i := firstNonFinite(x[:]); i >= 0 {
		return fmt.Errorf("quantize: q8_0 block element %d = %v: %w", i, x[i], ErrNonFinite)
	}
	h, err := q8Block(dst[2:], x[:])
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	binary.LittleEndian.PutUint16(dst[:], h)
	return nil
}

// EncodeQ4_0Block encodes 32 values as one llama.cpp Q4_0 block: dst[0:2] is the f16 scale d
// (little-endian), dst[2+j] holds the code of x[j] in its low nibble and that of x[j+16] in its
// high nibble. The bytes equal llama.cpp's quantize_row_q4_0_ref. It fails with
// [ErrNonFinite] or [ErrScaleOverflow].
func EncodeQ4_0Block(dst *[18]byte, x *[32]float32) error {
	if i := firstNonFinite(x[:]); i >= 0 {
		return fmt.Errorf("quantize: q4_0 block element %d = %v: %w", i, x[i], ErrNonFinite)
	}
	h, err := q4Block(dst[2:], x[:])
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	binary.LittleEndian.PutUint16(dst[:], h)
	return nil
}
