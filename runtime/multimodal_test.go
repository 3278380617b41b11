package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
	"github.com/gemmatool/gemmatool/runtime/vision"
)

// TestGoldenBFull runs golden case b end to end from its HF directory: the converted file's
// vision tower on the image (preprocessed from the PNG, and from the reference pixel values),
// the projected features placed by MultimodalBatch, and the decoder with the image overlay.
func TestGoldenBFull(t *testing.T) {
	dir := testutil.Testdata("b_mm_4b_like")
	f, m, tw := loadGoldenB(t, dir)
	exp := testutil.ReadSafetensors(t, filepath.Join(dir, "expected.safetensors"))
	ref := testutil.ReadSafetensors(t, filepath.Join(dir, "pixel_values.safetensors"))["pixel_values"]
	pcfg, err := ProcessorConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(filepath.Join(dir, "image0.png"))
	if err != nil {
		t.Fatal(err)
	}
	fromPNG, err := PrepareImage(png, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromPNG.Pixels[0], ref.Data) {
		t.Fatal("pixel values from image0.png differ from pixel_values.safetensors")
	}
	ids := goldenInputs(t, dir)
	mm := f.Meta.Model.MM
	for _, src := range []struct {
		name string
		img  *Image
	}{{"png", fromPNG}, {"pixel_values", &Image{Pixels: [][]float32{ref.Data}}}} {
		t.Run(src.name, func(t *testing.T) {
			vo, err := EncodeImages(kernel.Exec{}, tw, []*Image{src.img}, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := MultimodalBatch(ids, int32(mm.ImageToken), vo.Features, mm.TokensPerImage, m.Hidden())
			if err != nil {
				t.Fatal(err)
			}
			b.Logits, b.Hidden, b.FinalHidden = LogitsAll, true, true
			res, err := m.NewSession(nil).Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				got  []float32
			}{{"vision_last_hidden_state", vo.LastHidden}, {"mm_pooled", vo.Pooled}, {"image_features", vo.Features},
				{"hidden_states", res.HiddenStates}, {"final_hidden", res.FinalHidden}, {"logits", res.Logits}} {
				e := testutil.NormErr(t, c.name, c.got, exp[c.name].Data)
				t.Logf("%s: norm_err %.2e", c.name, e)
				if e > 3e-5 {
					t.Errorf("%s: norm_err %.3g, want ≤ 3e-5", c.name, e)
				}
			}
			v := m.VocabRows()
			for p := range ids {
				if a, b := argmax(res.Logits[p*v:(p+1)*v]), argmax(exp["logits"].Data[p*v:(p+1)*v]); a != b {
					t.Errorf("position %d: top-1 %d, want %d", p, a, b)
				}
			}
		})
	}
	// A count mismatch between image runs and images is an error.
	if _, err := MultimodalBatch(ids, int32(mm.ImageToken), nil, mm.TokensPerImage, m.Hidden()); err == nil {
		t.Error("MultimodalBatch accepted a prompt with an image run and no image")
	}
}

// loadGoldenB converts golden case b and loads its text model and vision tower (the file
// closes with the test).
func loadGoldenB(t *testing.T, dir string) (*format.File, *Model, *vision.Tower) {
	t.Helper()
	f := testutil.ConvertOpen(t, dir)
	m, err := Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := vision.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, m, tw
}

var realTok struct {
	once sync.Once
	tok  *tokenizer.Tokenizer
	err  error
}

func gemmaTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	realTok.once.Do(func() {
		dec, _ := zstd.NewReader(nil)
		defer dec.Close()
		read := func(n string) []byte {
			b, err := os.ReadFile(testutil.Testdata("gemma3-tokenizer", n))
			if err == nil {
				b, err = dec.DecodeAll(b, nil)
			}
			if err != nil {
				realTok.err = err
			}
			return b
		}
		tj, tc := read("tokenizer.json.zst"), read("tokenizer_config.json.zst")
		if realTok.err == nil {
			realTok.tok, realTok.err = tokenizer.Load(tj, tc)
		}
	})
	if realTok.err != nil {
		t.Fatal(realTok.err)
	}
	return realTok.tok
}

// TestImagePromptLayout checks the token layout of image prompts against the processor's
// rules: the chat prompt of the spec (4.3), two images with text between, and pan & scan.
func TestImagePromptLayout(t *testing.T) {
	tok := gemmaTokenizer(t)
	const soft, boi, eoi = 262144, 255999, 256000
	img := func(crops int) *Image { return &Image{Crops: crops} }
	chat := func(parts ...tokenizer.Part) string {
		s, err := tokenizer.RenderChat([]tokenizer.Message{{Role: "user", Content: parts}}, true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	imgPart := tokenizer.Part{Type: "image"}
	text := func(s string) tokenizer.Part { return tokenizer.Part{Type: "text", Text: s} }

	// Spec 4.3: image, then "Describe this image in one sentence."
	ids, err := ExpandImages(tok, chat(imgPart, text("Describe this image in one sentence.")), []*Image{img(0)}, 256, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{2, 105, 2364, 109, 255999}
	for i := 0; i < 256; i++ {
		want = append(want, soft)
	}
	want = append(want, 256000, 108, 82858, 672, 2471, 528, 886, 13315, 236761, 106, 107, 105, 4368, 107)
	if !slices.Equal(ids, want) {
		t.Errorf("chat prompt with one image:\n got %v\nwant %v", ids, want)
	}

	// Two images with text between; and one image with two pan & scan crops.
	for _, tc := range []struct {
		name   string
		text   string
		images []*Image
		runs   int
	}{
		{"two images", chat(imgPart, text("versus"), imgPart, text("Which is larger?")), []*Image{img(0), img(0)}, 2},
		{"pan and scan", chat(imgPart, text("What does the sign say?")), []*Image{img(2)}, 3},
		{"raw text", "A <start_of_image> B <start_of_image> C", []*Image{img(1), img(0)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := ExpandImages(tok, tc.text, tc.images, 256, false)
			if err != nil {
				t.Fatal(err)
			}
			runs := ImageRuns(ids, soft)
			if len(runs) != tc.runs {
				t.Fatalf("%d image runs, want %d", len(runs), tc.runs)
			}
			for _, r := range runs {
				if r.End-r.Start != 256 || ids[r.Start-1] != boi || ids[r.End] != eoi {
					t.Errorf("run %v: length %d, framed by %d…%d; want 256 framed by boi/eoi", r, r.End-r.Start, ids[r.Start-1], ids[r.End])
				}
			}
			back := tok.Decode(ids, false)
			if tc.name == "pan and scan" {
				wantText := "Here is the original image"
				if !strings.Contains(back, wantText) || !strings.Contains(back, "and here are some crops to help you see better") {
					t.Errorf("pan & scan prompt lacks the crop sentence: %q", back[:200])
				}
			}
		})
	}
	if _, err := ExpandImages(tok, "no marker", []*Image{img(0)}, 256, false); err == nil {
		t.Error("an image without a <start_of_image> marker was accepted")
	}
}
