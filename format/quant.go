// Packed tensor payloads: layouts and scalar reference decoders.
//
// A packed tensor of shape [d0, d1, ...] is a matrix of Rows = d0 by Cols = d1·d2·… (Cols is
// the "in" axis of an HF [out, in] weight). Its payload is planar: first the codes plane, row
// after row (row r starts at r·RowStride), then, at the next multiple of [PlaneAlign] (64), the
// scales plane. Padding between the planes is zero. Everything is little-endian. Size(R, C) is
// the payload length; align64(n) rounds n up to a multiple of 64. The values match
// quant-formats.md (the project's quantization spec) bit for bit; the per-type encoder rules
// live in package quantize.
//
// Layout: Q8_0 (llama.cpp Q8_0, GGUF 8). nb = C/32 blocks per row (C must be a multiple of
// 32). Codes: int8, one byte per element, element c of row r at byte r·C + c. Scales: one f16
// (binary16) d per block, block b of row r at byte ScalesOff + 2·(r·nb + b). Decode
// y = float32(int8 code) · float32(d). A llama.cpp block (d, qs[32]) is the scale plus the 32
// code bytes of one block.
//
//	codes  [R][C]int8     | row r: q(r,0) q(r,1) … q(r,C−1)
//	pad    to align64
//	scales [R][nb]f16     | d(0,0) d(0,1) … d(0,nb−1) d(1,0) …
//	Size(R, C) = align64(R·C) + 2·R·C/32
//
// Layout: Q4_0 (llama.cpp Q4_0, GGUF 2). nb = C/32. Codes: 16 bytes per block, the blocks of
// row r at bytes r·C/2 + 16·b; byte j (0…15) of a block holds element 32b+j in its low nibble
// and element 32b+j+16 in its high nibble (llama.cpp's order). Scales: f16 d per block, as for
// Q8_0. Decode y = float32(nibble − 8) · float32(d); d is often negative, so nibble 8 decodes
// to −0.0 there.
//
//	codes  [R][nb][16]byte | byte j: lo = q(32b+j), hi = q(32b+j+16)
//	pad    to align64
//	scales [R][nb]f16
//	Size(R, C) = align64(R·C/2) + 2·R·C/32
//
// Layout: I4 (per-channel symmetric int4). RowStride = ceil(C/2). Codes: element 2i of a row
// in the low nibble of byte i, element 2i+1 in its high nibble, each nibble q+8 with q in
// [−8, 7] (the spec's amax/7 scale only produces [−7, 7]; the default clipping search of
// package quantize may also produce −8); an odd C pads the last high nibble with 8 (readers
// ignore it). Scales: one float32 s > 0 per row at ScalesOff + 4·r (1 for an all-zero row).
// Decode y = float32(nibble − 8) · s, whichever rule chose s.
//
//	codes  [R][ceil(C/2)]byte | byte i: lo = q(2i)+8, hi = q(2i+1)+8
//	pad    to align64
//	scales [R]f32
//	Size(R, C) = align64(R·ceil(C/2)) + 4·R
//
// Layout: FP8 (OCP FP8 E4M3FN with a per-row scale). Codes: one E4M3 byte per element, row r
// at r·C. Scales: one float32 s per row at ScalesOff + 4·r. Decode y = E4M3(code) · s
// ([E4M3ToFloat32]). Codes 0x7F and 0xFF are NaN; no encoder writes them.
//
//	codes  [R][C]byte (s eeee mmm)
//	pad    to align64
//	scales [R]f32
//	Size(R, C) = align64(R·C) + 4·R
//
// Layout: SFP8 (gemma.cpp switched floating point). Codes only: one byte per element, row r at
// r·C; no scales plane. The per-tensor float32 scale lives in the tensor's directory entry.
// Decode y = SFP8(code) · tensorScale ([SFP8ToFloat32]). Code 0x80 (−0) is reserved.
//
//	codes  [R][C]byte (s 1 eee mmm | s 0 eeee mm)
//	Size(R, C) = R·C
//
// The plain types F32, F16 and BF16 are one plane of little-endian elements, row-major.
//
// Every decoder here is scalar and is the ground truth that fast kernels are tested against:
// each element is one float32 product of the exact code value and the exact float32 scale, so
// there is a single rounding. A per-tensor scale other than 1 multiplies each decoded value
// afterwards (one more rounding; only SFP8 uses one, and there SFP8(code) is exact, so SFP8
// still rounds once).

package format

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// F16ToFloat32 widens an IEEE binary16 value (exact, subnormals included; a signalling NaN
// becomes quiet, as VCVTPH2PS makes it). github.com/x448/float16 is the project's one f16
// codec: the kernels decode f16 with VCVTPH2PS in assembly and with this function in Go.
func F16ToFloat32(h uint16) float32 { return float16.Frombits(h).Float32() }

