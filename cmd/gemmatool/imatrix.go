package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/quantize"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/vision"
	"github.com/gemmatool/gemmatool/verify"
)

func init() {
	register(&cli.Command{
		Name:  "imatrix",
		Usage: "measure an importance matrix (mean x² per input channel of every linear weight) over a calibration text and images",
		Description: `Runs the windows of 'verify perplexity' (BOS + up to --ctx − 1 tokens of the text, tokenized
once as one string) through the model on the exact float32 path and records, for every decoder
linear weight and input channel, the sum of x² over every position (BOS included) and the token
count; 'quantize --imatrix' weighs each weight's rounding error by the mean x² of its column.
--image-set runs images (a directory of PNG, JPEG, GIF or WebP files, the images of a
'verify kld --image-set' directory's manifest.json, or a text file listing one image path per
line) through the vision tower and projector of a multimodal model, as
'run --image' preprocesses them (every pan & scan crop too with --pan-and-scan), and records
the same statistics for the vision weights and mm.input_proj (every patch of every image).
Give --text, --image-set or both.

The output is gemmatool's imatrix file, or llama.cpp's GGUF imatrix when -o ends in .gguf or
--format gguf is given (llama-quantize --imatrix reads it; 'quantize --imatrix' reads both).
Calibrate on text you do not score.

--full also records, per distinct input of each layer (the vector q, k and v read; gate and up;
o; down), the full second moments E[x xᵀ] (accumulated in float64, stored as f32, upper
triangle; version 2 of gemmatool's file, which this build also reads): 'quantize --imatrix'
then quantizes q4_0 and i4 weights with GPTQ error feedback. An n-wide input takes n(n+1)/2 × 4 bytes
in the file and twice that while collecting; inputs wider than --full-max-dim (at most 8192)
are left out (named on stderr) and quantized as without --full. The GGUF format cannot hold them.

Example:
   gemmatool imatrix --model m.gmt --text calib.txt -o m.imatrix --ctx 256
   gemmatool imatrix --model m.gmt --text calib.txt -o m-imatrix.gguf
   gemmatool imatrix --model g4b.gmt --text calib.txt --image-set photos/ -o g4b.imatrix
   gemmatool imatrix --model m.gmt --text calib.txt -o m.imatrix --ctx 256 --full`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file (BF16 or the file to be quantized from)"},
			&cli.StringFlag{Name: "text", Usage: "UTF-8 calibration text"},
			&cli.StringFlag{Name: "image-set", Usage: "calibration images: a directory of image files, or a text file listing one path per line"},
			&cli.BoolFlag{Name: "pan-and-scan", Usage: "with --image-set: also encode the pan & scan crops of wide or tall images"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "imatrix file to write"},
			&cli.StringFlag{Name: "format", Usage: "gemmatool or gguf (default: gguf when -o ends in .gguf)"},
			&cli.IntFlag{Name: "ctx", Value: 512, Usage: "window size in tokens, BOS included"},
			&cli.IntFlag{Name: "stride", Usage: "text tokens between window starts (default: ctx − 1)"},
			&cli.IntFlag{Name: "chunks", Usage: "stop after this many windows (default: all)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
			&cli.BoolFlag{Name: "full", Usage: "also record the full second moments E[x xᵀ] of every input (for GPTQ in 'quantize --imatrix'; gemmatool format only)"},
			&cli.IntFlag{Name: "full-max-dim", Value: quantize.MaxMomentDim, Usage: "with --full, leave out inputs wider than this (1..8192)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: imatrixAction,
	})
}

func imatrixAction(c *cli.Context) error {
	out := c.String("output")
	gguf := strings.HasSuffix(strings.ToLower(out), ".gguf")
	switch c.String("format") {
	case "":
	case "gguf":
		gguf = true
	case "gemmatool":
		gguf = false
	default:
		return usageError("imatrix: --format %q, want gemmatool or gguf", c.String("format"))
	}
	ctx, stride, chunks := c.Int("ctx"), c.Int("stride"), c.Int("chunks")
	if ctx < 2 || stride < 0 || stride > ctx-1 || chunks < 0 {
		return usageError("imatrix: want --ctx ≥ 2, 0 ≤ --stride ≤ ctx − 1, --chunks ≥ 0")
	}
	full, maxDim := c.Bool("full"), c.Int("full-max-dim")
	if full && gguf {
		return usageError("imatrix: --full needs gemmatool's format (llama.cpp's GGUF imatrix holds no second moments)")
	}
	if full && (maxDim < 1 || maxDim > quantize.MaxMomentDim) {
		return usageError("imatrix: --full-max-dim %d, want 1..%d", maxDim, quantize.MaxMomentDim)
	}
	textPath, imageSet := c.String("text"), c.String("image-set")
	if textPath == "" && imageSet == "" {
		return usageError("imatrix: give --text, --image-set or both")
	}
	if err := checkOutput(c, out, c.String("model"), textPath); err != nil {
		return err
	}
	lm, err := openModel(c.String("model"), true, true, false, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer lm.Close()
	var images [][]float32
	if imageSet != "" {
		if images, err = calibrationImages(c, lm, imageSet); err != nil {
			return err
		}
	}
	var bar *progress
	progressOf := func(what string) func(done, total int) {
		bar = nil
		return func(done, total int) {
			if bar == nil {
				bar = newProgress(c.App.ErrWriter, what, int64(total), "", c.Bool("json") || c.Bool("quiet"))
			}
			bar.Update(int64(done))
		}
	}
	var im *quantize.Imatrix
	if textPath != "" {
		text, err := readInput(textPath, c.App.Reader, maxTextInput, c.Command.Name)
		if err != nil {
			return err
		}
		tok, err := lm.needTokenizer()
		if err != nil {
			return err
		}
		if mp := lm.m.Config.MaxPositions; mp > 0 && ctx > mp {
			return usageError("imatrix: --ctx %d exceeds the model's %d positions", ctx, mp)
		}
		ids := tok.Encode(string(text), false)
		ws, err := verify.Windows(len(ids), ctx, stride, chunks)
		if err != nil {
			return fmt.Errorf("imatrix: %s: %w", textPath, err)
		}
		windows := make([][]int32, len(ws))
		bos := tok.BOS()
		for i, w := range ws {
			windows[i] = append([]int32{bos}, ids[w.Start:w.End]...)
		}
		im, err = quantize.Calibrate(lm.m, windows, quantize.CalibrateOptions{
			Dataset: filepath.Base(textPath), ChunkSize: ctx, Threads: c.Int("threads"), Progress: progressOf("imatrix text"),
			Full: full, MaxDim: maxDim,
			Skipped: func(tensors []string, dim int) {
				fmt.Fprintf(c.App.ErrWriter, "gemmatool: imatrix: %s: input of %d columns exceeds --full-max-dim %d; no second moments for it\n", strings.Join(tensors, ", "), dim, maxDim)
			},
		})
		bar.Done()
		if err != nil {
			return err
		}
	}
	if images != nil {
		tw, err := vision.Load(lm.f)
		if err != nil {
			return err
		}
		vim, err := quantize.CalibrateVision(tw, images, quantize.CalibrateOptions{
			Dataset: filepath.Base(imageSet), Threads: c.Int("threads"), Progress: progressOf("imatrix images"),
		})
		bar.Done()
		if err != nil {
			return err
		}
		if im == nil {
			im = vim
		} else if err := im.Merge(vim); err != nil {
			return err
		}
	}
	if err := quantize.WriteImatrix(out, im, gguf); err != nil {
		return err
	}
	tokens := int64(0)
	for _, e := range im.Entries {
		tokens = max(tokens, e.Count)
	}
	f := "gemmatool"
	if gguf {
		f = "gguf"
	}
	windows := 0
	if textPath != "" {
		windows = im.Chunks
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(map[string]any{
			"output": out, "format": f, "entries": len(im.Entries), "windows": windows, "ctx": ctx, "tokens": tokens, "images": len(images), "moment_groups": len(im.Moments),
		})
	}
	msg := fmt.Sprintf("wrote %s (%s format): %d weights", out, f, len(im.Entries))
	if textPath != "" {
		msg += fmt.Sprintf(", %d windows of %d, %d tokens", windows, ctx, tokens)
	}
	if len(im.Moments) > 0 {
		msg += fmt.Sprintf(", second moments of %d inputs", len(im.Moments))
	}
	if images != nil {
		msg += fmt.Sprintf(", %d images", len(images))
		if gguf {
			msg += " (llama.cpp's imatrix has no names for vision weights: their entries are left out)"
		}
	}
	_, err = fmt.Fprintln(c.App.Writer, msg)
	return err
}

// maxCalibrationImages caps the images of --image-set (each costs one pass of the tower).
const maxCalibrationImages = 10000

// calibrationImages reads the images of --image-set (a directory with the manifest.json of
// 'verify kld --image-set': its items' images; another directory: its image files, sorted by
// name; a file: one path per line, blank lines and lines starting with # skipped, relative
// paths from the list's directory) preprocessed for the model's tower, one pixel array per
// image or pan & scan crop.
func calibrationImages(c *cli.Context, lm *loadedModel, set string) ([][]float32, error) {
	mc := lm.f.Meta.Model
	if mc.Vision == nil || mc.MM == nil {
		return nil, usageError("imatrix: --image-set: %s is a text-only model (no vision tower)", lm.f.Path)
	}
	st, err := os.Stat(set)
	if err != nil {
		return nil, fmt.Errorf("imatrix: --image-set: %w", err)
	}
	var paths []string
	if mf := filepath.Join(set, "manifest.json"); st.IsDir() && fileExists(mf) {
		// The image set of 'verify kld --image-set': its items' images.
		man, err := readImageManifest(set, "imatrix")
		if err != nil {
			return nil, err
		}
		for _, it := range man.Items {
			paths = append(paths, manifestImage(set, it))
		}
	} else if st.IsDir() {
		ents, err := os.ReadDir(set)
		if err != nil {
			return nil, fmt.Errorf("imatrix: --image-set: %w", err)
		}
		for _, e := range ents {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".png", ".jpg", ".jpeg", ".gif", ".webp":
				if !e.IsDir() {
					paths = append(paths, filepath.Join(set, e.Name()))
				}
			}
		}
	} else {
		b, err := readInput(set, c.App.Reader, maxTextInput, "--image-set")
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if !filepath.IsAbs(l) {
				l = filepath.Join(filepath.Dir(set), l)
			}
			paths = append(paths, l)
		}
	}
	if len(paths) == 0 {
		return nil, usageError("imatrix: --image-set %s holds no images (.png, .jpg, .jpeg, .gif, .webp)", set)
	}
	if len(paths) > maxCalibrationImages {
		return nil, usageError("imatrix: --image-set %s lists %d images, more than %d", set, len(paths), maxCalibrationImages)
	}
	cfg, err := runtime.ProcessorConfig(lm.f)
	if err != nil {
		return nil, err
	}
	cfg.PanAndScan = c.Bool("pan-and-scan")
	images, err := prepareImages(c, paths, cfg, "--image-set", "imatrix: --image-set: ")
	if err != nil {
		return nil, err
	}
	var out [][]float32
	for _, im := range images {
		out = append(out, im.Pixels...)
	}
	return out, nil
}

// fileExists reports whether path names an existing regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
