package format

import (
	"encoding/binary"
	"fmt"
)

// llama.cpp's k-quants and IQ4_NL (format minor version 1).
//
// These types keep llama.cpp's blocks bit for bit but store them planar, like Q4_0: the codes
// plane holds, row after row, every super-block's quant bytes; the scales plane holds, at the
// next multiple of 64, every super-block's scale fields. Within each plane a super-block's
// fields keep llama.cpp's (ggml-common.h) order, so a llama.cpp block is the concatenation of
// the fields listed below (see [GGMLBlock]) and GGUF export is a gather. nb = C / n blocks per
// row (C must be a multiple of n).
//
//	type    n    GGUF  llama.cpp block (bytes)                          codes plane       scales plane
//	Q2_K    256  10    scales[16] qs[64] d dmin (84)                    qs 64             scales[16] d dmin (20)
//	Q3_K    256  11    hmask[32] qs[64] scales[12] d (110)              hmask qs 96       scales[12] d (14)
//	Q4_K    256  12    d dmin scales[12] qs[128] (144)                  qs 128            d dmin scales[12] (16)
//	Q5_K    256  13    d dmin scales[12] qh[32] qs[128] (176)           qh qs 160         d dmin scales[12] (16)
//	Q6_K    256  14    ql[128] qh[64] scales[16] d (210)                ql qh 192         scales[16] d (18)
//	IQ4_NL  32   20    d qs[16] (18)                                    qs 16             d (2)
//
// d and dmin are f16. Codes of row r, block b start at r·RowStride + b·codes; scale fields at
// ScalesOff + (r·nb + b)·scales. Size(R, C) = align64(R·nb·codes) + R·nb·scales. The decoders
// ([DecodeRow]) are llama.cpp's dequantize_row_* in float32, one rounding per operation.

// The k-quant and IQ4_NL types.
const (
	// Q4_K is llama.cpp's Q4_K (GGUF 12): super-blocks of 256 = 8 × 32 with 6-bit scales and
	// mins, 4.5 bits per weight.
	Q4_K DType = 21
	// Q5_K is llama.cpp's Q5_K (GGUF 13): as Q4_K with a fifth bit per code, 5.5 bits per weight.
	Q5_K DType = 22
	// Q6_K is llama.cpp's Q6_K (GGUF 14): 16 × 16 with 8-bit scales, 6-bit codes, 6.5625 bits.
	Q6_K DType = 23
	// IQ4_NL is llama.cpp's IQ4_NL (GGUF 20): blocks of 32 on a non-linear 16-level grid with an
	// f16 scale, 4.5 bits per weight.
	IQ4_NL DType = 24
	// Q2_K is llama.cpp's Q2_K (GGUF 10): 2.625 bits per weight.
	Q2_K DType = 25
	// Q3_K is llama.cpp's Q3_K (GGUF 11): 3.4375 bits per weight.
	Q3_K DType = 26
)

// segment is one field of a llama.cpp block: length bytes from the codes (scales=false) or
// scales plane of the super-block.
type segment struct {
	scales bool
	n      int
}

type superBlock struct {
	n, codes, scales int
	ggml             []segment // the llama.cpp block, field by field
	gguf             int
}

var superBlocks = map[DType]superBlock{
	Q2_K:   {256, 64, 20, []segment{{true, 16}, {false, 64}, {true, 4}}, 10},
	Q3_K:   {256, 96, 14, []segment{{false, 96}, {true, 14}}, 11},
	Q4_K:   {256, 128, 16, []segment{{true, 16}, {false, 128}}, 12},
	Q5_K:   {256, 160, 16, []segment{{true, 16}, {false, 160}}, 13},
	Q6_K:   {256, 192, 18, []segment{{false, 192}, {true, 18}}, 14},
	IQ4_NL: {32, 16, 2, []segment{{true, 2}, {false, 16}}, 20},
}

func init() {
	for t, n := range map[DType]string{Q2_K: "q2_k", Q3_K: "q3_k", Q4_K: "q4_k", Q5_K: "q5_k", Q6_K: "q6_k", IQ4_NL: "iq4_nl"} {
		dtypeNames[t] = n
	}
}