// Float32ToF16 rounds f to IEEE binary16, to nearest with ties to even, with subnormals;
// magnitudes that round beyond 65504 become ±Inf and NaN becomes a quiet NaN. This is the f16() of the
// quantization spec (ggml's conversion).
func Float32ToF16(f float32) uint16 { return uint16(float16.Fromfloat32(f)) }

// BF16ToFloat32 widens a bfloat16 value (exact: the bits become the top half of a float32).
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 rounds f to bfloat16, to nearest with ties to even; NaN stays a (quiet) NaN
// and magnitudes that round beyond the largest bfloat16 become ±Inf.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7FFFFFFF > 0x7F800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7FFF + (b>>16)&1) >> 16)
}

var e4m3Table = func() (t [256]float32) {
	for c := range 256 {
		e := (c >> 3) & 0xF
		m := c & 7
		var v float64
		switch {
		case e == 0xF && m == 7:
			v = math.NaN()
		case e == 0:
			v = math.Ldexp(float64(m)/8, -6)
		default:
			v = math.Ldexp(1+float64(m)/8, e-7)
		}
		if c&0x80 != 0 {
			v = -v
		}
		t[c] = float32(v)
	}
	return t
}()

// E4M3ToFloat32 decodes an OCP FP8 E4M3FN byte (s eeee mmm, bias 7, subnormals, no
// infinities; 0x7F and 0xFF are NaN; 0x80 is −0).
func E4M3ToFloat32(b byte) float32 { return e4m3Table[b] }

var sfp8Table = func() (t [256]float32) {
	for c := range 256 {
		m := uint32(c & 0x7F)
		var bf uint32
		switch {
		case m == 0:
			bf = 0
		case m < 0x40: // small: s 0 eeee mm → (1 + mm/4)·2^(eeee−23)
			bf = (0x34+m>>3)<<8 | (m<<5)&0xFF
		default: // large: s 1 eee mmm → (1 + mmm/8)·2^(eee−7)
			bf = (0x38+m>>4)<<8 | (m<<4)&0xFF
		}
		if c&0x80 != 0 {
			bf |= 0x8000
		}
		t[c] = math.Float32frombits(bf << 16)
	}
	t[0x80] = float32(math.NaN())
	return t
}()

// SFP8ToFloat32 decodes a gemma.cpp SFP8 byte: "large" codes s1eeemmm are (1 + mmm/8)·2^(eee−7),
// "small" codes s0eeeemm are (1 + mm/4)·2^(eeee−23), 0x00 is +0. Every value is exact in bf16
// and in float32.
//
// The reserved code 0x80 (−0, never written by an encoder) decodes to NaN, not to the −0.0
// gemma.cpp's arithmetic decoder would give: a corrupt weight then poisons every result it
// touches instead of passing for a valid zero, and [Dequantize] reports it as [ErrFormat].
func SFP8ToFloat32(b byte) float32 { return sfp8Table[b] }

