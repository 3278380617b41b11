package runtime

import (
	"bytes"
	"fmt"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/imageproc"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
	"github.com/gemmatool/gemmatool/runtime/vision"
)

// ImageRuns returns the maximal runs [start, end) of imageToken in ids: one run per image
// (or crop), in order.
func ImageRuns(ids []int32, imageToken int32) []Span {
	var runs []Span
	for i := 0; i < len(ids); i++ {
		if ids[i] != imageToken {
			continue
		}
		j := i
		for j < len(ids) && ids[j] == imageToken {
			j++
		}
		runs = append(runs, Span{i, j})
		i = j - 1
	}
	return runs
}

// MultimodalBatch builds the prefill batch of a prompt whose image soft tokens are already
// expanded: each maximal run of imageToken receives the next image's features (features holds
// len(runs) × tokensPerImage rows of d values, in order), and the positions of each run attend
// to each other in both directions. A run whose length is not tokensPerImage, or a number of
// runs different from the number of feature blocks, is an error.
func MultimodalBatch(ids []int32, imageToken int32, features []float32, tokensPerImage, d int) (*Batch, error) {
	runs := ImageRuns(ids, imageToken)
	per := tokensPerImage * d
	if per <= 0 || len(features)%per != 0 {
		return nil, fmt.Errorf("runtime: %d feature values are not whole images of %d×%d", len(features), tokensPerImage, d)
	}
	if n := len(features) / per; n != len(runs) {
		return nil, fmt.Errorf("runtime: the prompt has %d runs of image tokens (id %d) but %d images were given", len(runs), imageToken, n)
	}
	b := &Batch{Tokens: ids, Bidi: runs}
	for k, r := range runs {
		if r.End-r.Start != tokensPerImage {
			return nil, fmt.Errorf("runtime: image %d has %d soft tokens at positions %d…%d, want %d", k, r.End-r.Start, r.Start, r.End-1, tokensPerImage)
		}
		for i := r.Start; i < r.End; i++ {
			off := (k*tokensPerImage + i - r.Start) * d
			b.Overrides = append(b.Overrides, Override{Index: i, Vec: features[off : off+d]})
		}
	}
	return b, nil
}

// Image is one input image, decoded and preprocessed: Pixels holds the original and then its
// pan-and-scan crops, each [channels, size, size] float32.
type Image struct {
	Pixels [][]float32
	Crops  int
}

// PrepareImage decodes and preprocesses an image file's bytes with the model's processor
// configuration (the embedded preprocessor_config.json, or the released defaults with the
// vision tower's image size).
func PrepareImage(data []byte, cfg imageproc.Config) (*Image, error) {
	img, _, err := imageproc.Load(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	px, crops, err := imageproc.Preprocess(img, cfg)
	if err != nil {
		return nil, err
	}
	return &Image{Pixels: px, Crops: crops}, nil
}

// ProcessorConfig returns the image processor configuration of a multimodal model file.
func ProcessorConfig(f *format.File) (imageproc.Config, error) {
	cfg := imageproc.DefaultConfig()
	b, ok, err := f.EmbeddedFile("preprocessor_config.json")
	if err != nil {
		return cfg, err
	}
	if ok {
		if cfg, err = imageproc.ParseConfig(b); err != nil {
			return cfg, fmt.Errorf("runtime: %s: preprocessor_config.json: %w", f.Path, err)
		}
	} else if v := f.Meta.Model.Vision; v != nil {
		cfg.Width, cfg.Height = v.ImageSize, v.ImageSize
	}
	return cfg, nil
}

// ExpandImages rewrites a prompt text containing one `<start_of_image>` per image into the
// processor's full image sequences (crops included) and tokenizes it; addSpecial prepends
// BOS (false for chat-template output, which starts with `<bos>` itself).
func ExpandImages(tok *tokenizer.Tokenizer, text string, images []*Image, tokensPerImage int, addSpecial bool) ([]int32, error) {
	crops := make([]int, len(images))
	for i, im := range images {
		crops[i] = im.Crops
	}
	full, err := imageproc.ExpandPrompt(text, crops, tokensPerImage)
	if err != nil {
		return nil, err
	}
	return tok.Encode(full, addSpecial), nil
}

// EncodeImages runs the vision tower over every image and crop, in prompt order, and returns
// the concatenated features (and the tower's intermediates when keepHidden); its products run
// as e says.
func EncodeImages(e kernel.Exec, tw *vision.Tower, images []*Image, keepHidden bool) (*vision.Output, error) {
	var px []float32
	n := 0
	for _, im := range images {
		for _, p := range im.Pixels {
			px = append(px, p...)
			n++
		}
	}
	if n == 0 {
		return &vision.Output{}, nil
	}
	return tw.Encode(e, px, n, keepHidden)
}
