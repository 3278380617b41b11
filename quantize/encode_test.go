package quantize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

var packed = []format.DType{format.Q8_0, format.Q4_0, format.I4, format.FP8, format.SFP8}

const tiny = 1.401298464324817e-45 // 2⁻¹⁴⁹

func f16At(p []byte, off int64) float64 {
	return float64(format.F16ToFloat32(binary.LittleEndian.Uint16(p[off:])))
}

func f32At(p []byte, off int64) float64 {
	return float64(math.Float32frombits(binary.LittleEndian.Uint32(p[off:])))
}

// bound returns the largest |x − ŵ| the spec's rule allows for element (r, c) of src, given
// the stored scales (which the encoder derived as the spec says; the block scales are
// recomputed here from the inputs).
func bound(t *testing.T, ty format.DType, l format.Layout, p []byte, src []float32, r, c int64, ts float32, dec float32) float64 {
	x := float64(src[r*l.Cols+c])
	round := math.Abs(float64(dec))*0x1p-24 + tiny // the decoder's own float32 rounding
	switch ty {
	case format.Q8_0:
		blk := src[r*l.Cols+c/32*32 : r*l.Cols+c/32*32+32]
		d32 := float64(MaxAbs(blk) / 127)
		d16 := f16At(p, l.ScalesOff+2*(r*l.Blocks()+c/32))
		return 0.5*d32*(1+0x1p-20) + 127*math.Abs(d32-d16) + round
	case format.Q4_0:
		blk := src[r*l.Cols+c/32*32 : r*l.Cols+c/32*32+32]
		var amax, mx float32
		for _, v := range blk {
			if a := float32(math.Abs(float64(v))); amax < a {
				amax, mx = a, v
			}
		}
		d32 := float64(mx / -8)
		d16 := f16At(p, l.ScalesOff+2*(r*l.Blocks()+c/32))
		k := 0.5 // half a step, or a whole one for the opposite extreme, clamped at code 15
		if d32 != 0 && x/d32 > 7.5 {
			k = 1
		}
		return k*math.Abs(d32)*(1+0x1p-20) + 8*math.Abs(d32-d16) + round
	case format.I4:
		s := f32At(p, l.ScalesOff+4*r)
		return math.Max(s/2, math.Abs(x)-7*s)*(1+0x1p-20) + round
	case format.FP8:
		s := f32At(p, l.ScalesOff+4*r)
		v := math.Abs(x / s)
		return s*math.Max(v*0x1p-4, 0x1p-10)*(1+0x1p-20) + math.Max(0, v-448)*s + round
	case format.SFP8:
		v := math.Min(1.875, math.Abs(x)/float64(ts))
		// Truncation to bf16 and the dropped LSB cost up to 2⁻⁶, rounding to 2 mantissa bits
		// 2⁻³ (relative to the binade); flushed values are below 1.25·2⁻²³.
		return float64(ts)*(0.1407*v+0x1.4p-23) + math.Abs(x)*0x1p-20 + round
	}
	return 0
}

// roundTrip encodes src, decodes it with the format reference and checks every element
// against the analytical bound.
func roundTrip(t *testing.T, ty format.DType, shape []int64, src []float32, opt Options) (ErrorStats, []byte) {
	t.Helper()
	p, ts, err := Encode(ty, shape, src, opt)
	if err != nil {
		t.Fatalf("Encode(%v, %v): %v", ty, shape, err)
	}
	l, _ := format.LayoutOf(ty, shape)
	if int64(len(p)) != l.Size {
		t.Fatalf("Encode(%v, %v): %d bytes, layout %d", ty, shape, len(p), l.Size)
	}
	dec := make([]float32, len(src))
	if err := format.Dequantize(dec, ty, shape, p, ts); err != nil {
		t.Fatalf("Dequantize(Encode(%v, %v)): %v", ty, shape, err)
	}
	for r := range l.Rows {
		for c := range l.Cols {
			i := r*l.Cols + c
			e := math.Abs(float64(src[i]) - float64(dec[i]))
			if b := bound(t, ty, l, p, src, r, c, ts, dec[i]); !(e <= b) {
				t.Fatalf("%v %v [%d,%d]: %v decodes to %v, error %g > bound %g", ty, shape, r, c, src[i], dec[i], e, b)
			}
		}
	}
	var st ErrorStats
	st.Add(src, dec)
	return st, p
}

