package verify

import (
	"math"
	"testing"
)

// fixedLogits gives every position the same logits, shifted by the position so rows differ.
type fixedLogits struct{ base []float32 }

func (f fixedLogits) WindowLogits(ids []int32, from int, emit func(int, []float32)) error {
	row := make([]float32, len(f.base))
	for p := from; p < len(ids)-1; p++ {
		for i, v := range f.base {
			row[i] = v + float32(p%3)*float32(i)*0.1
		}
		emit(p, row)
	}
	return nil
}

func TestKLD(t *testing.T) {
	p := fixedLogits{[]float32{2, 1, 0, -1}}
	q := fixedLogits{[]float32{1, 2, 0, -1}}
	text := make([]int32, 40)
	for i := range text {
		text[i] = int32(i % 4)
	}
	o := PerplexityOptions{Ctx: 8, BOS: 0}
	same, err := KLD(p, p, text, o)
	if err != nil {
		t.Fatal(err)
	}
	if same.KLDMean != 0 || same.SameTop != 1 || same.PPLRef != same.PPLTest {
		t.Errorf("KLD of a model with itself = %+v, want 0 and full agreement", same)
	}
	got, err := KLD(p, q, text, o)
	if err != nil {
		t.Fatal(err)
	}
	// Independent float64 computation over the same positions.
	ws, _ := Windows(len(text), o.Ctx, 0, 0)
	var sum float64
	n, agree := 0, 0
	for _, w := range ws {
		for pos := w.ScoreFrom - w.Start; pos < w.End-w.Start; pos++ {
			var pr, qr [4]float64
			var zp, zq float64
			for i := range 4 {
				pr[i] = math.Exp(float64(p.base[i]) + float64(pos%3)*float64(i)*0.1)
				qr[i] = math.Exp(float64(q.base[i]) + float64(pos%3)*float64(i)*0.1)
				zp += pr[i]
				zq += qr[i]
			}
			ap, aq := 0, 0
			for i := range 4 {
				a, b := pr[i]/zp, qr[i]/zq
				sum += a * math.Log(a/b)
				if pr[i] > pr[ap] {
					ap = i
				}
				if qr[i] > qr[aq] {
					aq = i
				}
			}
			if ap == aq {
				agree++
			}
			n++
		}
	}
	if got.Tokens != n || math.Abs(got.KLDMean-sum/float64(n)) > 1e-7 || math.Abs(got.SameTop-float64(agree)/float64(n)) > 1e-12 {
		t.Errorf("KLD = %+v, want mean %.8f over %d tokens, top-1 %.4f", got.KLDStats, sum/float64(n), n, float64(agree)/float64(n))
	}
}

func TestLSEInPlace(t *testing.T) {
	rng := []float32{}
	for i := 0; i < 262144; i++ {
		rng = append(rng, float32(math.Sin(float64(i)*0.37))*12-float32(i%7))
	}
	for _, x := range [][]float32{{1, 2, 3}, {-1e4, 0, -50}, {5}, rng} {
		want := LogSumExp(x)
		y := append([]float32(nil), x...)
		if got := lseInPlace(y); math.Abs(got-want) > 2e-7*math.Max(1, math.Abs(want)) {
			t.Errorf("lseInPlace (%d values) = %.10f, want %.10f", len(x), got, want)
		}
	}
	if got := lseInPlace([]float32{1, float32(math.NaN())}); !math.IsNaN(got) {
		t.Errorf("lseInPlace with NaN = %v, want NaN", got)
	}
}
