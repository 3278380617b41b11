package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWidenBF16 checks every length up to 300 (vector body and tail) against the bit shift,
// NaN payloads and signed zeros included.
func TestWidenBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]byte, 600)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	src[0], src[1] = 0x00, 0x80 // −0
	src[2], src[3] = 0x81, 0x7f // a NaN payload
	for _, off := range [][]feature{nil, {featAVX512}} {
		restore := disableFeatures(off...)
		widenLengths(t, src)
		restore()
	}
}

func widenLengths(t *testing.T, src []byte) {
	for n := 0; n <= 300; n++ {
		dst := make([]float32, n)
		WidenBF16(dst, src)
		for i, v := range dst {
			want := uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24
			if math.Float32bits(v) != want {
				t.Fatalf("n=%d: dst[%d] bits %#08x, want %#08x", n, i, math.Float32bits(v), want)
			}
		}
	}
}