// DecodeRow decodes row of a tensor of type t with layout l (from [LayoutOf]) from its payload
// into dst, then multiplies every value by tensorScale unless it is 1. It is the scalar
// reference for every dequantization kernel: the result is bit-exact as described in the
// Layout paragraphs above. It does not validate codes or scales (invalid codes decode to NaN).
//
// DecodeRow panics if l.DType is not t, row is outside [0, l.Rows), len(dst) is not l.Cols or
// payload is shorter than l.Size: the caller validates payload sizes when it opens a file.
func DecodeRow(dst []float32, t DType, l Layout, payload []byte, row int, tensorScale float32) {
	if l.DType != t {
		panic(fmt.Sprintf("format.DecodeRow: type %v, layout of %v", t, l.DType))
	}
	if row < 0 || int64(row) >= l.Rows {
		panic(fmt.Sprintf("format.DecodeRow: row %d outside [0, %d)", row, l.Rows))
	}
	if int64(len(dst)) != l.Cols {
		panic(fmt.Sprintf("format.DecodeRow: len(dst) = %d, row length %d", len(dst), l.Cols))
	}
	if int64(len(payload)) < l.Size {
		panic(fmt.Sprintf("format.DecodeRow: len(payload) = %d, layout size %d", len(payload), l.Size))
	}
	r := int64(row)
	codes := payload[l.CodesOff+r*l.RowStride : l.CodesOff+(r+1)*l.RowStride]
	if _, ok := superBlocks[t]; ok {
		decodeKRow(dst, l, payload, row)
		scaleRow(dst, tensorScale)
		return
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(codes[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(codes[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(codes[2*i:]))
		}
	case Q8_0:
		nb := l.Blocks()
		scales := payload[l.ScalesOff+2*r*nb:]
		for b := range int(nb) {
			d := F16ToFloat32(binary.LittleEndian.Uint16(scales[2*b:]))
			q := codes[b*BlockSize : (b+1)*BlockSize]
			y := dst[b*BlockSize : (b+1)*BlockSize]
			for j := range BlockSize {
				y[j] = float32(int8(q[j])) * d
			}
		}
	case Q4_0:
		nb := l.Blocks()
		scales := payload[l.ScalesOff+2*r*nb:]
		for b := range int(nb) {
			d := F16ToFloat32(binary.LittleEndian.Uint16(scales[2*b:]))
			q := codes[b*BlockSize/2 : (b+1)*BlockSize/2]
			y := dst[b*BlockSize : (b+1)*BlockSize]
			for j := range BlockSize / 2 {
				y[j] = float32(int(q[j]&0xF)-8) * d
				y[j+BlockSize/2] = float32(int(q[j]>>4)-8) * d
			}
		}
	case I4:
		s := math.Float32frombits(binary.LittleEndian.Uint32(payload[l.ScalesOff+4*r:]))
		for i := range dst {
			c := codes[i/2]
			if i&1 == 1 {
				c >>= 4
			}
			dst[i] = float32(int(c&0xF)-8) * s
		}
	case FP8:
		s := math.Float32frombits(binary.LittleEndian.Uint32(payload[l.ScalesOff+4*r:]))
		for i := range dst {
			dst[i] = E4M3ToFloat32(codes[i]) * s
		}
	case SFP8:
		for i := range dst {
			dst[i] = SFP8ToFloat32(codes[i])
		}
	default:
		panic(fmt.Sprintf("format.DecodeRow: type %v has no layout", t))
	}
	scaleRow(dst, tensorScale)
}

// scaleRow multiplies a decoded row by the per-tensor scale (every type carries one; 1 leaves
// the row as decoded).
func scaleRow(dst []float32, tensorScale float32) {
	if tensorScale != 1 {
		for i := range dst {
			dst[i] *= tensorScale
		}
	}
}

// Dequantize decodes a whole tensor of type t and shape into dst (len(dst) must be the element
// count) with [DecodeRow]. Unlike DecodeRow it checks its input and never panics on it: the
// payload must be exactly the layout's size, tensorScale must be finite and positive, and
// codes or scales that no encoder writes are reported as [ErrFormat] (after dst is filled):
// SFP8 code 0x80, FP8 codes 0x7F/0xFF (NaN) and non-finite block or row scales.
func Dequantize(dst []float32, t DType, shape []int64, payload []byte, tensorScale float32) error {
	l, err := LayoutOf(t, shape)
	if err != nil {
		return fmt.Errorf("format: dequantize: %w", err)
	}
	if int64(len(dst)) != l.Rows*l.Cols {
		return fmt.Errorf("format: dequantize %v %v: len(dst) = %d, want %d", t, shape, len(dst), l.Rows*l.Cols)
	}
	if int64(len(payload)) != l.Size {
		return fmt.Errorf("format: dequantize %v %v: payload is %d bytes, want %d: %w", t, shape, len(payload), l.Size, ErrFormat)
	}
	if !(tensorScale > 0) || math.IsInf(float64(tensorScale), 0) {
		return fmt.Errorf("format: dequantize %v %v: tensor scale %v is not finite and positive: %w", t, shape, tensorScale, ErrFormat)
	}
	cols := int(l.Cols)
	for r := range int(l.Rows) {
		DecodeRow(dst[r*cols:(r+1)*cols], t, l, payload, r, tensorScale)
	}
	return checkPayload(l, payload)
}

// checkPayload reports the first code or scale of a valid-sized payload that no encoder
// writes.
func checkPayload(l Layout, payload []byte) error {
	t := l.DType
	codes := payload[l.CodesOff : l.CodesOff+l.CodesLen]
	scales := payload[l.ScalesOff : l.ScalesOff+l.ScalesLen]
	bad := func(off int64, what string) error {
		return fmt.Errorf("format: dequantize %v: payload offset %#x: %s: %w", t, off, what, ErrFormat)
	}
	switch t {
	case SFP8:
		for i, c := range codes {
			if c == 0x80 {
				return bad(l.CodesOff+int64(i), "reserved sfp8 code 0x80")
			}
		}
	case FP8:
		for i, c := range codes {
			if c&0x7F == 0x7F {
				return bad(l.CodesOff+int64(i), fmt.Sprintf("e4m3 NaN code %#02x", c))
			}
		}
	}
	switch t {
	case Q8_0, Q4_0:
		for i := 0; i+1 < len(scales); i += 2 {
			if h := binary.LittleEndian.Uint16(scales[i:]); h&0x7C00 == 0x7C00 {
				return bad(l.ScalesOff+int64(i), fmt.Sprintf("f16 scale %#04x is not finite", h))
			}
		}
	case I4, FP8:
		for i := 0; i+3 < len(scales); i += 4 {
			s := math.Float32frombits(binary.LittleEndian.Uint32(scales[i:]))
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				return bad(l.ScalesOff+int64(i), fmt.Sprintf("row scale %v is not finite", s))
			}
		}
	}
	return nil
}
