package quantize

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// fusedRows returns rows of 8 blocks covering what the block encoders treat specially.
func fusedRows(rng *rand.Rand) [][]float32 {
	const cols = 8 * bs
	var out [][]float32
	row := func(f func(j int) float32) {
		r := make([]float32, cols)
		for j := range r {
			r[j] = f(j)
		}
		out = append(out, r)
	}
	for _, s := range []float64{1, 1e-3, 50, 1e-6, 3e4} {
		row(func(int) float32 { return float32(rng.NormFloat64() * s) })
	}
	row(func(int) float32 { return 0 })
	row(func(j int) float32 { return float32(math.Copysign(0, -1)) })
	// Halves and ties: integers and half-integers up to ±127 and ±8.
	row(func(j int) float32 { return float32(rng.IntN(255)-127) + 0.5*float32(rng.IntN(2)) })
	row(func(j int) float32 { return float32(rng.IntN(17)-8) + 0.5*float32(rng.IntN(2)) })
	// The largest magnitude twice with both signs: the first one sets Q4_0's sign.
	row(func(j int) float32 {
		switch j % bs {
		case 5:
			return 3
		case 9:
			return -3
		}
		return float32(rng.NormFloat64())
	})
	row(func(j int) float32 {
		switch j % bs {
		case 5:
			return -3
		case 9:
			return 3
		}
		return float32(rng.NormFloat64())
	})
	// Tiny blocks whose scale's reciprocal overflows, next to ordinary ones; f16-subnormal scales.
	row(func(j int) float32 {
		if j/bs%2 == 0 {
			return float32(rng.NormFloat64() * 1e-40)
		}
		return float32(rng.NormFloat64())
	})
	row(func(j int) float32 { return float32(rng.NormFloat64() * 1e-7) })
	// Many rows over a wide range of scales, a tenth of the values on half-integers.
	for range 400 {
		s := math.Min(1e4, math.Exp(rng.NormFloat64()*4))
		row(func(int) float32 {
			v := rng.NormFloat64() * s
			if rng.IntN(10) == 0 {
				v = math.Round(v) + 0.5
			}
			return float32(v)
		})
	}
	return out
}

// TestEncodeRowsStats checks the fused Q4_0/Q8_0 encoders byte for byte against EncodeRows and
// their error sums against decoding and comparing.
func TestEncodeRowsStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rows := fusedRows(rng)
	cols := len(rows[0])
	var all []float32
	for _, r := range rows {
		all = append(all, r...)
	}
	shape := []int64{int64(len(rows)), int64(cols)}
	for _, ty := range []format.DType{format.Q4_0, format.Q8_0, format.I4, format.FP8, format.BF16} {
		l, err := format.LayoutOf(ty, shape)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, l.Size)
		if err := EncodeRows(l, want, 0, all, 1, Options{}); err != nil {
			t.Fatal(err)
		}
		var wantSt ErrorStats
		dec := make([]float32, cols)
		for r := range rows {
			format.DecodeRow(dec, ty, l, want, r, 1)
			wantSt.Add(rows[r], dec)
		}
		// Row by row and all at once, starting at row 1 too.
		got := make([]byte, l.Size)
		var st ErrorStats
		if err := encodeRowsStats(l, got, 0, all[:cols], 1, Options{}, &st, make([]float32, cols)); err != nil {
			t.Fatal(err)
		}
		if err := encodeRowsStats(l, got, 1, all[cols:], 1, Options{}, &st, make([]float32, cols)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%v: byte %d = %#x, EncodeRows wrote %#x", ty, i, got[i], want[i])
				}
			}
		}
		if st.Count() != wantSt.Count() || st.MaxAbs() != wantSt.MaxAbs() ||
			math.Abs(st.RelL2()-wantSt.RelL2()) > 1e-12*wantSt.RelL2() {
			t.Errorf("%v: stats n %d rel %v max %v, decoding gives n %d rel %v max %v", ty,
				st.Count(), st.RelL2(), st.MaxAbs(), wantSt.Count(), wantSt.RelL2(), wantSt.MaxAbs())
		}
	}
}

// TestEncodeRowsStatsErrors checks that the fused path fails like EncodeRows: a non-finite
// value anywhere in the row wins over a scale overflow in an earlier block.
func TestEncodeRowsStatsErrors(t *testing.T) {
	const cols = 4 * bs
	cases := map[string]func(x []float32){
		"nan":               func(x []float32) { x[70] = float32(math.NaN()) },
		"inf":               func(x []float32) { x[3] = float32(math.Inf(-1)) },
		"overflow":          func(x []float32) { x[40] = 1e30 },
		"overflow-then-nan": func(x []float32) { x[1] = 1e30; x[100] = float32(math.NaN()) },
	}
	for name, spoil := range cases {
		for _, ty := range []format.DType{format.Q4_0, format.Q8_0} {
			x := make([]float32, 2*cols)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			spoil(x[cols:])
			l, _ := format.LayoutOf(ty, []int64{2, cols})
			want := EncodeRows(l, make([]byte, l.Size), 0, x, 1, Options{Name: "w"})
			var st ErrorStats
			got := encodeRowsStats(l, make([]byte, l.Size), 0, x, 1, Options{Name: "w"}, &st, make([]float32, cols))
			if want == nil || got == nil || got.Error() != want.Error() {
				t.Errorf("%s %v: error %v, EncodeRows says %v", name, ty, got, want)
			}
		}
	}
}