func randRows(rng *rand.Rand, n int, f func() float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(f())
	}
	return x
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	gauss := func(s float64) func() float64 { return func() float64 { return rng.NormFloat64() * s } }
	neg0 := float32(math.Copysign(0, -1))
	cases := []struct {
		name  string
		shape []int64
		x     []float32
	}{
		{"gauss", []int64{8, 256}, randRows(rng, 8*256, gauss(0.02))},
		{"gauss large", []int64{4, 64}, randRows(rng, 4*64, gauss(300))},
		{"student-ish", []int64{4, 128}, randRows(rng, 4*128, func() float64 { return rng.NormFloat64() / (0.1 + rng.Float64()) })},
		{"zeros", []int64{3, 64}, make([]float32, 3*64)},
		{"negative zeros", []int64{1, 32}, randRows(rng, 32, func() float64 { return math.Copysign(0, -1) })},
		{"constant", []int64{2, 64}, randRows(rng, 128, func() float64 { return 0.7 })},
		{"constant negative", []int64{2, 64}, randRows(rng, 128, func() float64 { return -3 })},
		{"denormals", []int64{2, 64}, randRows(rng, 128, func() float64 { return float64(math.Float32frombits(rng.Uint32() & 0x807FFFFF)) })},
		{"tiny", []int64{2, 64}, randRows(rng, 128, gauss(1e-30))},
		{"one outlier", []int64{2, 64}, func() []float32 { x := randRows(rng, 128, gauss(0.01)); x[5], x[70] = 40, -900; return x }()},
		{"huge", []int64{2, 32}, randRows(rng, 64, gauss(1e5))},
		{"max f32", []int64{1, 32}, func() []float32 { x := randRows(rng, 32, gauss(1e37)); x[3] = -math.MaxFloat32; return x }()},
		{"mixed zeros", []int64{1, 64}, func() []float32 { x := randRows(rng, 64, gauss(1)); x[0], x[1] = neg0, 0; return x }()},
	}
	for _, c := range cases {
		for _, ty := range packed {
			for _, rule := range []I4Scale{I4Search, I4AbsMax} {
				if rule == I4AbsMax && ty != format.I4 {
					continue
				}
				fits := true
				for _, v := range c.x {
					if math.Abs(float64(v)) >= 524160 && (ty == format.Q4_0 || ty == format.Q8_0) {
						fits = false // f16 scale overflow: tested in TestEncodeErrors
					}
				}
				if !fits {
					continue
				}
				t.Run(c.name+"/"+ty.String()+"/"+rule.String(), func(t *testing.T) {
					st, _ := roundTrip(t, ty, c.shape, c.x, Options{I4Scale: rule})
					if st.Count() != int64(len(c.x)) {
						t.Errorf("stats count %d", st.Count())
					}
				})
			}
		}
	}
	// Odd row lengths for the non-block types.
	for _, ty := range []format.DType{format.I4, format.FP8, format.SFP8} {
		x := randRows(rng, 3*7, gauss(1))
		_, p := roundTrip(t, ty, []int64{3, 7}, x, Options{})
		if ty == format.I4 {
			for r := range 3 {
				if p[r*4+3]>>4 != 8 {
					t.Errorf("I4 row %d: pad nibble %d, want 8", r, p[r*4+3]>>4)
				}
			}
		}
	}
}

// TestQualityBounds checks the typical error levels on Gaussian weights (a regression guard
// on the scale rules, not part of the format).
func TestQualityBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := randRows(rng, 16*512, func() float64 { return rng.NormFloat64() * 0.03 })
	for _, c := range []struct {
		ty             format.DType
		rule           I4Scale
		minSNR, maxSNR float64
	}{
		{format.Q8_0, I4Search, 43, 47}, {format.Q4_0, I4Search, 20, 22.5}, {format.I4, I4AbsMax, 16, 19.5},
		{format.I4, I4Search, 18.5, 21}, {format.FP8, I4Search, 30, 33}, {format.SFP8, I4Search, 29.5, 33},
	} {
		st, _ := roundTrip(t, c.ty, []int64{16, 512}, x, Options{I4Scale: c.rule})
		t.Logf("%v/%v: SNR %.2f dB, rel L2 %.4f, max %.3g", c.ty, c.rule, st.SNRdB(), st.RelL2(), st.MaxAbs())
		if s := st.SNRdB(); s < c.minSNR || s > c.maxSNR {
			t.Errorf("%v/%v: SNR %.2f dB outside [%v, %v]", c.ty, c.rule, s, c.minSNR, c.maxSNR)
		}
	}
}

