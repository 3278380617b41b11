package kernel

import (
	"encoding/binary"
	"unsafe"
)

// expandFunc writes one weight row for the prefill kernel: its codes as 32·nbP signed bytes in
// dst (zero past cols) and the offset correction of block b, −128·Σ_{j∈b} dst[j], in
// corr[b·gemmRows].
type expandFunc func(dst []int8, corr []int32, codes []byte, cols, nbP int)

func expandQ8Generic(dst []int8, corr []int32, codes []byte, cols, nbP int) {
	db := int8Bytes(dst)
	copy(db, codes[:cols])
	for b := range nbP {
		corr[b*gemmRows] = -128 * sumInt8x32(db[32*b:])
	}
}

func expandQ4Generic(dst []int8, corr []int32, codes []byte, cols, nbP int) {
	db := int8Bytes(dst)
	for b := range nbP {
		c, o := codes[16*b:16*b+16], db[32*b:32*b+32]
		var sum uint64
		for h := 0; h < 16; h += 8 {
			v := binary.LittleEndian.Uint64(c[h:])
			lo, hi := v&0x0f0f0f0f0f0f0f0f, v>>4&0x0f0f0f0f0f0f0f0f
			sum += (lo + hi) * 0x0101010101010101 >> 56 // byte sums ≤ 240
			binary.LittleEndian.PutUint64(o[h:], nibbleToInt8(lo))
			binary.LittleEndian.PutUint64(o[16+h:], nibbleToInt8(hi))
		}
		corr[b*gemmRows] = -128 * (int32(sum) - 256)
	}
}

func expandI4Generic(dst []int8, corr []int32, codes []byte, cols, nbP int) {
	db := int8Bytes(dst)
	for i, c := range codes[:(cols+1)/2] {
		binary.LittleEndian.PutUint16(db[2*i:], nibblePairs[c])
	}
	clear(dst[cols:])
	for b := range nbP {
		corr[b*gemmRows] = -128 * sumInt8x32(db[32*b:])
	}
}

// gemmBlockScales writes row r's f16 block scales into wd[b·gemmRows] (Q4_0, Q8_0).
func gemmBlockScales(wd []float32, w *Matrix, r, nbP int) {
	sc := w.blockScales(r)
	for b := range nbP {
		wd[b*gemmRows] = f16ToF32(le16(sc, b))
	}
}

// gemmRowScale writes row r's scale into every wd[b·gemmRows] (I4).
func gemmRowScale(wd []float32, w *Matrix, r, nbP int) {
	s := w.rowScale(r)
	for b := range nbP {
		wd[b*gemmRows] = s
	}
}

// nibbleToInt8 maps eight bytes holding nibbles q (0…15) to the bytes of int8(q−8): q xor 8
// is q−8 in four-bit two's complement; its bit 3 is copied into bits 4–7.
func nibbleToInt8(v uint64) uint64 {
	t := v ^ 0x0808080808080808
	return t | (t&0x0808080808080808)*0x1e
}

// nibblePairs[c] holds int8(lo(c)−8), int8(hi(c)−8) as two little-endian bytes.
var nibblePairs = func() (t [256]uint16) {
	for c := range 256 {
		t[c] = uint16(uint8(int8(c&15)-8)) | uint16(uint8(int8(c>>4)-8))<<8
	}
	return
}()

// sumInt8x32 returns the sum of the 32 int8 values in b[:32].
func sumInt8x32(b []byte) int32 {
	var s uint64
	for h := 0; h < 32; h += 8 {
		u := binary.LittleEndian.Uint64(b[h:]) ^ 0x8080808080808080 // v+128
		s += ((u & 0x00ff00ff00ff00ff) + (u >> 8 & 0x00ff00ff00ff00ff)) * 0x0001000100010001 >> 48
	}
	return int32(s) - 32*128
}

// int8Bytes views an int8 slice as bytes.
func int8Bytes(s []int8) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s))
}
