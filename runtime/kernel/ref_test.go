package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// This file holds the tests' own scalar reference: the value rules of format.LayoutOf's types
// written from their definitions (quant-formats.md), independently of the package's decoders.

func refF16(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e, m := int(h>>10)&31, float64(h&1023)
	switch e {
	case 31:
		if m != 0 {
			return math.NaN()
		}
		return s * math.Inf(1)
	case 0:
		return s * m / 1024 * math.Ldexp(1, -14)
	}
	return s * (1 + m/1024) * math.Ldexp(1, e-15)
}

func refE4M3(c byte) float64 {
	if c&0x7f == 0x7f {
		return math.NaN()
	}
	s := 1.0
	if c&0x80 != 0 {
		s = -1
	}
	e, m := int(c>>3)&15, float64(c&7)
	if e == 0 {
		return s * m / 8 * math.Ldexp(1, -6)
	}
	return s * (1 + m/8) * math.Ldexp(1, e-7)
}

func refSFP(c byte) float64 {
	s := 1.0
	if c == 0x80 {
		return math.NaN() // reserved (−0), decoded as NaN by format
	}
	if c&0x80 != 0 {
		s = -1
	}
	c &= 0x7f
	switch {
	case c == 0:
		return s * 0
	case c&0x40 != 0: // s 1 EEE MMM
		return s * (1 + float64(c&7)/8) * math.Ldexp(1, int(c>>3&7)-7)
	}
	return s * (1 + float64(c&3)/4) * math.Ldexp(1, int(c>>2&15)-23) // s 0 EEEE MM
}

// refDecode decodes row r with format's reference decoder, which the kernels must match bit
// for bit.
func refDecode(t format.DType, l format.Layout, data []byte, r int, tensorScale float32) []float32 {
	out := make([]float32, l.Cols)
	format.DecodeRow(out, t, l, data, r, tensorScale)
	return out
}

// privateDecode decodes row r of a payload from the written definitions: each value is the
// float32 product of the decoded code and its scale, then the tensor scale unless it is 1.
// TestPrivateDecodeMatchesFormat cross-checks it against format.DecodeRow.
func privateDecode(t format.DType, l format.Layout, data []byte, r int, tensorScale float32) []float32 {
	cols := int(l.Cols)
	out := make([]float32, cols)
	codes := data[int(l.CodesOff)+r*int(l.RowStride):]
	sc := data[int(l.ScalesOff):]
	u16 := func(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	f32 := func(b []byte, i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])) }
	nb := cols / 32
	for c := range cols {
		var v float32
		switch t {
		case format.F32:
			v = f32(codes, c)
		case format.F16:
			v = float32(refF16(u16(codes, c)))
		case format.BF16:
			v = math.Float32frombits(uint32(u16(codes, c)) << 16)
		case format.Q8_0:
			d := float32(refF16(u16(sc, r*nb+c/32)))
			v = float32(int8(codes[c])) * d
		case format.Q4_0:
			d := float32(refF16(u16(sc, r*nb+c/32)))
			b, j := c/32, c%32
			q := codes[16*b+j%16]
			if j >= 16 {
				q >>= 4
			}
			v = float32(int(q&15)-8) * d
		case format.I4:
			q := codes[c/2]
			if c%2 == 1 {
				q >>= 4
			}
			v = float32(int(q&15)-8) * f32(sc, r)
		case format.FP8:
			v = float32(refE4M3(codes[c])) * f32(sc, r)
		case format.SFP8:
			v = float32(refSFP(codes[c]))
		}
		if tensorScale != 1 {
			v *= tensorScale
		}
		out[c] = v
	}
	return out
}

var allTypes = []format.DType{format.F32, format.F16, format.BF16, format.Q8_0, format.Q4_0, format.I4, format.FP8, format.SFP8,
	format.Q4_K, format.Q6_K, format.IQ4_NL, format.Q5_K, format.Q3_K, format.Q2_K}

func blockType(t format.DType) bool { return colAlign(t) > 1 }

// colAlign returns the multiple a row length of type t must be: 32 for the block types, 256
// for the k-quants (IQ4_NL: 32), 1 for the others.
func colAlign(t format.DType) int {
	if n, _, _, ok := format.SuperBlock(t); ok {
		return n
	}
	if t == format.Q8_0 || t == format.Q4_0 {
		return 32
	}
	return 1
}

// alignCols rounds cols up to a row length type t can have.
func alignCols(t format.DType, cols int) int {
	a := colAlign(t)
	return (cols + a - 1) / a * a
}

