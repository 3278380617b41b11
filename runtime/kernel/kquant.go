package kernel

import (
	"github.com/gemmatool/gemmatool/format"
)

// llama.cpp's k-quants (Q2_K … Q6_K) and IQ4_NL: Go reference paths. Each block is gathered
// from the two planes into llama.cpp's block layout and expanded into integer levels with a
// scale and a min per sub-block, value = scale·level − min, exactly as format's reference
// decoder computes it (format.DecodeGGMLBlock).
//
// Exact path: the block decoded to float32, then the float32 dot product in column order.
// ModeInt8: activations quantized per block of 32 as for the other types (d_b, q_j); each
// weight sub-block s inside activation block b contributes
//
//	float32(Σ_{j∈s} level_j·q_j)·(scale_s·d_b) − float32(Σ_{j∈s} q_j)·(min_s·d_b)
//
// so the error is that of the activation rounding alone, with blocks of 32 (llama.cpp's
// k-quant dot products quantize activations per 256, Q8_K).

// kType reports whether t is a k-quant or IQ4_NL type.
func kType(t format.DType) bool {
	_, _, _, ok := format.SuperBlock(t)
	return ok
}

// kBlock is one block expanded to integer levels: value j = scale[j/sub]·level[j] − min[j/sub].
type kBlock struct {
	level      [256]int8
	scale, min [16]float32
	sub, n     int
}

