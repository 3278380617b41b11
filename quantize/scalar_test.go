package quantize

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// refE4M3 is a brute-force E4M3 encoder: the nearest of all finite codes, ties to the even
// code, saturating beyond 448.
func refE4M3(v float32) byte {
	a := math.Abs(float64(v))
	var sign byte
	if math.Signbit(float64(v)) {
		sign = 0x80
	}
	if a >= 448 {
		return sign | 0x7E
	}
	best, bestD := byte(0), math.Inf(1)
	for c := range byte(0x7F) {
		d := math.Abs(a - float64(format.E4M3ToFloat32(c)))
		if d < bestD || d == bestD && c&1 == 0 {
			best, bestD = c, d
		}
	}
	return sign | best
}

func TestE4M3(t *testing.T) {
	for _, c := range []struct {
		v    float32
		want byte
	}{
		{1, 0x38}, {0.5, 0x30}, {-2, 0xC0}, {0.1, 0x1D}, {0.3, 0x2A}, {3.14159, 0x45}, {17, 0x58},
		{18, 0x59}, {240, 0x77}, {460, 0x7E}, {-460, 0xFE}, {448, 0x7E}, {1e30, 0x7E},
		{float32(math.Inf(-1)), 0xFE}, {0.001, 0x01}, {float32(math.Ldexp(1, -10)), 0x00},
		{float32(math.Ldexp(3, -10)), 0x02}, // 1.5·2⁻⁹: tie to even code 2
		{float32(math.Copysign(0, -1)), 0x80}, {1e-45, 0x00}, {0.015625, 0x08},
		{float32(math.Ldexp(15, -10)), 0x08}, // 7.5·2⁻⁹: tie between 0x07 and 0x08 → 0x08
	} {
		if got := E4M3(c.v); got != c.want {
			t.Errorf("E4M3(%v) = %#02x, want %#02x", c.v, got, c.want)
		}
	}
	if got := E4M3(float32(math.NaN())); got&0x7F != 0x7F {
		t.Errorf("E4M3(NaN) = %#02x, want 0x7f", got)
	}
	check := func(v float32) {
		if got, want := E4M3(v), refE4M3(v); got != want {
			t.Fatalf("E4M3(%v) = %#02x, want %#02x", v, got, want)
		}
	}
	for h := range 1 << 16 { // every bf16 value
		if v := format.BF16ToFloat32(uint16(h)); v == v {
			check(v)
		}
	}
	for c := range byte(0x7E) { // every midpoint and its neighbours
		mid := (format.E4M3ToFloat32(c) + format.E4M3ToFloat32(c+1)) / 2
		for _, v := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1000)} {
			check(v)
			check(-v)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		check(math.Float32frombits(rng.Uint32()&0xBFFFFFFF | 0x38000000)) // about 2⁻¹⁵ … 2¹⁶⁺
		check(float32(rng.NormFloat64() * 100))
	}
	// Every code decodes and re-encodes to itself.
	for c := range 256 {
		if c&0x7F == 0x7F {
			continue
		}
		if got := E4M3(format.E4M3ToFloat32(byte(c))); got != byte(c) {
			t.Errorf("E4M3(E4M3ToFloat32(%#02x)) = %#02x", c, got)
		}
	}
}

// exactSFP8 is gemma.cpp's scalar test reference (SFP8FromF32 in sfp_test.cc), which rounds
// the full float32 mantissa to nearest even: the "exact rounding" the spec compares with.
func exactSFP8(f float32) byte {
	b := math.Float32bits(f)
	s := byte(b>>24) & 0x80
	b &= 0x7FFFFFFF
	a := math.Float32frombits(b)
	large := a >= 0.007568359375
	mBits := uint32(2)
	if large {
		mBits = 3
	}
	isOdd := (b >> (23 - mBits)) & 1
	rounded := b + isOdd + (1 << (23 - mBits - 1)) - 1
	if a >= 0.00732421875 {
		large, mBits = true, 3
	}
	m := (rounded & 0x7FFFFF) >> (23 - mBits)
	e := int32(rounded>>23) - 127
	if e <= -23 {
		if e < -23 {
			return 0
		}
		if m == 0 {
			m = 1
		}
	}
	bias := int32(23)
	if large {
		bias = 15
	}
	return byte(uint32(e+bias)<<mBits|m) | s
}