// TestEncodeRowsStatsSFP8 checks the vector SFP8 path byte for byte against EncodeRows, with
// and without a tensor scale, on values spread over every exponent SFP8 has (and beyond:
// flushed to zero), and its errors for values out of range.
func TestEncodeRowsStatsSFP8(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const cols = 200 // a vector body and a tail
	rows := 300
	x := make([]float32, rows*cols)
	for i := range x {
		e := rng.Float64()*32 - 30 // 2⁻³⁰ … 2²
		v := math.Copysign(math.Exp2(e), rng.NormFloat64())
		if rng.IntN(20) == 0 {
			v = float64(math.Float32frombits(rng.Uint32() & 0xbfffffff)) // any pattern below 2
		}
		x[i] = float32(v)
	}
	x[5], x[6], x[7] = 1.875, -1.875, 0
	clipped := make([]float32, len(x))
	for i, v := range x {
		clipped[i] = float32(math.Max(-sfp8Max, math.Min(sfp8Max, float64(v))))
	}
	l, _ := format.LayoutOf(format.SFP8, []int64{int64(rows), cols})
	for _, c := range []struct {
		x     []float32
		scale float32
	}{{clipped, 1}, {x, SFP8Scale(MaxAbs(x))}, {x, SFP8Scale(MaxAbs(x) * 3)}} {
		want := make([]byte, l.Size)
		if err := EncodeRows(l, want, 0, c.x, c.scale, Options{}); err != nil {
			t.Fatal(err)
		}
		var wantSt, st ErrorStats
		dec := make([]float32, cols)
		for r := range rows {
			format.DecodeRow(dec, format.SFP8, l, want, r, c.scale)
			wantSt.Add(c.x[r*cols:(r+1)*cols], dec)
		}
		got := make([]byte, l.Size)
		if err := encodeRowsStats(l, got, 0, c.x, c.scale, Options{}, &st, dec); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("scale %v: code %d of %v = %#x, EncodeRows wrote %#x", c.scale, i, c.x[i], got[i], want[i])
			}
		}
		if st.Count() != wantSt.Count() || st.MaxAbs() != wantSt.MaxAbs() ||
			math.Abs(st.RelL2()-wantSt.RelL2()) > 1e-12*wantSt.RelL2() {
			t.Errorf("scale %v: stats n %d rel %v max %v, decoding gives n %d rel %v max %v", c.scale,
				st.Count(), st.RelL2(), st.MaxAbs(), wantSt.Count(), wantSt.RelL2(), wantSt.MaxAbs())
		}
	}
	for _, spoil := range []func([]float32){
		func(v []float32) { v[20] = 2 },                        // vector body, scale 1
		func(v []float32) { v[cols-1] = -2 },                   // tail
		func(v []float32) { v[40] = float32(math.NaN()) },      // not finite
		func(v []float32) { v[cols-2] = float32(math.Inf(1)) }, // not finite, tail
	} {
		v := append([]float32(nil), clipped[:2*cols]...)
		spoil(v[cols:])
		l2, _ := format.LayoutOf(format.SFP8, []int64{2, cols})
		want := EncodeRows(l2, make([]byte, l2.Size), 0, v, 1, Options{Name: "w"})
		var st ErrorStats
		got := encodeRowsStats(l2, make([]byte, l2.Size), 0, v, 1, Options{Name: "w"}, &st, make([]float32, cols))
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("error %v, EncodeRows says %v", got, want)
		}
	}
}

// TestEncodeRowsStatsFP8 checks the vector FP8 path byte for byte against EncodeRows on values
// over the whole E4M3 range relative to each row's largest (subnormals, ties, saturation).
func TestEncodeRowsStatsFP8(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const cols, rows = 200, 300
	x := make([]float32, rows*cols)
	for i := range x {
		e := rng.Float64()*40 - 30
		x[i] = float32(math.Copysign(math.Exp2(e), rng.NormFloat64()))
		if rng.IntN(10) == 0 {
			x[i] = float32(rng.IntN(900)-450) / 2 // halves: ties once scaled
		}
	}
	for r := 0; r < 3; r++ { // a zero row, a row of one value, a row with a signed zero
		for j := range cols {
			x[r*cols+j] = []float32{0, 3, float32(math.Copysign(0, -1))}[r]
		}
	}
	l, _ := format.LayoutOf(format.FP8, []int64{rows, cols})
	want := make([]byte, l.Size)
	if err := EncodeRows(l, want, 0, x, 1, Options{}); err != nil {
		t.Fatal(err)
	}
	var wantSt, st ErrorStats
	dec := make([]float32, cols)
	for r := range rows {
		format.DecodeRow(dec, format.FP8, l, want, r, 1)
		wantSt.Add(x[r*cols:(r+1)*cols], dec)
	}
	got := make([]byte, l.Size)
	if err := encodeRowsStats(l, got, 0, x, 1, Options{}, &st, dec); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("byte %d = %#x, EncodeRows wrote %#x", i, got[i], want[i])
		}
	}
	if st.Count() != wantSt.Count() || st.MaxAbs() != wantSt.MaxAbs() ||
		math.Abs(st.RelL2()-wantSt.RelL2()) > 1e-12*wantSt.RelL2() {
		t.Errorf("stats n %d rel %v max %v, decoding gives n %d rel %v max %v",
			st.Count(), st.RelL2(), st.MaxAbs(), wantSt.Count(), wantSt.RelL2(), wantSt.MaxAbs())
	}
	v := append([]float32(nil), x[3*cols:5*cols]...)
	v[cols+7] = float32(math.NaN())
	l2, _ := format.LayoutOf(format.FP8, []int64{2, cols})
	wantErr := EncodeRows(l2, make([]byte, l2.Size), 0, v, 1, Options{Name: "w"})
	gotErr := encodeRowsStats(l2, make([]byte, l2.Size), 0, v, 1, Options{Name: "w"}, &st, dec)
	if wantErr == nil || gotErr == nil || gotErr.Error() != wantErr.Error() {
		t.Errorf("error %v, EncodeRows says %v", gotErr, wantErr)
	}
}
