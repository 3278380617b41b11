package quantize

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/internal/testutil"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/vision"
)

// TestCalibrateVisionGoldenB checks the vision imatrix of golden case b against direct float64
// computations: the patch embedding's input from the pixel values, the projector's input from
// the reference implementation's pooled tokens (RMSNorm with 1 + mm_soft_emb_norm), and for
// every block weight an entry of its input width counting every patch of every image.
func TestCalibrateVisionGoldenB(t *testing.T) {
	dir := testutil.Testdata("b_mm_4b_like")
	tw, err := vision.Load(testutil.ConvertOpen(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	c := tw.Cfg
	px := testutil.ReadSafetensors(t, filepath.Join(dir, "pixel_values.safetensors"))["pixel_values"]
	exp := testutil.ReadSafetensors(t, filepath.Join(dir, "expected.safetensors"))
	n := int(px.Shape[0])
	per := c.NumChannels * c.ImageSize * c.ImageSize
	images := make([][]float32, 0, 2*n)
	for range 2 { // every image twice: sums and counts accumulate
		for i := range n {
			images = append(images, px.Data[i*per:(i+1)*per])
		}
	}
	im, err := CalibrateVision(tw, images, CalibrateOptions{Dataset: "golden-b"})
	if err != nil {
		t.Fatal(err)
	}
	side, p := c.ImageSize/c.PatchSize, c.PatchSize
	patches, tok, vh := side*side, tw.MM.TokensPerImage, c.HiddenSize
	check := func(name string, want []float64, count int64) {
		t.Helper()
		e, ok := im.Entries[name]
		if !ok {
			t.Fatalf("no entry for %s", name)
		}
		if e.Count != count || len(e.SumSq) != len(want) {
			t.Fatalf("%s: count %d, %d columns; want %d, %d", name, e.Count, len(e.SumSq), count, len(want))
		}
		for j := range want {
			if d := math.Abs(e.SumSq[j] - want[j]); !(d <= 1e-4*math.Abs(want[j])+1e-9) {
				t.Fatalf("%s: column %d: Σx² = %.9g, want %.9g", name, j, e.SumSq[j], want[j])
			}
		}
	}
	// Patch embedding: column (channel, row, column) of the patch.
	want := make([]float64, c.NumChannels*p*p)
	for _, img := range images {
		for py := range side {
			for pxl := range side {
				for ch := range c.NumChannels {
					for ky := range p {
						for kx := range p {
							x := float64(img[ch*c.ImageSize*c.ImageSize+(py*p+ky)*c.ImageSize+pxl*p+kx])
							want[(ch*p+ky)*p+kx] += x * x
						}
					}
				}
			}
		}
	}
	check("vision.patch_embd", want, int64(len(images)*patches))
	// Projector: the reference pooled tokens, RMS-normalised and scaled by 1 + w.
	w := testutil.ReadSafetensors(t, filepath.Join(dir, "model.safetensors"))["multi_modal_projector.mm_soft_emb_norm.weight"].Data
	pooled := exp["mm_pooled"].Data
	want = make([]float64, vh)
	for range 2 {
		for r := range n * tok {
			row := pooled[r*vh : (r+1)*vh]
			var ss float64
			for _, x := range row {
				ss += float64(x) * float64(x)
			}
			inv := 1 / math.Sqrt(ss/float64(vh)+c.LayerNormEps)
			for j, x := range row {
				y := float64(x) * inv * (1 + float64(w[j]))
				want[j] += y * y
			}
		}
	}
	check("mm.input_proj", want, int64(len(images)*tok))
	for l := range c.NumLayers {
		for _, s := range []struct {
			name string
			cols int
		}{{"attn_q", vh}, {"attn_k", vh}, {"attn_v", vh}, {"attn_o", vh}, {"ffn_up", vh}, {"ffn_down", c.IntermediateSize}} {
			name := fmt.Sprintf("vision.blk.%d.%s", l, s.name)
			e, ok := im.Entries[name]
			if !ok || len(e.SumSq) != s.cols || e.Count != int64(len(images)*patches) {
				t.Fatalf("%s: entry %v", name, e)
			}
		}
		q, k := im.Entries[fmt.Sprintf("vision.blk.%d.attn_q", l)], im.Entries[fmt.Sprintf("vision.blk.%d.attn_k", l)]
		if q.SumSq[0] != k.SumSq[0] || q.SumSq[0] <= 0 {
			t.Fatalf("layer %d: q and k entries differ or are empty: %v, %v", l, q.SumSq[0], k.SumSq[0])
		}
	}
	if len(im.Entries) != 2+6*c.NumLayers {
		t.Fatalf("%d entries, want %d", len(im.Entries), 2+6*c.NumLayers)
	}
	// The projector's input is observed once per pooled token of every image.
	var got []float32
	if err := tw.EncodeObserved(kernel.Exec{}, px.Data, n, func(layer int, in vision.Input, x []float32, rows int) {
		if in == vision.InProj {
			got = append(got, x...)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n*tok*vh {
		t.Fatalf("projector input observed %d values, want %d", len(got), n*tok*vh)
	}
	// Merging a text imatrix keeps both sets of entries; a duplicate is refused.
	text := &Imatrix{Chunks: 3, ChunkSize: 8, Datasets: []string{"t"}, Entries: map[string]*ImatrixEntry{"text.blk.0.attn_q": {SumSq: []float64{1}, Count: 1}}}
	if err := text.Merge(im); err != nil || len(text.Entries) != 1+len(im.Entries) || text.Chunks != 3 || len(text.Datasets) != 2 {
		t.Fatalf("Merge: %v, %d entries, %d chunks, datasets %v", err, len(text.Entries), text.Chunks, text.Datasets)
	}
	if err := text.Merge(im); err == nil {
		t.Fatal("Merge accepted duplicate entries")
	}
}
