package imageproc

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// goldenCase is a multimodal golden fixture folder under the module's testdata/.
const goldenCase = "../../testdata/b_mm_4b_like"

// TestGoldenPixelValues checks the whole pipeline (PNG decode, RGB, PIL bilinear resize,
// rescale, normalise, CHW) against the oracle's pixel_values.safetensors, bit for bit.
func TestGoldenPixelValues(t *testing.T) {
	cfgBytes, err := os.ReadFile(filepath.Join(goldenCase, "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(cfgBytes)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if cfg.Width != 56 || cfg.Height != 56 || cfg.ImageSeqLength != 4 || cfg.PanAndScan {
		t.Fatalf("ParseConfig = %+v, want 56x56, image_seq_length 4, no pan and scan", cfg)
	}
	f, err := os.Open(filepath.Join(goldenCase, "image0.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, format, err := Load(f)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if format != "png" || img.Bounds().Dx() != 75 || img.Bounds().Dy() != 50 {
		t.Fatalf("Load = %s %v, want png 75x50", format, img.Bounds())
	}
	pixels, numCrops, err := Preprocess(img, cfg)
	if err != nil {
		t.Fatalf("Preprocess: %v", err)
	}
	if numCrops != 0 || len(pixels) != 1 {
		t.Fatalf("Preprocess: %d images, %d crops; want 1, 0", len(pixels), numCrops)
	}

	want := readF32Tensor(t, filepath.Join(goldenCase, "pixel_values.safetensors"), "pixel_values", []uint64{1, 3, 56, 56})
	got := pixels[0]
	if len(got) != len(want) {
		t.Fatalf("len(pixels[0]) = %d, want %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 10 {
				c, y, x := i/(56*56), i/56%56, i%56
				t.Errorf("pixel_values[0,%d,%d,%d] = %v, want %v", c, y, x, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d values differ", bad, len(want))
	}
}

func readF32Tensor(t testing.TB, path, name string, shape []uint64) []float32 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tv, ok := st.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %q", path, name)
	}
	if tv.DType() != safetensors.F32 {
		t.Fatalf("%s: %s dtype %v, want F32", path, name, tv.DType())
	}
	if got := tv.Shape(); len(got) != len(shape) || func() bool {
		for i := range got {
			if got[i] != shape[i] {
				return true
			}
		}
		return false
	}() {
		t.Fatalf("%s: %s shape %v, want %v", path, name, tv.Shape(), shape)
	}
	raw := tv.Data()
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return out
}
