package format

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// refF16 decodes binary16 independently of F16ToFloat32 (float64 arithmetic).
func refF16(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1F
	m := float64(h & 0x3FF)
	switch e {
	case 0:
		return s * math.Ldexp(m, -24)
	case 0x1F:
		if m != 0 {
			return math.NaN()
		}
		return s * math.Inf(1)
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

// refE4M3 decodes E4M3FN from the spec's formula.
func refE4M3(c byte) float64 {
	s := 1.0
	if c&0x80 != 0 {
		s = -1
	}
	e, m := int(c>>3)&0xF, float64(c&7)
	switch {
	case e == 0xF && m == 7:
		return math.NaN()
	case e == 0:
		return s * m / 8 * math.Ldexp(1, -6)
	}
	return s * (1 + m/8) * math.Ldexp(1, e-7)
}

// refSFP8 decodes SFP8 the way gemma.cpp's scalar test reference (F32FromSFP8) does:
// assembling binary32 fields.
func refSFP8(c byte) float64 {
	if c == 0x80 {
		return math.NaN()
	}
	sign := uint32(c&0x80) << 24
	v := uint32(c & 0x7F)
	if v == 0 {
		return 0
	}
	large := v >= 64
	mBits, bias := uint32(2), uint32(23)
	if large {
		mBits, bias = 3, 15
	}
	m := v & (1<<mBits - 1)
	e := v >> mBits
	bits := sign | (127+e-bias)<<23 | m<<(23-mBits)
	return float64(math.Float32frombits(bits))
}

func le32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// refElem decodes element (r, c) of a payload independently of DecodeRow: float64 products
// of exactly representable factors, rounded once to float32, then times tensorScale.
func refElem(t DType, l Layout, p []byte, r, c int64, ts float32) float32 {
	var v float64
	codes := p[l.CodesOff+r*l.RowStride:]
	switch t {
	case F32:
		return le32(codes[4*c:]) * ts
	case F16:
		v = refF16(binary.LittleEndian.Uint16(codes[2*c:]))
	case BF16:
		v = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(codes[2*c:])) << 16))
	case Q8_0:
		d := refF16(binary.LittleEndian.Uint16(p[l.ScalesOff+2*(r*l.Blocks()+c/32):]))
		v = float64(int8(codes[c])) * d
	case Q4_0:
		d := refF16(binary.LittleEndian.Uint16(p[l.ScalesOff+2*(r*l.Blocks()+c/32):]))
		b, j := c/32, c%32
		q := codes[16*b+j%16]
		if j >= 16 {
			q >>= 4
		}
		v = float64(int(q&15)-8) * d
	case I4:
		q := codes[c/2]
		if c%2 == 1 {
			q >>= 4
		}
		v = float64(int(q&15)-8) * float64(le32(p[l.ScalesOff+4*r:]))
	case FP8:
		v = refE4M3(codes[c]) * float64(le32(p[l.ScalesOff+4*r:]))
	case SFP8:
		v = refSFP8(codes[c])
	}
	// The products above are exact in float64 except FP8's (4 + 24 significant bits: exact
	// too), so rounding once to float32 is the single float32 rounding of the reference.
	f := float32(v)
	if ts != 1 {
		f *= ts
	}
	return f
}

func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// checkDecode compares Dequantize and DecodeRow with the independent reference on every
// element.
func checkDecode(t testing.TB, ty DType, shape []int64, p []byte, ts float32) {
	t.Helper()
	l, err := LayoutOf(ty, shape)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, l.Rows*l.Cols)
	err = Dequantize(dst, ty, shape, p, ts)
	if err != nil && !errors.Is(err, ErrFormat) {
		t.Fatalf("Dequantize(%v, %v) error %v does not match ErrFormat", ty, shape, err)
	}
	row := make([]float32, l.Cols)
	for r := range l.Rows {
		DecodeRow(row, ty, l, p, int(r), ts)
		for c := range l.Cols {
			want := refElem(ty, l, p, r, c, ts)
			if got := dst[r*l.Cols+c]; !sameBits(got, want) {
				t.Fatalf("Dequantize(%v, %v)[%d,%d] = %v (%#x), want %v (%#x)", ty, shape, r, c, got, math.Float32bits(got), want, math.Float32bits(want))
			}
			if got := row[c]; !sameBits(got, want) {
				t.Fatalf("DecodeRow(%v, %v, %d)[%d] = %v, want %v", ty, shape, r, c, got, want)
			}
		}
	}
}