// SuperBlock returns, for a k-quant or IQ4_NL type, the elements per block and the bytes each
// block takes in the codes and scales planes (ok false for other types).
func SuperBlock(t DType) (n, codes, scales int, ok bool) {
	s, ok := superBlocks[t]
	return s.n, s.codes, s.scales, ok
}

// GGMLBlockSize returns the byte size of one llama.cpp block of a k-quant or IQ4_NL type.
func GGMLBlockSize(t DType) int {
	s := superBlocks[t]
	return s.codes + s.scales
}

// kLayout fills l for a k-quant or IQ4_NL type.
func kLayout(l Layout, s superBlock, shape []int64) (Layout, error) {
	if l.Cols%int64(s.n) != 0 {
		return Layout{}, fmt.Errorf("type %v needs a row length that is a multiple of %d, shape is %v", l.DType, s.n, shape)
	}
	nb := l.Cols / int64(s.n)
	l.RowStride = nb * int64(s.codes)
	l.CodesLen = l.Rows * l.RowStride
	l.ScalesOff = alignUp(l.CodesLen, PlaneAlign)
	l.ScalesLen = l.Rows * nb * int64(s.scales)
	l.Size = l.ScalesOff + l.ScalesLen
	return l, nil
}

// GGMLBlock gathers block b of row r of a k-quant or IQ4_NL payload into dst as llama.cpp's
// block (GGMLBlockSize bytes).
func GGMLBlock(dst []byte, l Layout, payload []byte, r, b int) {
	ggmlParts(l, payload, r, b, func(planar []byte, o int) { copy(dst[o:o+len(planar)], planar) })
}

// PutGGMLBlock scatters llama.cpp block src into block b of row r of the payload (the inverse
// of [GGMLBlock]).
func PutGGMLBlock(payload []byte, l Layout, r, b int, src []byte) {
	ggmlParts(l, payload, r, b, func(planar []byte, o int) { copy(planar, src[o:o+len(planar)]) })
}

// ggmlParts calls f for each part of llama.cpp's block b of row r, in block order, with the
// part's bytes in the planar payload and its offset in llama.cpp's block.
func ggmlParts(l Layout, payload []byte, r, b int, f func(planar []byte, o int)) {
	s := superBlocks[l.DType]
	nb := int(l.Cols) / s.n
	codes := payload[l.CodesOff+int64(r)*l.RowStride+int64(b*s.codes):]
	scales := payload[l.ScalesOff+int64((r*nb+b)*s.scales):]
	o, co, so := 0, 0, 0
	for _, g := range s.ggml {
		if g.scales {
			f(scales[so:so+g.n], o)
			so += g.n
		} else {
			f(codes[co:co+g.n], o)
			co += g.n
		}
		o += g.n
	}
}

// KValuesIQ4NL is IQ4_NL's grid (llama.cpp's kvalues_iq4nl).
var KValuesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func f16At(b []byte) float32 { return F16ToFloat32(binary.LittleEndian.Uint16(b)) }

