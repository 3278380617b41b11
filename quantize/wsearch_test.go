package quantize

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// q4DecodeErr decodes block b of a Q4_0 payload with format's reference decoder and returns
// Σ imp·(x − x̂)² over it.
func q4DecodeErr(t *testing.T, payload []byte, shape []int64, b int, x, imp []float32) float64 {
	t.Helper()
	l, err := format.LayoutOf(format.Q4_0, shape)
	if err != nil {
		t.Fatal(err)
	}
	cols := int(shape[1])
	r := b * 32 / cols
	dec := make([]float32, cols)
	format.DecodeRow(dec, format.Q4_0, l, payload, r, 1)
	var e float64
	for j := range 32 {
		i := b*32 + j
		d := float64(x[i]) - float64(dec[i%cols])
		e += float64(imp[i%cols]) * d * d
	}
	return e
}

// TestQ4_0WeightedNeverWorse: on random blocks with random importances (heavy-tailed weights,
// planted small and large columns, zero importances), Encode's weighted Q4_0 block has a
// weighted error Σ imp·(x − x̂)² (decoded by format's reference decoder) no larger than
// llama.cpp's weighted choice and the unweighted one, and strictly smaller on some.
func TestQ4_0WeightedNeverWorse(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const rows, cols = 24, 256
	better, total := 0, 0
	var sumNew, sumOld float64
	for trial := range 6 {
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.02)
			if trial%2 == 1 {
				x[i] = float32(rng.NormFloat64() * rng.ExpFloat64() * 0.02)
			}
		}
		imp := make([]float32, cols)
		for j := range imp {
			imp[j] = float32(rng.ExpFloat64())
			switch rng.IntN(16) {
			case 0: // an activation outlier: large importance, small weights
				imp[j] *= 4096
				for r := range rows {
					x[r*cols+j] /= 64
				}
			case 1: // a weight outlier: small importance, large weights
				imp[j] /= 64
				for r := range rows {
					x[r*cols+j] *= 8
				}
			case 2:
				imp[j] = 0
			}
		}
		shape := []int64{rows, cols}
		payload, _, err := Encode(format.Q4_0, shape, x, Options{Importance: imp, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		plain, _, err := Encode(format.Q4_0, shape, x, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// llama.cpp's weighted blocks, laid out as a payload.
		l, _ := format.LayoutOf(format.Q4_0, shape)
		ggml := make([]byte, len(payload))
		for r := range rows {
			row := x[r*cols : (r+1)*cols]
			s2 := rowSigma2(row)
			for c := 0; c < cols; c += 32 {
				b := (r*cols + c) / 32
				h, err := q4BlockGGML(ggml[16*b:], row[c:], imp[c:], s2)
				if err != nil {
					t.Fatal(err)
				}
				ggml[l.ScalesOff+2*int64(b)] = byte(h)
				ggml[l.ScalesOff+2*int64(b)+1] = byte(h >> 8)
			}
		}
		for b := range rows * cols / 32 {
			eNew := q4DecodeErr(t, payload, shape, b, x, imp)
			eOld := q4DecodeErr(t, ggml, shape, b, x, imp)
			ePlain := q4DecodeErr(t, plain, shape, b, x, imp)
			if eNew > eOld || eNew > ePlain {
				t.Fatalf("trial %d block %d: weighted error %g, llama.cpp's %g, unweighted %g", trial, b, eNew, eOld, ePlain)
			}
			if eNew < eOld*(1-1e-6) {
				better++
			}
			total++
			sumNew += eNew
			sumOld += eOld
		}
	}
	if better < total/4 || sumNew > 0.9*sumOld {
		t.Errorf("the search improved %d of %d blocks, total weighted error %g against llama.cpp's %g", better, total, sumNew, sumOld)
	}
	t.Logf("improved %d of %d blocks; total weighted error %.4g, llama.cpp's %.4g (%.3f×)", better, total, sumNew, sumOld, sumNew/sumOld)
}

// TestQ4_0UnweightedUnchanged: without importances the bytes are the reference
// round-to-nearest ones, whatever the weighted path does.
func TestQ4_0UnweightedUnchanged(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const rows, cols = 8, 128
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	payload, _, err := Encode(format.Q4_0, []int64{rows, cols}, x, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := format.LayoutOf(format.Q4_0, []int64{rows, cols})
	for b := range rows * cols / 32 {
		var blk [18]byte
		var in [32]float32
		copy(in[:], x[32*b:])
		if err := EncodeQ4_0Block(&blk, &in); err != nil {
			t.Fatal(err)
		}
		got := append(append([]byte(nil), payload[l.ScalesOff+2*int64(b):l.ScalesOff+2*int64(b)+2]...), payload[16*b:16*b+16]...)
		if !bytes.Equal(got, blk[:]) {
			t.Fatalf("block %d: % x, reference % x", b, got, blk)
		}
	}
}

// TestSweepFindsOptimum: on small groups, the sweep's G is at least the best over a dense grid
// of scales (it visits every level vector a positive scale gives).
func TestSweepFindsOptimum(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	var s wsScratch
	for range 40 {
		n := 1 + rng.IntN(8)
		y := make([]float32, n)
		q := make([]float32, n)
		for i := range y {
			y[i] = float32(rng.NormFloat64())
			q[i] = float32(rng.ExpFloat64())
		}
		_, gain := s.sweep(y, q, -8, 7)
		var best float64
		amax := float64(MaxAbs(y))
		for k := 1; k <= 20000; k++ {
			u := amax * 6 / float64(k) // scales from 6·amax down to 3e-4·amax
			var sxl, sl2 float64
			for i, v := range y {
				l := float64(levelFor(float64(v), u, -8, 7))
				sxl += float64(q[i]) * float64(v) * l
				sl2 += float64(q[i]) * l * l
			}
			if sl2 > 0 {
				best = max(best, sxl*sxl/sl2)
			}
		}
		if gain < best*(1-1e-12) {
			t.Fatalf("y %v q %v: sweep G %g, grid %g", y, q, gain, best)
		}
	}
}

// TestI4WeightedNeverWorse: on random rows with random importances, the I4 row scale Encode
// picks with importances has a weighted error (decoded by format's reference decoder) no larger
// than the clipping search's, and a smaller one on most rows with planted outlier columns.
func TestI4WeightedNeverWorse(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	const rows, cols = 32, 256
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.02)
	}
	imp := make([]float32, cols)
	for j := range imp {
		imp[j] = float32(rng.ExpFloat64())
		switch rng.IntN(16) {
		case 0:
			imp[j] *= 4096
			for r := range rows {
				x[r*cols+j] /= 64
			}
		case 1:
			imp[j] /= 64
			for r := range rows {
				x[r*cols+j] *= 8
			}
		}
	}
	shape := []int64{rows, cols}
	payload, _, err := Encode(format.I4, shape, x, Options{Importance: imp})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := format.LayoutOf(format.I4, shape)
	dec := make([]float32, cols)
	better := 0
	for r := range rows {
		format.DecodeRow(dec, format.I4, l, payload, r, 1)
		var e float64
		for j, v := range x[r*cols : (r+1)*cols] {
			d := float64(v) - float64(dec[j])
			e += float64(imp[j]) * d * d
		}
		_, old := i4ScaleClip(x[r*cols:(r+1)*cols], imp)
		if e > old*(1+1e-12) {
			t.Fatalf("row %d: weighted error %g, clipping search %g", r, e, old)
		}
		if e < old*(1-1e-6) {
			better++
		}
	}
	if better < rows/2 {
		t.Errorf("the search improved %d of %d rows", better, rows)
	}
}