func TestF16ToFloat32(t *testing.T) {
	for h := range 1 << 16 {
		got := F16ToFloat32(uint16(h))
		want := refF16(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("F16ToFloat32(%#04x) = %v, want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("F16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

// checkNearestF16 checks that h = Float32ToF16(f) is the nearest binary16 to f, ties to
// even, with overflow to Inf from 65520 on.
func checkNearestF16(t *testing.T, f float32) {
	t.Helper()
	h := Float32ToF16(f)
	if math.Signbit(float64(f)) != (h&0x8000 != 0) {
		t.Fatalf("Float32ToF16(%v) = %#04x: sign lost", f, h)
	}
	a := math.Abs(float64(f))
	if a >= 65520 {
		if h&0x7FFF != 0x7C00 {
			t.Fatalf("Float32ToF16(%v) = %#04x, want Inf", f, h)
		}
		return
	}
	m := h & 0x7FFF
	if m >= 0x7C00 {
		t.Fatalf("Float32ToF16(%v) = %#04x, want finite", f, h)
	}
	err := math.Abs(a - refF16(m))
	for _, n := range []uint16{m - 1, m + 1} {
		if m == 0 && n == 0xFFFF || n >= 0x7C00 {
			continue
		}
		e := math.Abs(a - refF16(n))
		if e < err || e == err && m&1 == 1 {
			t.Fatalf("Float32ToF16(%v) = %#04x (%v), but %#04x (%v) is nearer or even", f, h, refF16(m), n, refF16(n))
		}
	}
}

func TestFloat32ToF16(t *testing.T) {
	for h := range 0x7C00 { // every finite f16, the midpoints and their float32 neighbours
		for _, s := range []float64{1, -1} {
			v := s * refF16(uint16(h))
			want := uint16(h)
			if s < 0 {
				want |= 0x8000
			}
			if got := Float32ToF16(float32(v)); got != want {
				t.Fatalf("Float32ToF16(%v) = %#04x, want %#04x", v, got, want)
			}
			mid := float32(s * (refF16(uint16(h)) + refF16(uint16(h+1))) / 2)
			for _, f := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1)))} {
				checkNearestF16(t, f)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		checkNearestF16(t, math.Float32frombits(rng.Uint32()&0xC7FFFFFF|0x30000000))
		checkNearestF16(t, math.Float32frombits(rng.Uint32()&0xBFFFFFFF))
	}
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{65504, 0x7BFF}, {65519.996, 0x7BFF}, {65520, 0x7C00}, {-1e9, 0xFC00},
		{float32(math.Inf(1)), 0x7C00}, {0.0039370078, 0x1C08}, {-0.1, 0xAE66},
		{float32(math.Ldexp(1, -25)), 0}, {math.Nextafter32(float32(math.Ldexp(1, -25)), 1), 1},
		{float32(math.Ldexp(3, -25)), 2}, {float32(math.Ldexp(3, -26)), 1}, // 1.5 units: tie to even 2
		{float32(math.Copysign(0, -1)), 0x8000}, {1e-45, 0},
	} {
		if got := Float32ToF16(c.f); got != c.want {
			t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if got := Float32ToF16(float32(math.NaN())); got&0x7C00 != 0x7C00 || got&0x3FF == 0 {
		t.Errorf("Float32ToF16(NaN) = %#04x, want a NaN", got)
	}
}

func TestBF16(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{1, 0x3F80}, {math.Float32frombits(0x3F808000), 0x3F80}, {math.Float32frombits(0x3F818000), 0x3F82},
		{math.Float32frombits(0x3F808001), 0x3F81}, {math.MaxFloat32, 0x7F80}, {-math.MaxFloat32, 0xFF80},
		{math.Float32frombits(0x7F7F7FFF), 0x7F7F}, {1e-45, 0},
	} {
		if got := Float32ToBF16(c.f); got != c.want {
			t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if got := Float32ToBF16(math.Float32frombits(0x7F800001)); got&0x7F80 != 0x7F80 || got&0x7F == 0 {
		t.Errorf("Float32ToBF16(signalling NaN) = %#04x, want a NaN", got)
	}
	for h := range 1 << 16 {
		f := BF16ToFloat32(uint16(h))
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("BF16ToFloat32(%#04x) = %#08x", h, math.Float32bits(f))
		}
		if f == f && Float32ToBF16(f) != uint16(h) {
			t.Fatalf("Float32ToBF16(BF16ToFloat32(%#04x)) = %#04x", h, Float32ToBF16(f))
		}
	}
}

func TestE4M3ToFloat32(t *testing.T) {
	for c := range 256 {
		got, want := E4M3ToFloat32(byte(c)), refE4M3(byte(c))
		if math.IsNaN(want) != math.IsNaN(float64(got)) || !math.IsNaN(want) && (float64(got) != want || math.Signbit(want) != math.Signbit(float64(got))) {
			t.Errorf("E4M3ToFloat32(%#02x) = %v, want %v", c, got, want)
		}
	}
	for _, c := range []struct {
		code byte
		want float32
	}{
		{0x7E, 448}, {0xFE, -448}, {0x08, 0.015625}, {0x01, 0.001953125}, {0x07, 0.013671875},
		{0x38, 1}, {0x30, 0.5}, {0xC0, -2}, {0x1D, 0.1015625}, {0x2A, 0.3125}, {0x45, 3.25},
		{0x58, 16}, {0x59, 18}, {0x77, 240}, {0x78, 256}, {0x00, 0},
	} {
		if got := E4M3ToFloat32(c.code); got != c.want {
			t.Errorf("E4M3ToFloat32(%#02x) = %v, want %v", c.code, got, c.want)
		}
	}
	if got := E4M3ToFloat32(0x80); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("E4M3ToFloat32(0x80) = %v, want -0", got)
	}
	for _, c := range []byte{0x7F, 0xFF} {
		if got := E4M3ToFloat32(c); !math.IsNaN(float64(got)) {
			t.Errorf("E4M3ToFloat32(%#02x) = %v, want NaN", c, got)
		}
	}
}

func TestSFP8ToFloat32(t *testing.T) {
	seen := map[float32]byte{}
	for c := range 256 {
		got := SFP8ToFloat32(byte(c))
		if c == 0x80 {
			if !math.IsNaN(float64(got)) {
				t.Errorf("SFP8ToFloat32(0x80) = %v, want NaN (reserved)", got)
			}
			continue
		}
		if want := refSFP8(byte(c)); float64(got) != want || got == 0 && math.Signbit(float64(got)) {
			t.Errorf("SFP8ToFloat32(%#02x) = %v, want %v", c, got, want)
		}
		if b := math.Float32bits(got); b&0xFFFF != 0 {
			t.Errorf("SFP8ToFloat32(%#02x) = %v is not a bf16 value", c, got)
		}
		if o, dup := seen[got]; dup {
			t.Errorf("SFP8ToFloat32(%#02x) = SFP8ToFloat32(%#02x) = %v", c, o, got)
		}
		seen[got] = byte(c)
		if c&0x7F > 0 && c&0x7F < 0x7F && !(math.Abs(float64(got)) < math.Abs(float64(SFP8ToFloat32(byte(c+1))))) {
			t.Errorf("SFP8 magnitudes not increasing at %#02x", c)
		}
	}
	if len(seen) != 255 {
		t.Errorf("%d distinct SFP8 values, want 255", len(seen))
	}
	for _, c := range []struct {
		code byte
		want float32
	}{
		{0x7F, 1.875}, {0xFF, -1.875}, {0x78, 1}, {0xF8, -1}, {0x70, 0.5}, {0x6A, 0.3125}, {0xEA, -0.3125},
		{0x5D, 0.1015625}, {0x42, 0.009765625}, {0x40, 0.0078125}, {0x3F, 0.0068359375},
		{0x34, 0.0009765625}, {0x19, 9.5367431640625e-6}, {0x01, 1.4901161193847656e-7}, {0x00, 0},
	} {
		if got := SFP8ToFloat32(c.code); got != c.want {
			t.Errorf("SFP8ToFloat32(%#02x) = %v, want %v", c.code, got, c.want)
		}
	}
}

type blockLine struct {
	Type     string   `json:"type"`
	Category string   `json:"category"`
	Input    []string `json:"input"`
	BlockHex string   `json:"block_hex"`
	Note     string   `json:"note"`
}

func readBlocks(t testing.TB) []blockLine {
	t.Helper()
	f, err := os.Open("../testdata/quant/blocks.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []blockLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var b blockLine
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDecodeLlamaBlocks decodes every llama.cpp block of testdata/quant/blocks.jsonl, moved
// into the planar layout, and checks it bit for bit.
func TestDecodeLlamaBlocks(t *testing.T) {
	blocks := readBlocks(t)
	if len(blocks) != 261 {
		t.Fatalf("read %d blocks, want 261", len(blocks))
	}
	for i, b := range blocks {
		raw, err := hex.DecodeString(b.BlockHex)
		if err != nil {
			t.Fatal(err)
		}
		ty := map[string]DType{"q4_0": Q4_0, "q8_0": Q8_0}[b.Type]
		shape := []int64{1, 32}
		l, _ := LayoutOf(ty, shape)
		p := make([]byte, l.Size)
		copy(p[l.CodesOff:], raw[2:])
		copy(p[l.ScalesOff:], raw[:2])
		if int64(len(raw)) != 2+l.CodesLen {
			t.Fatalf("line %d: %d block bytes", i+1, len(raw))
		}
		checkDecode(t, ty, shape, p, 1)
		// Grid inputs decode to themselves.
		if b.Category == "q4_grid" && ty == Q4_0 || b.Category == "q8_grid" && ty == Q8_0 {
			dst := make([]float32, 32)
			if err := Dequantize(dst, ty, shape, p, 1); err != nil {
				t.Fatal(err)
			}
			for j, h := range b.Input {
				u, _ := strconv.ParseUint(h, 16, 32)
				if x := math.Float32frombits(uint32(u)); dst[j] != x {
					t.Errorf("line %d (%s): element %d decodes to %v, input %v", i+1, b.Category, j, dst[j], x)
				}
			}
		}
	}
}

func TestDecodeTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := [][]int64{{1, 32}, {3, 64}, {2, 2, 48}, {5, 1}, {3, 7}, {4, 33}, {0, 32}, {2, 0}}
	types := []DType{F32, F16, BF16, Q8_0, Q4_0, I4, FP8, SFP8}
	for _, ty := range types {
		for _, shape := range shapes {
			l, err := LayoutOf(ty, shape)
			if err != nil {
				continue // e.g. Q4_0 with 33 columns
			}
			p := make([]byte, l.Size)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			// Keep scales finite so Dequantize succeeds, then check the decoded values.
			for off := l.ScalesOff; off < l.ScalesOff+l.ScalesLen; {
				if ty == Q4_0 || ty == Q8_0 {
					binary.LittleEndian.PutUint16(p[off:], Float32ToF16(float32(rng.NormFloat64())))
					off += 2
				} else {
					binary.LittleEndian.PutUint32(p[off:], math.Float32bits(float32(rng.ExpFloat64())))
					off += 4
				}
			}
			for _, ts := range []float32{1, 0.37} {
				checkDecode(t, ty, shape, p, ts)
			}
		}
	}
}

func TestDecodeRowExamples(t *testing.T) {
	// I4, 1×5: codes q+8 in nibble order, pad nibble 8, scale 0.5.
	l, _ := LayoutOf(I4, []int64{1, 5})
	p := make([]byte, l.Size)
	copy(p, []byte{0xF0, 0x87, 0x89})
	binary.LittleEndian.PutUint32(p[l.ScalesOff:], math.Float32bits(0.5))
	got := make([]float32, 5)
	DecodeRow(got, I4, l, p, 0, 1)
	want := []float32{-4, 3.5, -0.5, 0, 0.5}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("DecodeRow(I4)[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// Q4_0 with a negative scale: nibble 8 is −0, nibble 0 is the positive extreme.
	l, _ = LayoutOf(Q4_0, []int64{1, 32})
	p = make([]byte, l.Size)
	p[0] = 0x08 // element 0: nibble 8, element 16: nibble 0
	binary.LittleEndian.PutUint16(p[l.ScalesOff:], 0xAE66)
	q := make([]float32, 32)
	DecodeRow(q, Q4_0, l, p, 0, 1)
	if q[0] != 0 || !math.Signbit(float64(q[0])) || q[16] != 8*0.0999755859375 {
		t.Errorf("DecodeRow(Q4_0) = %v, %v; want -0, 0.7998046875", q[0], q[16])
	}
	// SFP8 applies the tensor scale: 0x7F·1.6 (w = 3.0 in the spec example).
	l, _ = LayoutOf(SFP8, []int64{1, 2})
	s := make([]float32, 2)
	DecodeRow(s, SFP8, l, []byte{0x7F, 0xF4}, 0, 1.6)
	if s[0] != 1.875*float32(1.6) || s[1] != -0.75*float32(1.6) {
		t.Errorf("DecodeRow(SFP8, scale 1.6) = %v", s)
	}
}

func TestDequantizeErrors(t *testing.T) {
	sfp := []byte{0x10, 0x80}
	fp8 := func(code byte, scale float32) []byte {
		l, _ := LayoutOf(FP8, []int64{1, 2})
		p := make([]byte, l.Size)
		p[1] = code
		binary.LittleEndian.PutUint32(p[l.ScalesOff:], math.Float32bits(scale))
		return p
	}
	q8 := func(h uint16) []byte {
		l, _ := LayoutOf(Q8_0, []int64{1, 32})
		p := make([]byte, l.Size)
		binary.LittleEndian.PutUint16(p[l.ScalesOff:], h)
		return p
	}
	for _, c := range []struct {
		name    string
		ty      DType
		shape   []int64
		p       []byte
		ts      float32
		wantErr error
	}{
		{"ok", FP8, []int64{1, 2}, fp8(0x38, 1), 1, nil},
		{"short payload", SFP8, []int64{1, 3}, sfp, 1, ErrFormat},
		{"long payload", SFP8, []int64{1, 1}, sfp, 1, ErrFormat},
		{"sfp8 0x80", SFP8, []int64{1, 2}, sfp, 1, ErrFormat},
		{"fp8 NaN code", FP8, []int64{1, 2}, fp8(0xFF, 1), 1, ErrFormat},
		{"fp8 Inf scale", FP8, []int64{1, 2}, fp8(0x38, float32(math.Inf(1))), 1, ErrFormat},
		{"q8 Inf scale", Q8_0, []int64{1, 32}, q8(0x7C00), 1, ErrFormat},
		{"q8 NaN scale", Q8_0, []int64{1, 32}, q8(0xFE01), 1, ErrFormat},
		{"q8 neg scale", Q8_0, []int64{1, 32}, q8(0xBC00), 1, nil},
		{"zero tensor scale", FP8, []int64{1, 2}, fp8(0x38, 1), 0, ErrFormat},
		{"NaN tensor scale", FP8, []int64{1, 2}, fp8(0x38, 1), float32(math.NaN()), ErrFormat},
		{"unknown type", DType(99), []int64{1, 2}, sfp, 1, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, _ := LayoutOf(c.ty, c.shape)
			dst := make([]float32, l.Rows*l.Cols)
			err := Dequantize(dst, c.ty, c.shape, c.p, c.ts)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("Dequantize(%v, %v) = %v, want %v", c.ty, c.shape, err, c.wantErr)
			}
		})
	}
	if err := Dequantize(make([]float32, 3), SFP8, []int64{1, 2}, []byte{1, 2}, 1); err == nil {
		t.Error("Dequantize with len(dst) 3 for 2 elements succeeded")
	}
}

func TestDecodeRowPanics(t *testing.T) {
	l, _ := LayoutOf(SFP8, []int64{2, 4})
	p := make([]byte, l.Size)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"row", func() { DecodeRow(make([]float32, 4), SFP8, l, p, 2, 1) }},
		{"dst", func() { DecodeRow(make([]float32, 3), SFP8, l, p, 0, 1) }},
		{"payload", func() { DecodeRow(make([]float32, 4), SFP8, l, p[:7], 0, 1) }},
		{"type", func() { DecodeRow(make([]float32, 4), FP8, l, p, 0, 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("DecodeRow with a bad %s did not panic", c.name)
				}
			}()
			c.f()
		})
	}
}

