package imageproc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// pilCases mirrors testdata/pil_cases.json, written by testdata/gen_pil_fixtures.py.
type pilCases struct {
	Pillow string `json:"pillow"`
	Resize []struct {
		W, H int
		Kind string
		Seed uint32
		OutW int      `json:"out_w"`
		OutH int      `json:"out_h"`
		Want expected `json:"want"`
	} `json:"resize"`
	Pipeline []struct {
		W, H       int
		Kind       string
		Seed       uint32
		Size       int
		MinCrop    int      `json:"min_crop"`
		MaxCrops   int      `json:"max_crops"`
		Ratio      float64  `json:"ratio"`
		CropsHW    [][2]int `json:"crops_hw"`
		WantSHA256 []string `json:"want_sha256"`
	} `json:"pipeline"`
	Files []struct {
		File      string
		PILMode   string `json:"pil_mode"`
		W, H      int
		Exact     bool
		RGB       expected
		Composite expected
	} `json:"files"`
}

type expected struct {
	SHA256 string `json:"sha256"`
	B64    string `json:"b64"`
}

func loadPILCases(t testing.TB) pilCases {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pil_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c pilCases
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// synth mirrors synth() of gen_pil_fixtures.py: an RGB test image defined by integer
// formulas, so large inputs need no fixture file.
func synth(w, h int, kind string, seed uint32) *RGB8 {
	m := NewRGB8(w, h)
	for y := range h {
		for x := range w {
			for c := range 3 {
				var v uint32
				switch kind {
				case "noise":
					v = uint32(x)*73856093 ^ uint32(y)*19349663 ^ uint32(c)*83492791 ^ seed
					v *= 2654435761
					v ^= v >> 16
				case "smooth":
					v = uint32(x*255/max(w-1, 1)+c*85+y*128/max(h-1, 1)) + seed
				default:
					panic("synth: unknown kind " + kind)
				}
				m.Pix[(y*w+x)*3+c] = uint8(v)
			}
		}
	}
	return m
}

// checkBytes compares got with an expected fixture value: by SHA-256, and when the
// fixture inlines the bytes, reports the first differing samples.
func checkBytes(t *testing.T, what string, got []byte, want expected, w int) {
	t.Helper()
	sum := sha256.Sum256(got)
	if hex.EncodeToString(sum[:]) == want.SHA256 {
		return
	}
	if want.B64 == "" {
		t.Errorf("%s: sha256 %x, want %s", what, sum, want.SHA256)
		return
	}
	wb, err := base64.StdEncoding.DecodeString(want.B64)
	if err != nil {
		t.Fatal(err)
	}
	if len(wb) != len(got) {
		t.Errorf("%s: %d bytes, want %d", what, len(got), len(wb))
		return
	}
	n, maxd := 0, 0
	for i := range wb {
		if wb[i] != got[i] {
			if n < 5 {
				t.Errorf("%s: (x=%d, y=%d, c=%d) = %d, want %d", what, i/3%w, i/3/w, i%3, got[i], wb[i])
			}
			n++
			maxd = max(maxd, absDiff(got[i], wb[i]))
		}
	}
	t.Errorf("%s: %d of %d samples differ, max |diff| %d", what, n, len(wb), maxd)
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestResizeMatchesPIL compares ResizeBilinear with PIL's Image.resize(BILINEAR,
// reducing_gap=None) on synthetic images: up- and downscaling, non-integer factors, one
// axis only, identity, and 896×896 targets from odd sizes.
func TestResizeMatchesPIL(t *testing.T) {
	cases := loadPILCases(t)
	for _, c := range cases.Resize {
		name := fmt.Sprintf("%dx%d_%s_to_%dx%d", c.W, c.H, c.Kind, c.OutW, c.OutH)
		t.Run(name, func(t *testing.T) {
			if testing.Short() && c.W*c.H > 1_000_000 {
				t.Skip("large input in -short mode")
			}
			src := synth(c.W, c.H, c.Kind, c.Seed)
			got := ResizeBilinear(src, c.OutW, c.OutH)
			if got.W != c.OutW || got.H != c.OutH {
				t.Fatalf("ResizeBilinear size = %dx%d, want %dx%d", got.W, got.H, c.OutW, c.OutH)
			}
			checkBytes(t, "ResizeBilinear", got.Pix, c.Want, c.OutW)
		})
	}
}

// TestPipelineMatchesNumpy runs PreprocessRGB with pan and scan against a numpy
// transcription of Gemma3ImageProcessor.preprocess (PIL resize, float64 rescale, float32
// normalise), comparing float32 bytes.
func TestPipelineMatchesNumpy(t *testing.T) {
	cases := loadPILCases(t)
	for _, c := range cases.Pipeline {
		t.Run(fmt.Sprintf("%dx%d_to_%d", c.W, c.H, c.Size), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Width, cfg.Height = c.Size, c.Size
			cfg.PanAndScan = true
			cfg.PanAndScanMinCropSize = c.MinCrop
			cfg.PanAndScanMaxNumCrops = c.MaxCrops
			cfg.PanAndScanMinRatio = c.Ratio
			src := synth(c.W, c.H, c.Kind, c.Seed)
			rects := PanAndScanCrops(c.W, c.H, cfg)
			if len(rects) != len(c.CropsHW) {
				t.Fatalf("PanAndScanCrops(%d, %d) = %d crops, want %d", c.W, c.H, len(rects), len(c.CropsHW))
			}
			for i, r := range rects {
				if r.Dy() != c.CropsHW[i][0] || r.Dx() != c.CropsHW[i][1] {
					t.Errorf("crop %d = %dx%d (h×w), want %v", i, r.Dy(), r.Dx(), c.CropsHW[i])
				}
			}
			pixels, n, err := PreprocessRGB(src, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(c.CropsHW) || len(pixels) != len(c.WantSHA256) {
				t.Fatalf("PreprocessRGB: %d tensors, %d crops; want %d, %d", len(pixels), n, len(c.WantSHA256), len(c.CropsHW))
			}
			for i, p := range pixels {
				buf := make([]byte, 4*len(p))
				for j, v := range p {
					binary.LittleEndian.PutUint32(buf[j*4:], math.Float32bits(v))
				}
				checkBytes(t, fmt.Sprintf("pixels[%d]", i), buf, expected{SHA256: c.WantSHA256[i]}, c.Size)
			}
		})
	}
}

// TestDecodeMatchesPIL decodes small files written by PIL in every mode the Go decoders
// produce and compares ToRGB with PIL's convert("RGB") and CompositeOnWhite with
// transformers' alpha_composite-on-white conversion. Everything must be identical except
// JPEG, whose IDCT in Go's decoder rounds differently from libjpeg-turbo's islow IDCT,
// so a small difference is allowed there.
func TestDecodeMatchesPIL(t *testing.T) {
	cases := loadPILCases(t)
	for _, c := range cases.Files {
		t.Run(c.File, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "pil", c.File))
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := Load(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if b := img.Bounds(); b.Dx() != c.W || b.Dy() != c.H {
				t.Fatalf("Load size = %dx%d, want %dx%d", b.Dx(), b.Dy(), c.W, c.H)
			}
			rgb, comp := ToRGB(img), CompositeOnWhite(img)
			if c.Exact {
				checkBytes(t, fmt.Sprintf("ToRGB(%T)", img), rgb.Pix, c.RGB, c.W)
				checkBytes(t, fmt.Sprintf("CompositeOnWhite(%T)", img), comp.Pix, c.Composite, c.W)
				return
			}
			// Different decoders: report the distance, bound it loosely.
			for _, k := range []struct {
				what string
				got  []byte
				want expected
			}{{"ToRGB", rgb.Pix, c.RGB}, {"CompositeOnWhite", comp.Pix, c.Composite}} {
				wb, err := base64.StdEncoding.DecodeString(k.want.B64)
				if err != nil || len(wb) != len(k.got) {
					t.Fatalf("%s: fixture has %d bytes (%v), got %d", k.what, len(wb), err, len(k.got))
				}
				maxd, sum := 0, 0
				for i := range wb {
					d := absDiff(k.got[i], wb[i])
					maxd = max(maxd, d)
					sum += d
				}
				mean := float64(sum) / float64(len(wb))
				t.Logf("%s(%T) vs PIL: max |diff| %d, mean |diff| %.3f", k.what, img, maxd, mean)
				// Measured with Debian bookworm's libjpeg-turbo 2.1: max 2, mean ≤ 0.07.
				if maxd > 3 || mean > 0.2 {
					t.Errorf("%s(%T) vs PIL: max |diff| %d, mean %.3f; want ≤ 3, ≤ 0.2", k.what, img, maxd, mean)
				}
			}
		})
	}
}
