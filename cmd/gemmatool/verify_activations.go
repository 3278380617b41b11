package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

func activationsCommand() *cli.Command {
	return &cli.Command{
		Name:  "activations",
		Usage: "ranges of every layer's matrix inputs on calibration text: why activations stay float32",
		Description: `Runs calibration text (the windows of 'verify perplexity', or one batch of --ids) through the
model and summarises, per layer, the residual stream entering it and the input of every weight
product: attn_in (normed, into q/k/v), attn_out (attention output, into o), ffn_in (normed, into
gate/up) and ffn_down (GELU(gate)·up, into down). For each: max |x|, RMS, the count of values
beyond float16's range (|x| > 65504) and of non-zero values below its normal range (|x| < 2⁻¹⁴),
and the channels carrying the largest magnitudes. Gemma 3's residual stream routinely exceeds
float16's range, which is why gemmatool keeps activations in float32.

Examples:
   gemmatool verify activations --model m.gmt --text wiki.txt --ctx 512 --chunks 4
   gemmatool verify activations --model m.gmt --ids 2,818,5279 --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file"},
			&cli.StringFlag{Name: "text", Usage: "UTF-8 calibration text"},
			&cli.StringFlag{Name: "ids", Usage: "comma-separated token ids (one batch, BOS included if wanted)"},
			&cli.StringFlag{Name: "ids-file", Usage: "JSON array of token ids in a file"},
			&cli.IntFlag{Name: "ctx", Value: 512, Usage: "window size in tokens, BOS included"},
			&cli.IntFlag{Name: "stride", Usage: "text tokens between window starts (default: ctx − 1)"},
			&cli.IntFlag{Name: "chunks", Value: 4, Usage: "windows of text to run (0: all)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
			&cli.BoolFlag{Name: "json", Usage: "print the verify JSON document"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: activationsAction,
	}
}

func activationsAction(c *cli.Context) error {
	ex := kernel.Exec{Threads: c.Int("threads")}
	ids, err := idsFromFlags(c)
	if err != nil {
		return err
	}
	if (ids != nil) == c.IsSet("text") {
		return usageError("verify activations: give --text or --ids / --ids-file")
	}
	ctx, stride, chunks := c.Int("ctx"), c.Int("stride"), c.Int("chunks")
	if ctx < 2 || stride < 0 || stride > ctx-1 || chunks < 0 {
		return usageError("verify activations: want --ctx ≥ 2, 0 ≤ --stride ≤ ctx − 1, --chunks ≥ 0")
	}
	lm, err := openModel(c.String("model"), true, ids == nil, false, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer lm.Close()
	var rep *verify.ActivationReport
	doc := &verify.Doc{Schema: verify.Schema, Verb: "activations", Command: commandLine(c), Model: c.String("model"),
		Provenance: &lm.f.Meta.Source, Quantization: lm.f.Meta.Quantization}
	if ids != nil {
		for _, id := range ids {
			if id < 0 || int(id) >= lm.m.VocabRows() {
				return usageError("verify activations: token id %d outside [0, %d)", id, lm.m.VocabRows())
			}
		}
		var st verify.ActivationStats
		if err := st.RunObserved(lm.m, lm.m.NewSession(&runtime.SessionOptions{Exec: ex}), ids); err != nil {
			return err
		}
		rep = st.Report()
	} else {
		tok, err := lm.needTokenizer()
		if err != nil {
			return err
		}
		text, err := readInput(c.String("text"), c.App.Reader, maxTextInput, "--text")
		if err != nil {
			return err
		}
		if mp := lm.m.Config.MaxPositions; mp > 0 && ctx > mp {
			return usageError("verify activations: --ctx %d exceeds the model's %d positions", ctx, mp)
		}
		o, done := progressOptions(c, verify.PerplexityOptions{Ctx: ctx, Stride: stride, Chunks: chunks, BOS: tok.BOS()}, "activations", c.Bool("quiet") || c.Bool("json"))
		rep, err = verify.Activations(lm.m, tok.Encode(string(text), false), o, ex)
		done()
		if err != nil {
			return err
		}
		doc.Text, doc.Ctx, doc.Stride, doc.Chunks = c.String("text"), ctx, stride, chunks
	}
	if c.Bool("json") {
		doc.Activations = rep
		return writeJSON(c.App.Writer, doc)
	}
	printActivations(c.App.Writer, rep)
	return nil
}

func printActivations(w io.Writer, rep *verify.ActivationReport) {
	fmt.Fprintf(w, "%d positions; f16 range ±65504, f16 normal ≥ 2⁻¹⁴\n", rep.Tokens)
	fmt.Fprintf(w, "%5s %-9s %6s %12s %10s %10s %12s  %s\n", "layer", "site", "width", "max |x|", "RMS", "> f16", "< f16 norm", "top channels (max |x|)")
	for _, s := range rep.Sites {
		var ch []string
		for _, c := range s.TopChannels[:min(3, len(s.TopChannels))] {
			ch = append(ch, fmt.Sprintf("%d (%.4g)", c.Index, c.MaxAbs))
		}
		fmt.Fprintf(w, "%5d %-9s %6d %12.5g %10.4g %10d %12d  %s\n", s.Layer, s.Site, s.Width, s.MaxAbs, s.RMS, s.OverF16, s.BelowF16, strings.Join(ch, ", "))
	}
}