// FuzzDequantize decodes arbitrary bytes as every type: no panic, errors match ErrFormat,
// and the decoded values equal the independent reference.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(Q4_0), uint8(2), uint8(1), []byte("\x00\x80\x88\x88"), float32(1))
	f.Add(uint8(SFP8), uint8(3), uint8(5), []byte{0x80, 0x7F, 0xFF}, float32(1.6))
	f.Add(uint8(I4), uint8(1), uint8(7), []byte{0xF0, 0x87, 0x89, 0x00}, float32(1))
	f.Add(uint8(FP8), uint8(2), uint8(3), []byte{0x7F, 0x7E, 0x01}, float32(0.5))
	f.Add(uint8(Q8_0), uint8(1), uint8(1), []byte{0x7C, 0x00}, float32(1))
	f.Fuzz(func(t *testing.T, ty, rows, colsDiv uint8, data []byte, ts float32) {
		dt := DType(ty % 24)
		cols := int64(colsDiv % 80)
		if dt == Q4_0 || dt == Q8_0 {
			cols = 32 * int64(colsDiv%4)
		}
		shape := []int64{int64(rows % 6), cols}
		l, err := LayoutOf(dt, shape)
		if err != nil {
			return
		}
		dst := make([]float32, l.Rows*l.Cols)
		// The raw bytes first (usually the wrong size), then the bytes cycled to the right size.
		if err := Dequantize(dst, dt, shape, data, ts); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("Dequantize error %v does not match ErrFormat", err)
		}
		if len(data) == 0 {
			data = []byte{0}
		}
		p := make([]byte, l.Size)
		for i := range p {
			p[i] = data[i%len(data)]
		}
		if !(ts > 0) || math.IsInf(float64(ts), 0) {
			ts = 1
		}
		checkDecode(t, dt, shape, p, ts)
	})
}
