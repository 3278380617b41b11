package imageproc

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPanAndScanCrops(t *testing.T) {
	type crop struct{ x, y, w, h int }
	tests := []struct {
		name    string
		w, h    int
		minCrop int
		want    []crop
	}{
		{"1792x896 two squares", 1792, 896, 0, []crop{{0, 0, 896, 896}, {896, 0, 896, 896}}},
		{"3000x1000 three", 3000, 1000, 0, []crop{{0, 0, 1000, 1000}, {1000, 0, 1000, 1000}, {2000, 0, 1000, 1000}}},
		{"5000x500 capped at 4", 5000, 500, 0,
			[]crop{{0, 0, 1250, 500}, {1250, 0, 1250, 500}, {2500, 0, 1250, 500}, {3750, 0, 1250, 500}}},
		{"1000x900 ratio 1.11", 1000, 900, 0, nil},
		{"square", 896, 896, 0, nil},
		{"60x170 portrait, last crop shorter", 60, 170, 32, []crop{{0, 0, 60, 57}, {0, 57, 60, 57}, {0, 114, 60, 56}}},
		{"900x200 crops below min", 900, 200, 0, nil},                                                  // n = 3, crops 300x200: 200 < 256
		{"1200x1000 ratio 1.2 exactly", 1200, 1000, 0, []crop{{0, 0, 600, 1000}, {600, 0, 600, 1000}}}, // n = max(floor(1.7), 2) = 2
		{"600x400 min crop caps n", 600, 400, 300, []crop{{0, 0, 300, 400}, {300, 0, 300, 400}}},
		{"2049x1000 odd width", 2049, 1000, 0, []crop{{0, 0, 1025, 1000}, {1025, 0, 1024, 1000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.minCrop > 0 {
				cfg.PanAndScanMinCropSize = tt.minCrop
			}
			var got []crop
			for _, r := range PanAndScanCrops(tt.w, tt.h, cfg) {
				got = append(got, crop{r.Min.X, r.Min.Y, r.Dx(), r.Dy()})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PanAndScanCrops(%d, %d) = %v, want %v", tt.w, tt.h, got, tt.want)
			}
		})
	}
}

func TestPreprocessPanAndScan(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Width, cfg.Height = 14, 14
	cfg.PanAndScan = true
	cfg.PanAndScanMinCropSize = 32
	src := synth(60, 170, "noise", 5)
	pixels, n, err := PreprocessRGB(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(pixels) != 4 {
		t.Fatalf("PreprocessRGB(60x170) = %d tensors, %d crops; want 4, 3", len(pixels), n)
	}
	// Each crop is processed exactly like a whole image.
	rects := PanAndScanCrops(60, 170, cfg)
	for i, r := range rects {
		crop := src.Crop(r.Min.X, r.Min.Y, r.Max.X, r.Max.Y)
		want := Normalize(ResizeBilinear(crop, 14, 14), cfg)
		if !reflect.DeepEqual(pixels[i+1], want) {
			t.Errorf("crop %d differs from the crop preprocessed alone", i)
		}
	}
	// A degenerate configuration with an empty crop is an error, not a panic.
	cfg.PanAndScanMinCropSize = 1
	cfg.PanAndScanMinRatio = 1.2
	if _, _, err := PreprocessRGB(synth(5, 1, "noise", 1), cfg); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PreprocessRGB(5x1, min crop 1) error = %v, want ErrUnsupported", err)
	}
}

func TestNormalize(t *testing.T) {
	cfg := DefaultConfig()
	src := &RGB8{W: 2, H: 1, Pix: []uint8{0, 128, 255, 1, 254, 127}}
	got := Normalize(src, cfg)
	// CHW: R plane, G plane, B plane. Bits from numpy:
	// ((np.array(v, float64) * 0.00392156862745098).astype(np.float32) - f32(0.5)) / f32(0.5)
	want := []uint32{0xbf800000, 0xbf7dfdfe, 0x3b808100, 0x3f7dfdfe, 0x3f800000, 0xbb808080}
	for i := range want {
		if math.Float32bits(got[i]) != want[i] {
			t.Errorf("Normalize[%d] = %v (%#x), want %v", i, got[i], math.Float32bits(got[i]), math.Float32frombits(want[i]))
		}
	}
	cfg.DoRescale, cfg.DoNormalize = false, false
	if got := Normalize(src, cfg); got[1] != 1 || got[2] != 128 {
		t.Errorf("Normalize without rescale/normalize = %v, want raw samples", got)
	}
}

func TestExpandPrompt(t *testing.T) {
	seq := func(n int) string {
		return "\n\n<start_of_image>" + strings.Repeat("<image_soft_token>", n) + "<end_of_image>\n\n"
	}
	tests := []struct {
		name    string
		text    string
		crops   []int
		seqLen  int
		want    string
		wantErr error
	}{
		{"one image", "<bos>A<start_of_image>B", []int{0}, 3, "<bos>A" + seq(3) + "B", nil},
		{"two images, text between, crops on the second",
			"x <start_of_image> mid <start_of_image> end", []int{0, 2}, 2,
			"x " + seq(2) + " mid " + "Here is the original image " + seq(2) +
				" and here are some crops to help you see better " + seq(2) + " " + seq(2) + " end", nil},
		{"one crop", "<start_of_image>", []int{1}, 1,
			"Here is the original image " + seq(1) + " and here are some crops to help you see better " + seq(1), nil},
		{"no images", "plain", nil, 256, "plain", nil},
		{"too few markers", "<start_of_image>", []int{0, 0}, 4, "", ErrMismatch},
		{"too many markers", "<start_of_image><start_of_image>", []int{0}, 4, "", ErrMismatch},
		{"bad seq len", "<start_of_image>", []int{0}, 0, "", ErrUnsupported},
		{"negative crops", "<start_of_image>", []int{-1}, 4, "", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandPrompt(tt.text, tt.crops, tt.seqLen)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ExpandPrompt(%q, %v) error = %v, want %v", tt.text, tt.crops, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ExpandPrompt(%q, %v, %d) = %q, %v; want %q", tt.text, tt.crops, tt.seqLen, got, err, tt.want)
			}
		})
	}
}

