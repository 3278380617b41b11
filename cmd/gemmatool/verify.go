package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

func init() {
	register(&cli.Command{
		Name:  "verify",
		Usage: "measure a model file against its reference",
		Subcommands: []*cli.Command{{
			Name:  "perplexity",
			Usage: "perplexity of the model over a text file",
			Description: `The whole text is tokenized once as one string (no BOS inside). A window is BOS followed by
up to --ctx − 1 text tokens; windows start every --stride text tokens (default --ctx − 1,
non-overlapping); in each window only the text tokens that no earlier window scored are
scored (in the first window, all); --chunks K stops after K windows. Reports the perplexity
exp(mean NLL) with its standard error (delta method), the mean NLL in nats per token, the
scored token count and the evaluation speed (window tokens per second).

Example:
   gemmatool verify perplexity --model brown.gmt --text brown-val.txt --ctx 256 --chunks 100`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file"},
				&cli.StringFlag{Name: "text", Required: true, Usage: "UTF-8 text file"},
				&cli.IntFlag{Name: "ctx", Value: 512, Usage: "window size in tokens, BOS included"},
				&cli.IntFlag{Name: "stride", Usage: "text tokens between window starts (default: ctx − 1)"},
				&cli.IntFlag{Name: "chunks", Usage: "stop after this many windows (default: all)"},
				&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			},
			Action: perplexityAction,
		}},
	})
}

func perplexityAction(c *cli.Context) error {
	if c.IsSet("threads") {
		kernel.SetThreads(c.Int("threads"))
	}
	ctx, stride, chunks := c.Int("ctx"), c.Int("stride"), c.Int("chunks")
	if ctx < 2 || stride < 0 || stride > ctx-1 || chunks < 0 {
		return usageError("verify perplexity: want --ctx ≥ 2, 0 ≤ --stride ≤ ctx − 1, --chunks ≥ 0")
	}
	text, err := os.ReadFile(c.String("text"))
	if err != nil {
		return err
	}
	lm, err := openModel(c.String("model"), true, true, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer lm.Close()
	tok, err := lm.needTokenizer()
	if err != nil {
		return err
	}
	if ctx > lm.m.Config.MaxPositions && lm.m.Config.MaxPositions > 0 {
		return usageError("verify perplexity: --ctx %d exceeds the model's %d positions", ctx, lm.m.Config.MaxPositions)
	}
	ids := tok.Encode(string(text), false)
	jsonOut := c.Bool("json")
	var bar *progress
	res, err := verify.Perplexity(verify.NewModelScorer(lm.m, ctx), ids, verify.PerplexityOptions{
		Ctx: ctx, Stride: stride, Chunks: chunks, BOS: tok.BOS(),
		Progress: func(done, total int) {
			if bar == nil {
				bar = newProgress(c.App.ErrWriter, "perplexity", int64(total), "", jsonOut || c.Bool("quiet"))
			}
			bar.Update(int64(done))
		},
	})
	if bar != nil {
		bar.Done()
	}
	if err != nil {
		return err
	}
	if jsonOut {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	_, err = fmt.Fprintf(c.App.Writer, "perplexity %.4f ± %.4f (nll %.6f nats/token) over %d tokens in %d windows of %d; %d text tokens; %.1f tok/s\n",
		res.PPL, res.PPLStderr, res.NLLMean, res.Tokens, res.Windows, ctx, len(ids), res.TokS)
	return err
}