// testCols returns the row lengths a type is tested at: every length up to 3 blocks + 1, or
// 1, 2, 3 blocks (+ more) for block types.
func testCols(t format.DType, short bool) []int {
	if colAlign(t) == 256 {
		return []int{256, 512, 768, 1280, 2304} // 2304: 9 super-blocks, past one chunk of kRowsExact (8)
	}
	if blockType(t) {
		return []int{32, 64, 96, 128, 160, 256, 512 + 32}
	}
	var c []int
	for n := 1; n <= 97; n++ {
		if short && n > 20 && n%7 != 0 {
			continue
		}
		c = append(c, n)
	}
	return append(c, 255, 256, 257, 1000)
}

// randMatrix makes a random payload of type t: random codes (never the NaN/reserved codes)
// and finite scales of moderate size.
func randMatrix(tb testing.TB, rng *rand.Rand, t format.DType, rows, cols int) *Matrix {
	tb.Helper()
	shape := []int64{int64(rows), int64(cols)}
	l, err := format.LayoutOf(t, shape)
	if err != nil {
		tb.Fatalf("LayoutOf(%v, %v): %v", t, shape, err)
	}
	data := make([]byte, l.Size)
	codes := data[:l.CodesLen]
	randF16 := func() uint16 { // exponent 5..19: 2⁻¹⁰..2⁴, both signs, some subnormals
		if rng.IntN(50) == 0 {
			return uint16(rng.IntN(1024)) | uint16(rng.IntN(2))<<15
		}
		return uint16(rng.IntN(1024)) | uint16(5+rng.IntN(15))<<10 | uint16(rng.IntN(2))<<15
	}
	switch t {
	case format.F32:
		for i := 0; i < len(codes); i += 4 {
			binary.LittleEndian.PutUint32(codes[i:], math.Float32bits(float32(rng.NormFloat64())))
		}
	case format.F16:
		for i := 0; i < len(codes); i += 2 {
			binary.LittleEndian.PutUint16(codes[i:], randF16())
		}
	case format.BF16:
		for i := 0; i < len(codes); i += 2 {
			binary.LittleEndian.PutUint16(codes[i:], uint16(math.Float32bits(float32(rng.NormFloat64()))>>16))
		}
	default:
		for i := range codes {
			codes[i] = byte(rng.Uint32())
			if t == format.FP8 && codes[i]&0x7f == 0x7f {
				codes[i] &^= 1
			}
			if t == format.SFP8 && codes[i] == 0x80 {
				codes[i] = 0
			}
		}
	}
	sc := data[l.ScalesOff:]
	if kType(t) {
		// The f16 fields (d, dmin) of every block get sane values; the other scale bytes stay random.
		_, _, sb, _ := format.SuperBlock(t)
		for o := 0; o < int(l.ScalesLen); o += sb {
			for _, f := range kF16Fields(t) {
				binary.LittleEndian.PutUint16(sc[o+f:], randF16())
			}
		}
	}
	switch t {
	case format.Q8_0, format.Q4_0:
		for i := 0; i < int(l.ScalesLen); i += 2 {
			binary.LittleEndian.PutUint16(sc[i:], randF16())
		}
	case format.I4, format.FP8:
		for i := 0; i < int(l.ScalesLen); i += 4 {
			binary.LittleEndian.PutUint32(sc[i:], math.Float32bits(float32(math.Ldexp(1+rng.Float64(), rng.IntN(12)-8))))
		}
	}
	scale := float32(1)
	if t == format.SFP8 || rng.IntN(3) == 0 {
		scale = float32(0.5 + rng.Float64()*3)
	}
	m, err := NewMatrix(t, shape, data, scale)
	if err != nil {
		tb.Fatalf("NewMatrix(%v, %v): %v", t, shape, err)
	}
	return track(m)
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// refDot returns Σ w[c]·x[c] in float64 over the decoded row and the error bound
// (n+1)·ε₃₂·Σ|w[c]·x[c]| with ε₃₂ = 2⁻²³ (plus a little absolute slack for float32
// underflow). The +1 covers kernels that apply a row or tensor scale after the sum (FP8, I4,
// SFP8), which round once more than a sum of exactly decoded weights.
func refDot(w, x []float32) (sum, tol float64) {
	var abs float64
	for i, v := range w {
		p := float64(v) * float64(x[i])
		sum += p
		abs += math.Abs(p)
	}
	n := float64(len(w))
	return sum, (n+1)*math.Ldexp(1, -23)*abs + n*1e-37
}

// checkClose reports whether got matches the float64 reference within tol, with NaN and ±Inf
// required to match exactly.
func checkClose(got float32, want, tol float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(float64(got))
	case math.IsInf(want, 0):
		return float64(got) == want
	}
	return math.Abs(float64(got)-want) <= tol
}

func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}