func TestExpandPromptReleasedLength(t *testing.T) {
	got, err := ExpandPrompt("<start_of_image>", []int{0}, 256)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(got, ImageToken); n != 256 {
		t.Errorf("ExpandPrompt: %d image tokens, want 256", n)
	}
	if !strings.HasPrefix(got, "\n\n"+BOIToken+ImageToken) || !strings.HasSuffix(got, ImageToken+EOIToken+"\n\n") {
		t.Errorf("ExpandPrompt framing wrong: %q…%q", got[:30], got[len(got)-30:])
	}
}

func TestTokenTypeIDsAndRuns(t *testing.T) {
	const img = ImageTokenID
	tests := []struct {
		name  string
		ids   []int32
		types []int32
		runs  [][2]int
	}{
		{"empty", nil, []int32{}, nil},
		{"text only", []int32{2, 105, 106}, []int32{0, 0, 0}, nil},
		{"golden b layout", []int32{2, 108, 255, 512, 512, 256, 108}, []int32{0, 0, 0, 0, 0, 0, 0}, nil},
		{"two images", []int32{2, 255999, img, img, 256000, 108, 255999, img, img, img, 256000},
			[]int32{0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0}, [][2]int{{2, 4}, {7, 10}}},
		{"run at both ends", []int32{img, 5, img, img}, []int32{1, 0, 1, 1}, [][2]int{{0, 1}, {2, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TokenTypeIDs(tt.ids, img); !reflect.DeepEqual(got, tt.types) {
				t.Errorf("TokenTypeIDs(%v) = %v, want %v", tt.ids, got, tt.types)
			}
			if got := ImageRuns(tt.ids, img); !reflect.DeepEqual(got, tt.runs) {
				t.Errorf("ImageRuns(%v) = %v, want %v", tt.ids, got, tt.runs)
			}
		})
	}
}

// TestGoldenTokenTypes checks TokenTypeIDs against inputs.json of the golden case, whose
// image token id is 512 in its tiny vocabulary.
func TestGoldenTokenTypes(t *testing.T) {
	ids := []int32{2, 105, 468, 107, 446, 62, 195, 104, 108, 255, 512, 512, 512, 512, 256, 108, 84}
	want := []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0}
	if got := TokenTypeIDs(ids, 512); !reflect.DeepEqual(got, want) {
		t.Errorf("TokenTypeIDs = %v, want %v", got, want)
	}
	if got := ImageRuns(ids, 512); !reflect.DeepEqual(got, [][2]int{{10, 14}}) {
		t.Errorf("ImageRuns = %v, want [[10 14]]", got)
	}
}

