package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/quantize"
	"github.com/gemmatool/gemmatool/verify"
)

func init() {
	register(&cli.Command{
		Name:  "imatrix",
		Usage: "measure an importance matrix (mean x² per input channel of every linear weight) over a calibration text",
		Description: `Runs the windows of 'verify perplexity' (BOS + up to --ctx − 1 tokens of the text, tokenized
once as one string) through the model on the exact float32 path and records, for every decoder
linear weight and input channel, the sum of x² over every position (BOS included) and the token
count; 'quantize --imatrix' weighs each weight's rounding error by the mean x² of its column.

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
   gemmatool imatrix --model m.gmt --text calib.txt -o m.imatrix --ctx 256 --full`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file (BF16 or the file to be quantized from)"},
			&cli.StringFlag{Name: "text", Required: true, Usage: "UTF-8 calibration text"},
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
	if err := checkOutput(c, out, c.String("model"), c.String("text")); err != nil {
		return err
	}
	text, err := readInput(c.String("text"), c.App.Reader, maxTextInput, c.Command.Name)
	if err != nil {
		return err
	}
	lm, err := openModel(c.String("model"), true, true, false, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer lm.Close()
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
		return fmt.Errorf("imatrix: %s: %w", c.String("text"), err)
	}
	windows := make([][]int32, len(ws))
	bos := tok.BOS()
	for i, w := range ws {
		windows[i] = append([]int32{bos}, ids[w.Start:w.End]...)
	}
	var bar *progress
	im, err := quantize.Calibrate(lm.m, windows, quantize.CalibrateOptions{
		Dataset: filepath.Base(c.String("text")), ChunkSize: ctx, Threads: c.Int("threads"),
		Full: full, MaxDim: maxDim,
		Skipped: func(tensors []string, dim int) {
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: imatrix: %s: input of %d columns exceeds --full-max-dim %d; no second moments for it\n", strings.Join(tensors, ", "), dim, maxDim)
		},
		Progress: func(done, total int) {
			if bar == nil {
				bar = newProgress(c.App.ErrWriter, "imatrix", int64(total), "", c.Bool("json") || c.Bool("quiet"))
			}
			bar.Update(int64(done))
		},
	})
	bar.Done()
	if err != nil {
		return err
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
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(map[string]any{
			"output": out, "format": f, "entries": len(im.Entries), "windows": im.Chunks, "ctx": ctx, "tokens": tokens, "moment_groups": len(im.Moments),
		})
	}
	full2 := ""
	if len(im.Moments) > 0 {
		full2 = fmt.Sprintf(", second moments of %d inputs", len(im.Moments))
	}
	_, err = fmt.Fprintf(c.App.Writer, "wrote %s (%s format): %d weights, %d windows of %d, %d tokens%s\n", out, f, len(im.Entries), im.Chunks, ctx, tokens, full2)
	return err
}