func TestSFP8Table(t *testing.T) {
	for _, c := range []struct {
		v    float32
		want byte
	}{
		{0, 0x00}, {float32(math.Copysign(0, -1)), 0x00}, {1.875, 0x7F}, {-1.875, 0xFF}, {1, 0x78},
		{-1, 0xF8}, {1.0625, 0x78}, {0.5, 0x70}, {0.3, 0x6A}, {-0.3, 0xEA}, {0.1, 0x5D},
		{0.01, 0x42}, {0.0078125, 0x40}, {0.00732421875, 0x40}, {0.0068359375, 0x3F},
		{0.001, 0x34}, {1e-5, 0x19}, {1.1920929e-7, 0x01}, {5e-8, 0x00}, {0.53515625, 0x70},
		{float32(math.Ldexp(1.75, -24)), 0x00}, {float32(math.Ldexp(1.875, -24)), 0x01},
		{1.0625009537, 0x78}, {2, 0x7F}, {float32(math.Inf(-1)), 0xFF},
	} {
		if got := SFP8(c.v); got != c.want {
			t.Errorf("SFP8(%v) = %#02x, want %#02x", c.v, got, c.want)
		}
	}
	if got := SFP8(float32(math.NaN())); got != 0x80 {
		t.Errorf("SFP8(NaN) = %#02x, want 0x80", got)
	}
	// The spec's two examples of the vectorised encoder disagreeing with exact rounding.
	if got := exactSFP8(0.53515625); got != 0x71 {
		t.Errorf("exactSFP8(0.53515625) = %#02x, want 0x71", got)
	}
	if got := exactSFP8(1.0625009537); got != 0x79 {
		t.Errorf("exactSFP8(1.0625009537) = %#02x, want 0x79", got)
	}
}

// TestSFP8Golden runs gemma.cpp's golden pairs (sfp_test.cc TestGolden): encode, decode.
func TestSFP8Golden(t *testing.T) {
	golden := [][2]float32{
		{0.46875, 0.46875}, {0.9375, 0.9375}, {0.484375, 0.5}, {0.96875, 1.0}, {0.28125, 0.28125},
		{0.5625, 0.5625}, {0.296875, 0.3125}, {0.59375, 0.625}, {0.279296875, 0.28125},
		{0.55859375, 0.5625}, {0.265625, 0.25}, {0.53125, 0.5}, {0.0068359375, 0.0068359375},
		{0.00732421875, 0.0078125}, {0.007568359375, 0.0078125}, {1.0, 1.0}, {1.0625, 1.0},
		{2.384185791015625e-7, 2.384185791015625e-7}, {1.49011611938e-07, 1.49011611938e-07},
		{1.19209289551e-07, 1.49011611938e-07}, {5.96046447754e-08, 0}, {8.94069671631e-08, 0},
		{1.11758708954e-07, 1.49011611938e-07}, {0.013841, 0.013671875},
	}
	for _, g := range golden {
		for _, s := range []float32{1, -1} {
			in, want := s*g[0], s*g[1]
			if want == 0 {
				want = 0 // −0 is never produced
			}
			c := SFP8(in)
			if got := format.SFP8ToFloat32(c); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
				t.Errorf("SFP8ToFloat32(SFP8(%v)) = %v (code %#02x), want %v", in, got, c, want)
			}
			if e := exactSFP8(in); e != c {
				t.Errorf("SFP8(%v) = %#02x, scalar reference %#02x", in, c, e)
			}
		}
	}
}

func TestSFP8Codes(t *testing.T) {
	for c := range 256 {
		if c == 0x80 {
			continue
		}
		v := format.SFP8ToFloat32(byte(c))
		if got := SFP8(v); got != byte(c) {
			t.Errorf("SFP8(SFP8ToFloat32(%#02x) = %v) = %#02x", c, v, got)
		}
		if got := exactSFP8(v); got != byte(c) {
			t.Errorf("exactSFP8(SFP8ToFloat32(%#02x)) = %#02x", c, got)
		}
	}
}

// TestSFP8ExactDifferences checks the spec's count: among the 16 369 non-negative bf16 inputs
// ≤ 1.875 (0x0000–0x3FF0), the vectorised encoder differs from exact rounding on exactly 63,
// always by one code, and a negative input gives the negated code.
func TestSFP8ExactDifferences(t *testing.T) {
	n, diff := 0, 0
	for h := range uint16(0x3FF1) {
		v := format.BF16ToFloat32(h)
		n++
		got, exact := SFP8(v), exactSFP8(v)
		if got != exact {
			diff++
			if d := int(exact) - int(got); d != 1 && d != -1 {
				t.Errorf("SFP8(%v) = %#02x, exact %#02x: more than one code apart", v, got, exact)
			}
		}
		if neg := SFP8(-v); got != 0 && neg != got|0x80 || got == 0 && neg != 0 {
			t.Errorf("SFP8(%v) = %#02x but SFP8(%v) = %#02x", v, got, -v, neg)
		}
	}
	if n != 16369 || diff != 63 {
		t.Errorf("%d bf16 inputs, %d differ from exact rounding; want 16369 and 63", n, diff)
	}
}

func TestSFP8Scale(t *testing.T) {
	above := math.Nextafter32(1.875, 2)
	for _, c := range []struct{ maxabs, want float32 }{
		{0, 1}, {1.875, 1}, {1, 1}, {3, 1.6}, {above, 1.0000001},
	} {
		if got := SFP8Scale(c.maxabs); got != c.want {
			t.Errorf("SFP8Scale(%v) = %v, want %v", c.maxabs, got, c.want)
		}
	}
	if got := MaxAbs([]float32{1, -3, float32(math.NaN()), 2}); got != 3 {
		t.Errorf("MaxAbs = %v, want 3", got)
	}
}