// expand fills k from llama.cpp block blk of type t.
func (k *kBlock) expand(t format.DType, blk []byte) {
	f16 := func(o int) float32 { return f16ToF32(le16(blk[o:], 0)) }
	switch t {
	case format.Q4_K, format.Q5_K:
		k.sub, k.n = 32, 256
		d, dmin := f16(0), f16(2)
		sc := blk[4:16]
		qh, qs := blk[16:48], blk[16:144]
		if t == format.Q5_K {
			qs = blk[48:176]
		}
		u1, u2 := byte(1), byte(2)
		for j := 0; j < 256; j += 64 {
			for h := range 2 {
				s, m := format.ScaleMinK4(j/32+h, sc)
				k.scale[j/32+h], k.min[j/32+h] = float32(d*float32(s)), float32(dmin*float32(m))
			}
			q := qs[j/2 : j/2+32]
			for l := range 32 {
				lo, hi := int8(q[l]&0xF), int8(q[l]>>4)
				if t == format.Q5_K {
					if qh[l]&u1 != 0 {
						lo += 16
					}
					if qh[l]&u2 != 0 {
						hi += 16
					}
				}
				k.level[j+l], k.level[j+32+l] = lo, hi
			}
			u1, u2 = u1<<2, u2<<2
		}
	case format.Q6_K:
		k.sub, k.n = 16, 256
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		d := f16(208)
		for s := range 16 {
			k.scale[s], k.min[s] = float32(d*float32(int8(sc[s]))), 0
		}
		for n := 0; n < 256; n += 128 {
			for l := range 32 {
				k.level[n+l] = int8(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				k.level[n+l+32] = int8(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				k.level[n+l+64] = int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				k.level[n+l+96] = int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			}
			ql, qh = ql[64:], qh[32:]
		}
	case format.IQ4_NL:
		k.sub, k.n = 32, 32
		k.scale[0], k.min[0] = f16(0), 0
		for j := range 16 {
			k.level[j] = format.KValuesIQ4NL[blk[2+j]&0xF]
			k.level[j+16] = format.KValuesIQ4NL[blk[2+j]>>4]
		}
	case format.Q2_K:
		k.sub, k.n = 16, 256
		sc, q := blk[0:16], blk[16:80]
		d, dmin := f16(80), f16(82)
		for s := range 16 {
			k.scale[s], k.min[s] = float32(d*float32(sc[s]&0xF)), float32(dmin*float32(sc[s]>>4))
		}
		o := 0
		for n := 0; n < 256; n += 128 {
			for shift := uint(0); shift < 8; shift += 2 {
				for l := range 32 {
					k.level[o+l] = int8(q[l] >> shift & 3)
				}
				o += 32
			}
			q = q[32:]
		}
	case format.Q3_K:
		k.sub, k.n = 16, 256
		hm, q, d := blk[0:32], blk[32:96], f16(108)
		var sc [16]int8
		unpackQ3(&sc, blk[96:108])
		for s := range 16 {
			k.scale[s], k.min[s] = float32(d*float32(sc[s]-32)), 0
		}
		o, m := 0, byte(1)
		for n := 0; n < 256; n += 128 {
			for shift := uint(0); shift < 8; shift += 2 {
				for l := range 32 {
					v := int8(q[l] >> shift & 3)
					if hm[l]&m == 0 {
						v -= 4
					}
					k.level[o+l] = v
				}
				o += 32
				m <<= 1
			}
			q = q[32:]
		}
	}
}

// unpackQ3 is Q3_K's 6-bit scale unpacking (values 0…63).
func unpackQ3(sc *[16]int8, b []byte) {
	var raw [16]byte
	for j := range 16 {
		var s byte
		if j < 8 {
			s = b[j] & 0xF
		} else {
			s = b[j-8] >> 4
		}
		raw[j] = s | (b[8+j%4]>>(2*(j/4))&3)<<4
	}
	for j, v := range raw {
		sc[j] = int8(v)
	}
}

// kRowBlocks calls fn with each block of row r from column from on (a multiple of the block
// size) expanded, and its first column.
func kRowBlocks(w *Matrix, r, from int, fn func(k *kBlock, c0 int)) {
	n, _, _, _ := format.SuperBlock(w.DType)
	var blk [256]byte
	var k kBlock
	for b := from / n; b < w.Cols()/n; b++ {
		format.GGMLBlock(blk[:], w.Layout, w.Data, r, b)
		k.expand(w.DType, blk[:])
		fn(&k, b*n)
	}
}

// dequantRowK decodes row r (format.DecodeRow's values).
func dequantRowK(dst []float32, w *Matrix, r int) {
	kRowBlocks(w, r, 0, func(k *kBlock, c0 int) {
		for j := range k.n {
			s := j / k.sub
			dst[c0+j] = float32(k.scale[s]*float32(k.level[j])) - k.min[s]
		}
	})
}

// dotRowK is Σ_c W[r,c]·x[c] with the exactly decoded weights, in column order.
func dotRowK(w *Matrix, r int, x []float32) float32 {
	var sum float32
	kRowBlocks(w, r, 0, func(k *kBlock, c0 int) {
		for j := range k.n {
			s := j / k.sub
			v := float32(k.scale[s]*float32(k.level[j])) - k.min[s]
			sum += float32(v * x[c0+j])
		}
	})
	return sum
}

// dotRowInt8K is the ModeInt8 sum of row r against activation row i of qa over the columns
// [from, Cols) (from a multiple of the block size).
func dotRowInt8K(w *Matrix, r int, qa *qact, i, from int) float32 {
	cols := qa.cols
	q := qa.q[i*cols : (i+1)*cols]
	d := qa.d[i*qa.nb : (i+1)*qa.nb]
	var sum float32
	kRowBlocks(w, r, from, func(k *kBlock, c0 int) {
		for s := range k.n / k.sub {
			var is, qs int32
			for j := s * k.sub; j < (s+1)*k.sub; j++ {
				a := int32(q[c0+j])
				is += int32(k.level[j]) * a
				qs += a
			}
			db := d[(c0+s*k.sub)/32]
			sum += float32(float32(is)*float32(k.scale[s]*db)) - float32(float32(qs)*float32(k.min[s]*db))
		}
	})
	return sum
}

// fillLayoutK writes the K4 or K6 activation layout (actquant.go) of one row's q.
func fillLayoutK(l actLayout, xa []int8, corr []int32, dl []float32, q []int8) {
	switch l {
	case layoutK4:
		for s := 0; s+256 <= len(q); s += 256 {
			for g := 0; g < 256; g += 128 {
				for h := range 2 {
					for k := range 2 {
						copy(xa[s+g+64*h+32*k:s+g+64*h+32*k+32], q[s+g+64*k+32*h:s+g+64*k+32*h+32])
					}
				}
			}
		}
		for b := range dl {
			var sum int32
			for _, v := range q[32*b : 32*b+32] {
				sum += int32(v)
			}
			dl[b] = float32(sum)
		}
	case layoutK6:
		copy(xa, q)
		for l := range corr {
			w := q[4*l : 4*l+4 : 4*l+4]
			corr[l] = -32 * (int32(w[0]) + int32(w[1]) + int32(w[2]) + int32(w[3]))
		}
	}
}

// expandIQ4NLGeneric is the prefill expansion of an IQ4_NL row (expandFunc): the grid values
// of its codes, as expandQ4Generic does for Q4_0.
func expandIQ4NLGeneric(dst []int8, corr []int32, codes []byte, cols, nbP int) {
	for b := range nbP {
		c, o := codes[16*b:16*b+16:16*b+16], dst[32*b:32*b+32:32*b+32]
		var sum int32
		for j, v := range c {
			lo, hi := format.KValuesIQ4NL[v&15], format.KValuesIQ4NL[v>>4]
			o[j], o[16+j] = lo, hi
			sum += int32(lo) + int32(hi)
		}
		corr[b*gemmRows] = -128 * sum
	}
}