func rowSqErr(t *testing.T, shape []int64, x []float32, rule I4Scale) []float64 {
	t.Helper()
	p, _, err := Encode(format.I4, shape, x, Options{I4Scale: rule})
	if err != nil {
		t.Fatal(err)
	}
	dec := make([]float32, len(x))
	if err := format.Dequantize(dec, format.I4, shape, p, 1); err != nil {
		t.Fatal(err)
	}
	cols := int(shape[1])
	out := make([]float64, shape[0])
	for i := range x {
		d := float64(x[i]) - float64(dec[i])
		out[i/cols] += d * d
	}
	return out
}

func TestI4SearchNeverWorse(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	gens := map[string]func() float64{
		"gauss":   rng.NormFloat64,
		"uniform": func() float64 { return rng.Float64()*2 - 1 },
		"laplace": func() float64 { return rng.ExpFloat64() * float64(1-2*int(rng.Uint32()&1)) },
		"outlier": func() float64 {
			if rng.IntN(300) == 0 {
				return 20
			}
			return rng.NormFloat64()
		},
		"codes": func() float64 { return float64(rng.IntN(15) - 7) }, // exactly on the absmax grid
	}
	for name, g := range gens {
		shape := []int64{32, 301}
		x := randRows(rng, 32*301, g)
		abs := rowSqErr(t, shape, x, I4AbsMax)
		search := rowSqErr(t, shape, x, I4Search)
		var sa, ss float64
		for r := range abs {
			if search[r] > abs[r] {
				t.Errorf("%s row %d: search error %g > absmax %g", name, r, search[r], abs[r])
			}
			sa += abs[r]
			ss += search[r]
		}
		t.Logf("%s: squared error search/absmax = %.3f", name, ss/sa)
		if name == "gauss" && ss > 0.8*sa {
			t.Errorf("gauss: search error %.3g not clearly below absmax %.3g", ss, sa)
		}
		if name == "codes" && ss != 0 {
			t.Errorf("codes on the absmax grid: search error %g, want 0", ss)
		}
	}
}

func TestI4Example(t *testing.T) {
	// amax = 7 → s = 1; codes q + 8, element 2i low nibble; odd length padded with 8.
	x := []float32{-7, 3, 0.5, 1.5, 2.5, -0.4, 7}
	p, _, err := Encode(format.I4, []int64{1, 7}, x, Options{I4Scale: I4AbsMax})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := format.LayoutOf(format.I4, []int64{1, 7})
	// rne: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.4 → 0.
	want := []byte{0xB1, 0xA8, 0x8A, 0x8F}
	if !bytes.Equal(p[:4], want) || f32At(p, l.ScalesOff) != 1 {
		t.Errorf("Encode(I4, %v) = % x scale %v, want % x scale 1", x, p[:4], f32At(p, l.ScalesOff), want)
	}
}

func TestFP8Example(t *testing.T) {
	// Row amax 448·2 → s = 2: x/s through E4M3; zero row → s = 1.
	x := []float32{896, -0.2, 34, 0, 0, 0}
	p, ts, err := Encode(format.FP8, []int64{2, 3}, x, Options{})
	if err != nil || ts != 1 {
		t.Fatal(err, ts)
	}
	l, _ := format.LayoutOf(format.FP8, []int64{2, 3})
	if want := []byte{0x7E, 0x9D, 0x58, 0, 0, 0}; !bytes.Equal(p[:6], want) {
		t.Errorf("FP8 codes % x, want % x", p[:6], want)
	}
	if s0, s1 := f32At(p, l.ScalesOff), f32At(p, l.ScalesOff+4); s0 != 2 || s1 != 1 {
		t.Errorf("FP8 scales %v %v, want 2 1", s0, s1)
	}
}