func TestParseConfig(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name    string
		json    string
		want    func(*Config)
		wantErr error
	}{
		{"empty object gives released defaults", `{}`, func(*Config) {}, nil},
		{"released 896 config with nulls", `{"do_convert_rgb": null, "do_normalize": true, "do_pan_and_scan": null,
			"do_rescale": true, "do_resize": true, "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "Gemma3ImageProcessor",
			"image_seq_length": 256, "image_std": [0.5, 0.5, 0.5], "pan_and_scan_max_num_crops": null,
			"pan_and_scan_min_crop_size": null, "pan_and_scan_min_ratio_to_activate": null, "processor_class": "Gemma3Processor",
			"resample": 2, "rescale_factor": 0.00392156862745098, "size": {"height": 896, "width": 896}}`, func(*Config) {}, nil},
		{"pan and scan set", `{"do_pan_and_scan": true, "pan_and_scan_min_crop_size": 128, "pan_and_scan_max_num_crops": 6,
			"pan_and_scan_min_ratio_to_activate": 1.5, "size": {"height": 448, "width": 224}}`, func(c *Config) {
			c.PanAndScan, c.PanAndScanMinCropSize, c.PanAndScanMaxNumCrops, c.PanAndScanMinRatio = true, 128, 6, 1.5
			c.Height, c.Width = 448, 224
		}, nil},
		{"scalar mean", `{"image_mean": 0.25, "image_std": [1, 2, 3]}`, func(c *Config) {
			c.Mean, c.Std = [3]float32{0.25, 0.25, 0.25}, [3]float32{1, 2, 3}
		}, nil},
		{"not json", `{`, nil, ErrFormat},
		{"size string", `{"size": "896"}`, nil, ErrFormat},
		{"shortest edge", `{"size": {"shortest_edge": 224}}`, nil, ErrUnsupported},
		{"bicubic", `{"resample": 3}`, nil, ErrUnsupported},
		{"huge size", `{"size": {"height": 100000, "width": 896}}`, nil, ErrFormat},
		{"zero std", `{"image_std": [0.5, 0, 0.5]}`, nil, ErrFormat},
		{"two means", `{"image_mean": [0.5, 0.5]}`, nil, ErrFormat},
		{"too many crops", `{"pan_and_scan_max_num_crops": 1000}`, nil, ErrFormat},
		{"seq len 0", `{"image_seq_length": 0}`, nil, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tt.json))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseConfig(%s) error = %v, want %v", tt.json, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig(%s): %v", tt.json, err)
			}
			want := def
			tt.want(&want)
			if got != want {
				t.Errorf("ParseConfig(%s) = %+v, want %+v", tt.json, got, want)
			}
			checkConfigRoundTrip(t, got)
		})
	}
}

