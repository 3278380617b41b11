package runtime

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// TestCheckFinite puts one NaN or ±Inf at every index of a few rows (the 4-wide steps and the
// tail) and checks the position and id named, against a finite row that passes.
func TestCheckFinite(t *testing.T) {
	const v, rows, pos0 = 7, 3, 10
	logits := make([]float32, v*rows)
	for i := range logits {
		logits[i] = float32(i) - 3.5
	}
	logits[5] = math.MaxFloat32
	if err := CheckFinite(logits, v, pos0); err != nil {
		t.Fatalf("finite logits: %v", err)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for i := range logits {
			keep := logits[i]
			logits[i] = bad
			err := CheckFinite(logits, v, pos0)
			want := fmt.Sprintf("logit %v of id %d at position %d", bad, i%v, pos0+i/v)
			if !errors.Is(err, ErrNonFinite) || err.Error() != ErrNonFinite.Error()+": "+want {
				t.Fatalf("%v at %d: %v, want %q", bad, i, err, want)
			}
			logits[i] = keep
		}
	}
}

// BenchmarkCheckFinite is the per-token cost of the check over Gemma 3's vocabulary.
func BenchmarkCheckFinite(b *testing.B) {
	x := make([]float32, 262144)
	for i := range x {
		x[i] = float32(i) * 0.001
	}
	for b.Loop() {
		if CheckFinite(x, len(x), 0) != nil {
			b.Fatal("finite logits refused")
		}
	}
}
