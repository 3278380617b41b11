package quantize

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// FuzzEncode encodes arbitrary float32 bit patterns as every packed type: either an error
// that matches ErrNonFinite or ErrScaleOverflow, or a payload whose decoding is within the
// analytical bound of every element.
func FuzzEncode(f *testing.F) {
	seed := make([]byte, 4*64)
	for i := range 64 {
		binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(float32(i%13-6)*0.37))
	}
	f.Add(uint8(0), uint8(0), seed)
	f.Add(uint8(2), uint8(1), []byte{0, 0, 0x80, 0x7f, 1, 0, 0, 0})
	f.Add(uint8(4), uint8(0), []byte{0xff, 0xff, 0x7f, 0x7f, 1, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, sel, rule uint8, data []byte) {
		ty := packed[int(sel)%len(packed)]
		n := len(data) / 4
		if ty == format.Q4_0 || ty == format.Q8_0 {
			n = n / 32 * 32
		}
		if n == 0 || n > 4096 {
			return
		}
		x := make([]float32, n)
		finite := true
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			finite = finite && !math.IsNaN(float64(x[i])) && !math.IsInf(float64(x[i]), 0)
		}
		cols := int64(n)
		if n%64 == 0 {
			cols = 32 // several rows
		}
		shape := []int64{int64(n) / cols, cols}
		opt := Options{I4Scale: I4Scale(rule % 2)}
		_, _, err := Encode(ty, shape, x, opt)
		switch {
		case !finite:
			if !errors.Is(err, ErrNonFinite) {
				t.Fatalf("Encode(%v) with a non-finite value = %v", ty, err)
			}
		case errors.Is(err, ErrScaleOverflow) && (ty == format.Q4_0 || ty == format.Q8_0):
		case err != nil:
			t.Fatalf("Encode(%v, %v) = %v", ty, shape, err)
		default:
			roundTrip(t, ty, shape, x, opt)
		}
	})
}
