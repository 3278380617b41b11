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

// TestMaxAbsBits checks lengths around the vector width against a loop, with a NaN, an
// infinity or neither placed anywhere.
func TestMaxAbsBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, off := range [][]feature{nil, {featAVX512}} {
		restore := disableFeatures(off...)
		for n := 0; n <= 200; n++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			if n > 0 {
				switch n % 3 {
				case 1:
					x[rng.IntN(n)] = float32(math.NaN())
				case 2:
					x[rng.IntN(n)] = float32(math.Inf(-1))
				}
			}
			var want uint32
			for _, v := range x {
				want = max(want, math.Float32bits(v)&0x7fffffff)
			}
			if got := MaxAbsBits(x); got != want {
				t.Fatalf("n=%d (off %v): %#x, want %#x", n, off, got, want)
			}
		}
		restore()
	}
}