// ScaleMinK4 unpacks the 6-bit scale and min of sub-block j from a Q4_K/Q5_K scales[12] field
// (llama.cpp's get_scale_min_k4).
func ScaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// DecodeGGMLBlock dequantizes one llama.cpp block blk of type t into y (n values), as
// llama.cpp's dequantize_row_* does, in float32 with one rounding per operation.
func DecodeGGMLBlock(y []float32, t DType, blk []byte) {
	switch t {
	case Q4_K, Q5_K:
		d, dmin := f16At(blk[0:]), f16At(blk[2:])
		sc := blk[4:16]
		qh, qs := blk[16:48], blk[16:]
		if t == Q5_K {
			qs = blk[48:]
		}
		u1, u2 := byte(1), byte(2)
		for j, is := 0, 0; j < 256; j, is = j+64, is+2 {
			s1, m1 := ScaleMinK4(is, sc)
			s2, m2 := ScaleMinK4(is+1, sc)
			d1, mm1 := float32(d*float32(s1)), float32(dmin*float32(m1))
			d2, mm2 := float32(d*float32(s2)), float32(dmin*float32(m2))
			q := qs[j/2 : j/2+32]
			for l := range 32 {
				lo, hi := int(q[l]&0xF), int(q[l]>>4)
				if t == Q5_K {
					if qh[l]&u1 != 0 {
						lo += 16
					}
					if qh[l]&u2 != 0 {
						hi += 16
					}
				}
				y[j+l] = float32(d1*float32(lo)) - mm1
				y[j+32+l] = float32(d2*float32(hi)) - mm2
			}
			u1, u2 = u1<<2, u2<<2
		}
	case Q6_K:
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		d := f16At(blk[208:])
		for n := 0; n < 256; n += 128 {
			for l := range 32 {
				is := l / 16
				q1 := int8(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				q2 := int8(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				q3 := int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				y[n+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
				y[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				y[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				y[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
			ql, qh, sc = ql[64:], qh[32:], sc[8:]
		}
	case IQ4_NL:
		d := f16At(blk)
		for j := range 16 {
			y[j] = d * float32(KValuesIQ4NL[blk[2+j]&0xF])
			y[j+16] = d * float32(KValuesIQ4NL[blk[2+j]>>4])
		}
	case Q2_K:
		sc, q := blk[0:16], blk[16:80]
		d, dmin := f16At(blk[80:]), f16At(blk[82:])
		is, o := 0, 0
		for n := 0; n < 256; n += 128 {
			shift := uint(0)
			for range 4 {
				for half := range 2 {
					s := sc[is]
					is++
					dl, ml := float32(d*float32(s&0xF)), float32(dmin*float32(s>>4))
					for l := range 16 {
						y[o] = float32(dl*float32(int8(q[l+16*half]>>shift&3))) - ml
						o++
					}
				}
				shift += 2
			}
			q = q[32:]
		}
	case Q3_K:
		hm, q := blk[0:32], blk[32:96]
		d := f16At(blk[108:])
		var sc [16]int8
		unpackQ3Scales(&sc, blk[96:108])
		m := byte(1)
		is, o := 0, 0
		for n := 0; n < 256; n += 128 {
			shift := uint(0)
			for range 4 {
				for half := range 2 {
					dl := float32(d * float32(sc[is]-32))
					is++
					for l := range 16 {
						v := int8(q[l+16*half] >> shift & 3)
						if hm[l+16*half]&m == 0 {
							v -= 4
						}
						y[o] = dl * float32(v)
						o++
					}
				}
				shift += 2
				m <<= 1
			}
			q = q[32:]
		}
	default:
		panic(fmt.Sprintf("format.DecodeGGMLBlock: %v is not a k-quant or IQ4_NL type", t))
	}
}

// unpackQ3Scales expands Q3_K's 12 bytes of 6-bit scales (llama.cpp's kmask1/kmask2 unpacking)
// into 16 values in 0…63 (stored as int8).
func unpackQ3Scales(sc *[16]int8, b []byte) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	a0 := binary.LittleEndian.Uint32(b[0:])
	a1 := binary.LittleEndian.Uint32(b[4:])
	tmp := binary.LittleEndian.Uint32(b[8:])
	aux := [4]uint32{
		a0&kmask2 | (tmp>>0&kmask1)<<4,
		a1&kmask2 | (tmp>>2&kmask1)<<4,
		a0>>4&kmask2 | (tmp>>4&kmask1)<<4,
		a1>>4&kmask2 | (tmp>>6&kmask1)<<4,
	}
	for i, v := range aux {
		for k := range 4 {
			sc[4*i+k] = int8(byte(v >> (8 * k)))
		}
	}
}

// decodeKRow decodes row r of a k-quant or IQ4_NL payload.
func decodeKRow(dst []float32, l Layout, payload []byte, r int) {
	s := superBlocks[l.DType]
	var blk [256]byte
	for b := range int(l.Cols) / s.n {
		GGMLBlock(blk[:], l, payload, r, b)
		DecodeGGMLBlock(dst[b*s.n:(b+1)*s.n], l.DType, blk[:])
	}
}
