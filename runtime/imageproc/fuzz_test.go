package imageproc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// magics are the leading bytes that route an input to each decoder.
var magics = [][]byte{[]byte("\x89PNG\r\n\x1a\n"), {0xff, 0xd8, 0xff}, []byte("GIF89a"), []byte("RIFF\x00\x00\x00\x00WEBP")}

// FuzzDecoders feeds every decoder (chosen by kind, whatever the mutated bytes) and the
// preprocessing after it: any input decodes or fails with a sentinel error, never panics,
// and stays within the pixel cap.
func FuzzDecoders(f *testing.F) {
	f.Add(uint8(0), []byte("\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00"))
	f.Add(uint8(1), []byte{0xe0, 0, 16, 'J', 'F', 'I', 'F', 0})
	f.Add(uint8(2), []byte{2, 0, 2, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255, ',', 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 2, 0x44, 1, 0, ';'})
	f.Add(uint8(3), []byte("VP8L\x05\x00\x00\x00\x2f\x00\x00\x00\x00"))
	cfg := DefaultConfig()
	cfg.Width, cfg.Height = 6, 6
	cfg.PanAndScan = true
	cfg.PanAndScanMinCropSize = 2
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		data := append(append([]byte(nil), magics[int(kind)%len(magics)]...), body...)
		img, _, err := LoadLimited(bytes.NewReader(data), 1<<16, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Load error %v matches no sentinel", err)
			}
			return
		}
		if b := img.Bounds(); b.Dx()*b.Dy() > 1<<16 {
			t.Fatalf("Load returned %v, above the pixel cap", b)
		}
		if _, _, err := Preprocess(img, cfg); err != nil && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Preprocess: %v", err)
		}
	})
}

// FuzzResize resizes random images between arbitrary small sizes: the output has the
// requested size and, the bilinear weights being non-negative, every value lies within the
// input's range (±1 for rounding).
func FuzzResize(f *testing.F) {
	f.Add(uint8(5), uint8(3), uint8(8), uint8(2), uint64(1))
	f.Add(uint8(1), uint8(1), uint8(64), uint8(64), uint64(2))
	f.Add(uint8(64), uint8(63), uint8(1), uint8(1), uint64(3))
	f.Fuzz(func(t *testing.T, sw, sh, w, h uint8, seed uint64) {
		sw, sh, w, h = sw%64+1, sh%64+1, w%64+1, h%64+1
		rng := rand.New(rand.NewPCG(seed, 7))
		src := NewRGB8(int(sw), int(sh))
		lo, hi := 255, 0
		base := rng.IntN(256)
		spread := rng.IntN(256)
		for i := range src.Pix {
			v := min(255, base+rng.IntN(spread+1))
			src.Pix[i] = uint8(v)
			lo, hi = min(lo, v), max(hi, v)
		}
		out := ResizeBilinear(src, int(w), int(h))
		if out.W != int(w) || out.H != int(h) || len(out.Pix) != int(w)*int(h)*3 {
			t.Fatalf("ResizeBilinear(%dx%d -> %dx%d) = %dx%d with %d values", sw, sh, w, h, out.W, out.H, len(out.Pix))
		}
		for i, v := range out.Pix {
			if int(v) < lo-1 || int(v) > hi+1 {
				t.Fatalf("ResizeBilinear(%dx%d -> %dx%d): value %d at %d outside the input range [%d, %d]", sw, sh, w, h, v, i, lo, hi)
			}
		}
	})
}
