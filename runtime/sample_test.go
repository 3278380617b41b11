package runtime

import (
	"math"
	"testing"
)

func logf(p ...float64) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(math.Log(v))
	}
	return out
}

func TestSamplerGreedy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       SamplerOptions
		logits  []float32
		history []int32
		want    int32
	}{
		{"argmax", SamplerOptions{}, []float32{0, 3, 1, 3}, nil, 1},
		{"limit masks high ids", SamplerOptions{Limit: 3}, []float32{0, 1, 2, 9}, nil, 2},
		{"penalty divides positive", SamplerOptions{RepetitionPenalty: 2}, []float32{2, 1.9}, []int32{0}, 1},
		{"penalty multiplies negative", SamplerOptions{RepetitionPenalty: 2}, []float32{-1, -1.5}, []int32{0, 0}, 1},
		{"top-k 1 with temperature", SamplerOptions{Temperature: 5, TopK: 1, Seed: 3}, []float32{0, 0.5, 0.1}, nil, 1},
		{"top-p tiny keeps the best", SamplerOptions{Temperature: 1, TopP: 1e-9}, []float32{0, 0.5, 0.1}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSampler(tc.o)
			for range 20 {
				if got := s.Sample(tc.logits, tc.history); got != tc.want {
					t.Fatalf("Sample(%v, %v) = %d, want %d", tc.logits, tc.history, got, tc.want)
				}
			}
		})
	}
}

// TestSamplerDistribution draws many samples and compares the frequencies with the
// distribution each filter should leave.
func TestSamplerDistribution(t *testing.T) {
	const n = 40000
	for _, tc := range []struct {
		name   string
		o      SamplerOptions
		logits []float32
		want   []float64
	}{
		{"plain", SamplerOptions{Temperature: 1}, logf(0.5, 0.3, 0.2), []float64{0.5, 0.3, 0.2}},
		{"temperature 2", SamplerOptions{Temperature: 2}, logf(0.5, 0.3, 0.2),
			norm(math.Sqrt(0.5), math.Sqrt(0.3), math.Sqrt(0.2))},
		{"top-k 2", SamplerOptions{Temperature: 1, TopK: 2}, logf(0.5, 0.3, 0.2), []float64{0.625, 0.375, 0}},
		{"top-p 0.6", SamplerOptions{Temperature: 1, TopP: 0.6}, logf(0.5, 0.3, 0.2), []float64{0.625, 0.375, 0}},
		{"top-p 0.5 exact", SamplerOptions{Temperature: 1, TopP: 0.5}, logf(0.5, 0.3, 0.2), []float64{1, 0, 0}},
		{"min-p 0.5", SamplerOptions{Temperature: 1, MinP: 0.5}, logf(0.5, 0.3, 0.2), []float64{0.625, 0.375, 0}},
		{"limit", SamplerOptions{Temperature: 1, Limit: 2}, logf(0.25, 0.25, 0.5), []float64{0.5, 0.5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSampler(tc.o)
			counts := make([]float64, len(tc.logits))
			for range n {
				counts[s.Sample(tc.logits, nil)]++
			}
			for i, w := range tc.want {
				got := counts[i] / n
				tol := 4*math.Sqrt(w*(1-w)/n) + 1e-9
				if math.Abs(got-w) > tol {
					t.Errorf("P(%d) = %.4f, want %.4f ± %.4f (seed %d)", i, got, w, tol, tc.o.Seed)
				}
			}
		})
	}
}

func norm(p ...float64) []float64 {
	var s float64
	for _, v := range p {
		s += v
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

func TestSamplerSeed(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	draw := func(seed uint64) []int32 {
		s := NewSampler(SamplerOptions{Temperature: 1, TopK: 50, TopP: 0.9, Seed: seed})
		var out []int32
		for range 30 {
			out = append(out, s.Sample(logits, nil))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	same := func(x, y []int32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Errorf("seed 7 gave %v then %v", a, b)
	}
	if same(a, c) {
		t.Errorf("seeds 7 and 8 gave the same draws %v", a)
	}
}
