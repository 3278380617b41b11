package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nlpodyssey/safetensors"
	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/imageproc"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
	"github.com/gemmatool/gemmatool/runtime/vision"
)

// imageFlags are the image inputs of run and logits.
func imageFlags(pixelValues bool) []cli.Flag {
	f := []cli.Flag{
		&cli.StringSliceFlag{Name: "image", Usage: "image file (PNG, JPEG, GIF, WebP); repeatable, in prompt order"},
		&cli.BoolFlag{Name: "pan-and-scan", Usage: "also encode crops of wide or tall images (Gemma 3's pan & scan: min crop 256, max 4 crops, ratio 1.2)"},
	}
	if pixelValues {
		f = append(f, &cli.StringFlag{Name: "pixel-values", Usage: "safetensors file with pixel_values [n, 3, H, W] F32, instead of --image (bypasses preprocessing)"})
	}
	return f
}

// loadImages reads the images of --image (or --pixel-values) preprocessed for the model. It
// returns nil when none are given.
func loadImages(c *cli.Context, lm *loadedModel) ([]*runtime.Image, error) {
	files := c.StringSlice("image")
	pv := ""
	if c.IsSet("pixel-values") {
		pv = c.String("pixel-values")
	}
	if len(files) == 0 && pv == "" {
		if c.Bool("pan-and-scan") {
			return nil, usageError("%s: --pan-and-scan needs --image", c.Command.Name)
		}
		return nil, nil
	}
	if len(files) > 0 && pv != "" {
		return nil, usageError("%s: give --image or --pixel-values, not both", c.Command.Name)
	}
	mc := lm.f.Meta.Model
	if mc.Vision == nil || mc.MM == nil {
		return nil, fmt.Errorf("%s: %s is a text-only model (no vision tower); it cannot take images", c.Command.Name, lm.f.Path)
	}
	if pv != "" {
		return pixelValueImages(c, pv, mc.Vision.NumChannels, mc.Vision.ImageSize)
	}
	cfg, err := runtime.ProcessorConfig(lm.f)
	if err != nil {
		return nil, err
	}
	if c.Bool("pan-and-scan") {
		cfg.PanAndScan = true
	}
	return prepareImages(c, files, cfg, "--image", "")
}

// prepareImages reads the image files (flag names them in read errors; prefix starts a
// decoding error, which names the file) and preprocesses them as cfg says.
func prepareImages(c *cli.Context, files []string, cfg imageproc.Config, flag, prefix string) ([]*runtime.Image, error) {
	var out []*runtime.Image
	for _, p := range files {
		b, err := readInput(p, c.App.Reader, maxImageInput, flag)
		if err != nil {
			return nil, err
		}
		im, err := runtime.PrepareImage(b, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", prefix, p, err)
		}
		out = append(out, im)
	}
	return out, nil
}

// pixelValueImages reads pixel_values [n, channels, size, size] F32 from a safetensors file:
// one image per n, without crops.
func pixelValueImages(c *cli.Context, path string, channels, size int) ([]*runtime.Image, error) {
	b, err := readInput(path, c.App.Reader, maxPixelValuesInput, "--pixel-values")
	if err != nil {
		return nil, err
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tv, ok := st.Tensor("pixel_values")
	if !ok {
		return nil, fmt.Errorf("%s: no tensor pixel_values", path)
	}
	shape := tv.Shape()
	if tv.DType() != safetensors.F32 || len(shape) != 4 || shape[0] == 0 || shape[1] != uint64(channels) || shape[2] != uint64(size) || shape[3] != uint64(size) {
		return nil, fmt.Errorf("%s: pixel_values is %v %v, want F32 [n, %d, %d, %d]", path, tv.DType(), shape, channels, size, size)
	}
	data := tv.Data()
	per := channels * size * size
	var out []*runtime.Image
	for i := 0; i < int(shape[0]); i++ {
		px := make([]float32, per)
		for j := range px {
			px[j] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*(i*per+j):]))
		}
		out = append(out, &runtime.Image{Pixels: [][]float32{px}})
	}
	return out, nil
}

// imageBatch encodes the images with the model's vision tower and places their features in
// the already expanded prompt ids, its products running as ex says. It returns the batch
// template and the encoder output.
func imageBatch(ex kernel.Exec, lm *loadedModel, ids []int32, images []*runtime.Image, keepHidden bool) (*runtime.Batch, *vision.Output, time.Duration, error) {
	tw, err := vision.Load(lm.f)
	if err != nil {
		return nil, nil, 0, err
	}
	t0 := time.Now()
	out, err := runtime.EncodeImages(ex, tw, images, keepHidden)
	if err != nil {
		return nil, nil, 0, err
	}
	el := time.Since(t0)
	mm := lm.f.Meta.Model.MM
	b, err := runtime.MultimodalBatch(ids, int32(mm.ImageToken), out.Features, mm.TokensPerImage, lm.m.Hidden())
	if err != nil {
		return nil, nil, 0, err
	}
	return b, out, el, nil
}

// chatWithImages renders a one-turn chat prompt whose user turn holds the images (one
// <start_of_image> each) followed by the text.
func chatWithImages(system, prompt string, nImages int) (string, error) {
	var msgs []tokenizer.Message
	if system != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: []tokenizer.Part{{Type: "text", Text: system}}})
	}
	var parts []tokenizer.Part
	for i := 0; i < nImages; i++ {
		parts = append(parts, tokenizer.Part{Type: "image"})
	}
	parts = append(parts, tokenizer.Part{Type: "text", Text: prompt})
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: parts})
	return tokenizer.RenderChat(msgs, true)
}

// rawWithImages checks that a raw prompt places every image with a <start_of_image> marker.
func rawWithImages(prompt string, nImages int) error {
	if n := strings.Count(prompt, imageproc.BOIToken); n != nImages {
		return usageError("the prompt has %d %s markers for %d images: with --raw (or logits --prompt), put one marker where each image goes", n, imageproc.BOIToken, nImages)
	}
	return nil
}

// checkNoImageTokens returns a usage error when ids hold the image soft token of a multimodal
// model but no image was given (its embedding row is a placeholder that only the vision
// tower's features replace).
func checkNoImageTokens(verb string, lm *loadedModel, ids []int32) error {
	mm := lm.f.Meta.Model.MM
	if mm == nil {
		return nil
	}
	for i, id := range ids {
		if id == int32(mm.ImageToken) {
			return usageError("%s: token %d at position %d is an image soft token, but no --image was given", verb, id, i)
		}
	}
	return nil
}
