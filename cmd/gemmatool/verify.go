package main

import (
	"fmt"

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
		},
			kldCommand(),
			tensorsCommand(),
			activationsCommand(),
			reportCommand(),
		},
	})
}

// windowInput validates the window flags, reads --text, opens --model with its tokenizer and
// tokenizes the text once as one string (no BOS), as perplexity and kld both do.
func windowInput(c *cli.Context) (*loadedModel, []int32, error) {
	name := "verify " + c.Command.Name
	ctx, stride, chunks := c.Int("ctx"), c.Int("stride"), c.Int("chunks")
	if ctx < 2 || stride < 0 || stride > ctx-1 || chunks < 0 {
		return nil, nil, usageError("%s: want --ctx ≥ 2, 0 ≤ --stride ≤ ctx − 1, --chunks ≥ 0", name)
	}
	text, err := readInput(c.String("text"), c.App.Reader, maxTextInput, "--text")
	if err != nil {
		return nil, nil, err
	}
	lm, err := openModel(c.String("model"), true, true, false, c.App.ErrWriter)
	if err != nil {
		return nil, nil, err
	}
	tok, err := lm.needTokenizer()
	if err == nil && ctx > lm.m.Config.MaxPositions && lm.m.Config.MaxPositions > 0 {
		err = usageError("%s: --ctx %d exceeds the model's %d positions", name, ctx, lm.m.Config.MaxPositions)
	}
	if err != nil {
		lm.Close()
		return nil, nil, err
	}
	return lm, tok.Encode(string(text), false), nil
}

func perplexityAction(c *cli.Context) error {
	lm, ids, err := windowInput(c)
	if err != nil {
		return err
	}
	defer lm.Close()
	ctx, tok := c.Int("ctx"), lm.tok
	jsonOut := c.Bool("json")
	opts, done := windowOptions(c, "perplexity", tok.BOS())
	// The running estimate after every window: in the bar's label on a terminal, else as
	// llama-perplexity prints it ("[1]12.34,[2]11.98,…" on stderr).
	quiet := jsonOut || c.Bool("quiet")
	listed := false
	progress := opts.Progress
	opts.Progress = nil
	opts.Running = func(k, total int, r *verify.PerplexityResult) {
		if bar := progress; bar != nil && windowBarOn(c) {
			setWindowLabel(c, fmt.Sprintf("perplexity %.4f", r.PPL))
			bar(k, total)
			return
		}
		if !quiet {
			fmt.Fprintf(c.App.ErrWriter, "[%d]%.4f,", k, r.PPL)
			listed = true
		}
	}
	opts.Stop = c.Context.Done()
	res, err := verify.Perplexity(verify.NewModelScorer(lm.m, ctx, kernel.Exec{Threads: c.Int("threads")}), ids, opts)
	done()
	if listed {
		fmt.Fprintln(c.App.ErrWriter)
	}
	if err != nil {
		return err
	}
	if jsonOut {
		if err := writeJSON(c.App.Writer, &verify.Doc{Schema: verify.Schema, Verb: "perplexity", Command: commandLine(c),
			Model: c.String("model"), Text: c.String("text"), Ctx: ctx, Stride: c.Int("stride"), Chunks: c.Int("chunks"),
			Provenance: &lm.f.Meta.Source, Quantization: lm.f.Meta.Quantization, Perplexity: res}); err != nil {
			return err
		}
	} else {
		note := ""
		if res.Interrupted {
			note = " (interrupted)"
		}
		if _, err := fmt.Fprintf(c.App.Writer, "perplexity %.4f ± %.4f (nll %.6f nats/token) over %d tokens in %d windows of %d; %d text tokens; %.1f tok/s%s\n",
			res.PPL, res.PPLStderr, res.NLLMean, res.Tokens, res.Windows, ctx, len(ids), res.TokS, note); err != nil {
			return err
		}
	}
	if res.Interrupted {
		return errInterrupted
	}
	return nil
}

// windowOptions returns the window options of --ctx, --stride and --chunks with a progress
// bar labelled label, and the function that clears the bar.
func windowOptions(c *cli.Context, label string, bos int32) (verify.PerplexityOptions, func()) {
	o := verify.PerplexityOptions{
		Ctx: c.Int("ctx"), Stride: c.Int("stride"), Chunks: c.Int("chunks"), BOS: bos,
		Progress: func(done, total int) {
			bar := windowBar(c, label)
			bar.total = int64(total)
			bar.Update(int64(done))
		},
	}
	return o, func() { windowBar(c, label).Done() }
}

// windowBar returns the progress bar of a verify command (one per command run).
func windowBar(c *cli.Context, label string) *progress {
	if b, ok := c.App.Metadata["bar"].(*progress); ok {
		return b
	}
	b := newProgress(c.App.ErrWriter, label, 0, "", c.Bool("json") || c.Bool("quiet"))
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata["bar"] = b
	return b
}

// windowBarOn reports whether the verify command draws a bar (a terminal, not --quiet/--json).
func windowBarOn(c *cli.Context) bool { return windowBar(c, "").on }

// setWindowLabel changes the label of the verify command's bar.
func setWindowLabel(c *cli.Context, label string) {
	b := windowBar(c, label)
	b.mu.Lock()
	b.label = label
	b.mu.Unlock()
}