func checkConfigRoundTrip(t testing.TB, c Config) {
	t.Helper()
	b, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("ParseConfig(MarshalJSON(%+v)): %v", c, err)
	}
	if back != c {
		t.Fatalf("round trip: %+v, want %+v", back, c)
	}
}

func TestLoadErrors(t *testing.T) {
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 40, 30))); err != nil {
		t.Fatal(err)
	}
	small := pngBuf.Bytes()
	// A PNG header claiming 100000×100000 pixels, with a valid IHDR CRC: refused before
	// any pixel buffer is allocated.
	huge := append([]byte(nil), small[:33]...)
	huge[16], huge[17], huge[18], huge[19] = 0, 1, 0x86, 0xa0
	huge[20], huge[21], huge[22], huge[23] = 0, 1, 0x86, 0xa0
	crc := crc32IEEE(huge[12:29])
	huge[29], huge[30], huge[31], huge[32] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)

	// A 10000×10000 16-bit RGBA PNG header: 10^8 pixels is within MaxPixels, but decoding
	// it would take 1.2 GB; refused from its header, whatever follows.
	deep := append([]byte(nil), small[:33]...)
	deep[16], deep[17], deep[18], deep[19] = 0, 0, 0x27, 0x10
	deep[20], deep[21], deep[22], deep[23] = 0, 0, 0x27, 0x10
	deep[24], deep[25] = 16, 6
	crc = crc32IEEE(deep[12:29])
	deep[29], deep[30], deep[31], deep[32] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)

	tests := []struct {
		name    string
		data    []byte
		limit   int64
		wantErr error
		wantMsg string
	}{
		{"empty", nil, MaxPixels, ErrUnsupported, "unknown image format"},
		{"text", []byte("hello world"), MaxPixels, ErrUnsupported, "68 65 6c 6c"},
		{"truncated png", small[:40], MaxPixels, ErrFormat, "png"},
		{"huge png", huge, MaxPixels, ErrTooLarge, "100000x100000"},
		{"16-bit png", deep, MaxPixels, ErrTooLarge, "10000x10000 pixels would take 1144 MiB to decode from 33 bytes"},
		{"over custom limit", small, 1000, ErrTooLarge, "40x30 = 1200 pixels"},
		{"truncated jpeg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}, MaxPixels, ErrFormat, "jpeg"},
		{"bad gif", []byte("GIF89a\x01"), MaxPixels, ErrFormat, "gif"},
		{"bad webp", []byte("RIFF\x04\x00\x00\x00WEBP"), MaxPixels, ErrFormat, "webp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := LoadLimited(bytes.NewReader(tt.data), tt.limit, MaxBytes)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Load(%s) error = %v, want %v containing %q", tt.name, err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	if _, _, err := LoadLimited(bytes.NewReader(small), MaxPixels, 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("LoadLimited(maxBytes 10) error = %v, want ErrTooLarge", err)
	}
}

func crc32IEEE(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xedb88320
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// TestCompositeOnWhite checks PIL's integer alpha_composite over white at the values
// whose rounding is easiest to get wrong, against values computed with PIL 9.4:
// Image.alpha_composite(Image.new("RGBA", (1, 1), (255,)*3), Image.new("RGBA", (1, 1), (s, s, s, a))).
func TestCompositeOnWhite(t *testing.T) {
	tests := []struct{ s, a, want uint8 }{
		{0, 0, 255}, {0, 255, 0}, {200, 255, 200}, {0, 128, 127}, {0, 1, 254}, {255, 1, 255},
		{100, 127, 178}, {17, 254, 18},
	}
	for _, tt := range tests {
		if got := compositeOverWhite(tt.s, tt.a); got != tt.want {
			t.Errorf("compositeOverWhite(%d, %d) = %d, want %d", tt.s, tt.a, got, tt.want)
		}
	}
}

// TestToRGBGoTypes covers image types that Go callers may pass directly.
func TestToRGBGoTypes(t *testing.T) {
	r := image.Rect(0, 0, 2, 1)
	rgba := image.NewRGBA(r)
	rgba.Set(0, 0, color.NRGBA{200, 100, 50, 255})
	rgba.Set(1, 0, color.NRGBA{200, 100, 50, 128}) // stored premultiplied
	got := ToRGB(rgba).Pix
	if got[0] != 200 || got[1] != 100 || got[2] != 50 || absDiff(got[3], 200) > 1 || absDiff(got[4], 100) > 1 {
		t.Errorf("ToRGB(*image.RGBA) = %v, want ≈ [200 100 50 200 100 50]", got)
	}
	sub := synthImage(t).SubImage(image.Rect(3, 2, 7, 5))
	want := ToRGB(synthImage(t)).Crop(3, 2, 7, 5)
	if g := ToRGB(sub); !reflect.DeepEqual(g, want) {
		t.Errorf("ToRGB(SubImage) = %v, want %v", g.Pix, want.Pix)
	}
}

func synthImage(t testing.TB) *image.NRGBA {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	m := image.NewNRGBA(image.Rect(0, 0, 9, 7))
	for i := range m.Pix {
		m.Pix[i] = uint8(rng.UintN(256))
	}
	return m
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "pil", "*"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(goldenCase, "image0.png")); err == nil {
		f.Add(b)
	}
	cfg := DefaultConfig()
	cfg.Width, cfg.Height = 8, 8
	cfg.PanAndScan = true
	cfg.PanAndScanMinCropSize = 2
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := LoadLimited(bytes.NewReader(data), 1<<20, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Load error %v matches no sentinel", err)
			}
			return
		}
		if b := img.Bounds(); b.Dx()*b.Dy() > 1<<20 {
			t.Fatalf("Load returned %v, above the pixel cap", b)
		}
		pixels, _, err := Preprocess(img, cfg)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Preprocess: %v", err)
			}
			return
		}
		for _, p := range pixels {
			if len(p) != 3*8*8 {
				t.Fatalf("Preprocess tensor has %d values, want %d", len(p), 3*8*8)
			}
		}
		_ = CompositeOnWhite(img)
	})
}