func TestSFP8Example(t *testing.T) {
	x := []float32{3.0, -1.2, 0.05, -3.0, 0.7}
	p, ts, err := Encode(format.SFP8, []int64{1, 5}, x, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x7F, 0xF4, 0x50, 0xFF, 0x6E}; !bytes.Equal(p, want) || ts != float32(1.6) {
		t.Errorf("Encode(SFP8, %v) = % x, scale %v; want % x, 1.6", x, p, ts, want)
	}
	p, ts, _ = Encode(format.SFP8, []int64{1, 3}, []float32{1.875, -0.3, 0}, Options{})
	if want := []byte{0x7F, 0xEA, 0x00}; !bytes.Equal(p, want) || ts != 1 {
		t.Errorf("Encode(SFP8, unscaled) = % x, scale %v", p, ts)
	}
}

// TestQ4_0GridLossless: values (q − 8)·d for an f16 d, with the extreme −8·d first, decode to
// themselves.
func TestQ4_0GridLossless(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := range 2000 {
		var h uint16
		for {
			h = uint16(rng.Uint32()) & 0x7BFF // finite, sign chosen below
			if h != 0 && h < 0x7800 {         // |d| < 32768 keeps 8·d finite in f16 terms
				break
			}
		}
		if i%2 == 1 {
			h |= 0x8000
		}
		d := format.F16ToFloat32(h)
		var x [32]float32
		for j := range x {
			x[j] = float32(rng.IntN(16)-8) * d
		}
		x[rng.IntN(32)] = -8 * d // the first largest magnitude must be −8·d (code 0)
		for j := range x {
			if math.Abs(float64(x[j])) == math.Abs(float64(8*d)) {
				x[j] = -8 * d
			}
		}
		p, _, err := Encode(format.Q4_0, []int64{1, 32}, x[:], Options{})
		if err != nil {
			t.Fatal(err)
		}
		dec := make([]float32, 32)
		if err := format.Dequantize(dec, format.Q4_0, []int64{1, 32}, p, 1); err != nil {
			t.Fatal(err)
		}
		for j := range x {
			if dec[j] != x[j] {
				t.Fatalf("d = %v (%#04x): x[%d] = %v decodes to %v", d, h, j, x[j], dec[j])
			}
		}
	}
}

