package quantize

import (
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// BenchmarkEncode encodes one Gemma 3 1B projection-sized matrix ([1152, 1152]) on one
// goroutine; SetBytes is the float32 input read.
func BenchmarkEncode(b *testing.B) {
	const rows, cols = 1152, 1152
	rng := rand.New(rand.NewPCG(1, 2))
	x := randRows(rng, rows*cols, func() float64 { return rng.NormFloat64() * 0.02 })
	for _, c := range []struct {
		name string
		ty   format.DType
		rule I4Scale
	}{
		{"q8_0", format.Q8_0, I4Search}, {"q4_0", format.Q4_0, I4Search}, {"i4-absmax", format.I4, I4AbsMax},
		{"i4-search", format.I4, I4Search}, {"fp8", format.FP8, I4Search}, {"sfp8", format.SFP8, I4Search},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(rows * cols * 4)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Encode(c.ty, []int64{rows, cols}, x, Options{Workers: 1, I4Scale: c.rule}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