func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(goldenCase, "preprocessor_config.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"image_mean": 0.3, "do_pan_and_scan": true, "size": {"height": 3, "width": 5}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("ParseConfig error %v matches no sentinel", err)
			}
			return
		}
		checkConfigRoundTrip(t, c)
	})
}

func FuzzExpandPrompt(f *testing.F) {
	f.Add("a<start_of_image>b<start_of_image>", 0, 2, 4)
	f.Fuzz(func(t *testing.T, text string, c0, c1, seq int) {
		seq = seq%64 + 1
		if seq < 1 {
			seq += 64
		}
		crops := []int{c0 % 5, c1 % 5}
		out, err := ExpandPrompt(text, crops, seq)
		n := strings.Count(text, BOIToken)
		if err != nil {
			if n == 2 && crops[0] >= 0 && crops[1] >= 0 {
				t.Fatalf("ExpandPrompt: %v", err)
			}
			return
		}
		want := 0
		for _, c := range crops {
			want += (1 + c) * seq
		}
		if got := strings.Count(out, ImageToken) - strings.Count(text, ImageToken); got != want {
			t.Fatalf("ExpandPrompt added %d image tokens, want %d", got, want)
		}
	})
}

// BenchmarkPreprocess896 preprocesses a 1024×768 image to the released 896×896 input.
func BenchmarkPreprocess896(b *testing.B) {
	src := synth(1024, 768, "noise", 1)
	cfg := DefaultConfig()
	b.SetBytes(int64(len(src.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := PreprocessRGB(src, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResize896 measures the resize alone.
func BenchmarkResize896(b *testing.B) {
	src := synth(1024, 768, "noise", 1)
	b.SetBytes(int64(len(src.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		ResizeBilinear(src, 896, 896)
	}
}