// TestParallelAndStreaming: the bytes do not depend on the worker count or on encoding in row
// chunks with EncodeRows.
func TestParallelAndStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	shape := []int64{13, 96}
	x := randRows(rng, 13*96, func() float64 { return rng.NormFloat64() * 2 })
	for _, ty := range append([]format.DType{format.F32, format.F16, format.BF16}, packed...) {
		ref, ts, err := Encode(ty, shape, x, Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int{2, 5, 64} {
			p, ts2, err := Encode(ty, shape, x, Options{Workers: w})
			if err != nil || ts2 != ts || !bytes.Equal(p, ref) {
				t.Errorf("%v: Encode with %d workers differs from 1 worker (%v)", ty, w, err)
			}
		}
		l, _ := format.LayoutOf(ty, shape)
		p := make([]byte, l.Size)
		scale := float32(1)
		if ty == format.SFP8 {
			var m float32
			for r := 0; r < 13; r += 4 {
				m = max(m, MaxAbs(x[r*96:min(13, r+4)*96]))
			}
			scale = SFP8Scale(m)
		}
		for r := 0; r < 13; r += 4 {
			if err := EncodeRows(l, p, r, x[r*96:min(13, r+4)*96], scale, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		if scale != ts || !bytes.Equal(p, ref) {
			t.Errorf("%v: EncodeRows in chunks differs from Encode", ty)
		}
	}
}

func TestPlainTypes(t *testing.T) {
	x := []float32{1, -0.1, 3.14159, 1e-40, 65504}
	for _, ty := range []format.DType{format.F32, format.F16, format.BF16} {
		p, ts, err := Encode(ty, []int64{5}, x, Options{})
		if err != nil || ts != 1 {
			t.Fatal(ty, err)
		}
		dec := make([]float32, 5)
		if err := format.Dequantize(dec, ty, []int64{5}, p, 1); err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			want := v
			switch ty {
			case format.F16:
				want = format.F16ToFloat32(format.Float32ToF16(v))
			case format.BF16:
				want = format.BF16ToFloat32(format.Float32ToBF16(v))
			}
			if dec[i] != want {
				t.Errorf("%v: %v decodes to %v, want %v", ty, v, dec[i], want)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	row := func(n int, at int, v float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%7) * 0.1
		}
		if at >= 0 {
			x[at] = v
		}
		return x
	}
	for _, ty := range append([]format.DType{format.F32, format.F16, format.BF16}, packed...) {
		for _, v := range []float32{nan, inf, -inf} {
			_, _, err := Encode(ty, []int64{3, 64}, row(3*64, 2*64+5, v), Options{Name: "blk.0.w"})
			if !errors.Is(err, ErrNonFinite) {
				t.Errorf("Encode(%v, %v) = %v, want ErrNonFinite", ty, v, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "blk.0.w") || !strings.Contains(msg, "row 2 col 5") {
				t.Errorf("Encode(%v, %v) error %q does not name the tensor, row and column", ty, v, msg)
			}
		}
	}
	for _, c := range []struct {
		name  string
		ty    format.DType
		shape []int64
		x     []float32
		want  error
	}{
		{"q4_0 scale overflow", format.Q4_0, []int64{1, 64}, row(64, 40, 6e5), ErrScaleOverflow},
		{"q8_0 scale overflow", format.Q8_0, []int64{1, 64}, row(64, 40, -1e7), ErrScaleOverflow},
		{"q8_0 1e6 fits", format.Q8_0, []int64{1, 64}, row(64, 40, 1e6), nil},
		{"f16 overflow", format.F16, []int64{2}, []float32{1, 70000}, ErrScaleOverflow},
		{"bf16 overflow", format.BF16, []int64{1}, []float32{math.MaxFloat32}, ErrScaleOverflow},
		{"i4 huge ok", format.I4, []int64{1, 3}, []float32{math.MaxFloat32, -math.MaxFloat32, 1}, nil},
		{"sfp8 huge ok", format.SFP8, []int64{1, 3}, []float32{math.MaxFloat32, -1, 1}, nil},
		{"fp8 huge ok", format.FP8, []int64{1, 3}, []float32{math.MaxFloat32, -1, 1}, nil},
		{"short src", format.FP8, []int64{2, 3}, []float32{1}, errAny},
		{"block cols", format.Q4_0, []int64{1, 48}, row(48, -1, 0), errAny},
		{"vector", format.Q8_0, []int64{32}, row(32, -1, 0), errAny},
		{"unknown", format.DType(77), []int64{1, 32}, row(32, -1, 0), format.ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Encode(c.ty, c.shape, c.x, Options{})
			switch {
			case c.want == nil && err != nil, c.want == errAny && err == nil,
				c.want != nil && c.want != errAny && !errors.Is(err, c.want):
				t.Errorf("Encode(%v, %v) = %v, want %v", c.ty, c.shape, err, c.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestEncodeRowsErrors(t *testing.T) {
	l, _ := format.LayoutOf(format.Q4_0, []int64{4, 32})
	sl, _ := format.LayoutOf(format.SFP8, []int64{4, 32})
	x := make([]float32, 64)
	big := make([]float32, 32)
	big[3] = 2
	for _, c := range []struct {
		name  string
		l     format.Layout
		size  int64
		row   int
		x     []float32
		scale float32
	}{
		{"payload size", l, l.Size - 1, 0, x, 1},
		{"partial row", l, l.Size, 0, x[:40], 1},
		{"past the end", l, l.Size, 3, x, 1},
		{"negative row", l, l.Size, -1, x, 1},
		{"scale on q4_0", l, l.Size, 0, x, 2},
		{"sfp8 zero scale", sl, sl.Size, 0, x, 0},
		{"sfp8 Inf scale", sl, sl.Size, 0, x, float32(math.Inf(1))},
		{"sfp8 value beyond unit scale", sl, sl.Size, 1, big, 1},
		{"sfp8 value beyond scale", sl, sl.Size, 1, big, 1.0001},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := EncodeRows(c.l, make([]byte, c.size), c.row, c.x, c.scale, Options{}); err == nil {
				t.Errorf("EncodeRows(%s) succeeded", c.name)
			}
		})
	}
	if err := EncodeRows(sl, make([]byte, sl.Size), 1, big, SFP8Scale(2), Options{}); err != nil {
		t.Errorf("EncodeRows(SFP8, scale for 2) = %v", err)
	}
}
