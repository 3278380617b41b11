package main

import (
	"encoding/json"
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
		}, {
			Name:  "kld",
			Usage: "KL divergence and top-1 agreement of a model against a reference, over a text",
			Description: `Runs the windows of 'verify perplexity' through a reference and a test model and compares
their next-token distributions at every scored position: KL(P_ref ‖ P_test) in nats per token
(mean with its standard error, median, 99th percentile, max, over the full softmax), the
fraction of positions whose most likely token agrees, and both perplexities.
The reference is --reference (for example the BF16 file a quantized one came from); without
it, the reference is the same model on the exact f32 path and the test runs with --act
(measuring the error of the faster activation path).

Example:
   gemmatool verify kld --model m-q4_0.gmt --reference m.gmt --text wiki.txt --ctx 512 --chunks 20
   gemmatool verify kld --model m-q4_0.gmt --act int8 --text wiki.txt --json`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model file under test"},
				&cli.StringFlag{Name: "reference", Aliases: []string{"r"}, Usage: "reference model file (default: --model on the exact path)"},
				&cli.StringFlag{Name: "act", Value: "exact", Usage: "activation precision of the model under test: exact or int8"},
				&cli.StringFlag{Name: "text", Required: true, Usage: "UTF-8 text file"},
				&cli.IntFlag{Name: "ctx", Value: 512, Usage: "window size in tokens, BOS included"},
				&cli.IntFlag{Name: "stride", Usage: "text tokens between window starts (default: ctx − 1)"},
				&cli.IntFlag{Name: "chunks", Usage: "stop after this many windows (default: all)"},
				&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
				&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			},
			Action: kldAction,
		}},
	})
}

// windowInput validates the window flags, reads --text, opens --model with its tokenizer and
// tokenizes the text once as one string (no BOS), as perplexity and kld both do.
func windowInput(c *cli.Context) (*loadedModel, []int32, error) {
	if c.IsSet("threads") {
		kernel.SetThreads(c.Int("threads"))
	}
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
	res, err := verify.Perplexity(verify.NewModelScorer(lm.m, ctx), ids, opts)
	done()
	if listed {
		fmt.Fprintln(c.App.ErrWriter)
	}
	if err != nil {
		return err
	}
	if jsonOut {
		if err := json.NewEncoder(c.App.Writer).Encode(res); err != nil {
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

func kldAction(c *cli.Context) error {
	ctx := c.Int("ctx")
	mode := kernel.ModeExact
	switch c.String("act") {
	case "exact":
	case "int8":
		mode = kernel.ModeInt8
	default:
		return usageError("verify kld: --act %q, want exact or int8", c.String("act"))
	}
	if !c.IsSet("reference") && mode == kernel.ModeExact {
		return usageError("verify kld: give --reference, or --act int8 to compare the model with its own exact path")
	}
	lm, ids, err := windowInput(c)
	if err != nil {
		return err
	}
	defer lm.Close()
	tok := lm.tok
	test := verify.NewModelScorer(lm.m, ctx).WithMode(mode)
	ref := verify.NewModelScorer(lm.m, ctx).WithMode(kernel.ModeExact)
	if c.IsSet("reference") {
		rm, err := openModel(c.String("reference"), true, false, false, c.App.ErrWriter)
		if err != nil {
			return err
		}
		defer rm.Close()
		if rm.m.VocabRows() != lm.m.VocabRows() {
			return fmt.Errorf("verify kld: %s has %d logits, %s has %d", c.String("reference"), rm.m.VocabRows(), c.String("model"), lm.m.VocabRows())
		}
		ref = verify.NewModelScorer(rm.m, ctx).WithMode(kernel.ModeExact)
	}
	jsonOut := c.Bool("json")
	opts, done := windowOptions(c, "kld", tok.BOS())
	res, err := verify.KLD(ref, test, ids, opts)
	done()
	if err != nil {
		return err
	}
	if jsonOut {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	_, err = fmt.Fprintf(c.App.Writer, "KL divergence %.6f ± %.6f nats/token (median %.6f, p99 %.6f, max %.6f), top-1 agreement %.2f%% over %d tokens; perplexity reference %.4f, test %.4f\n",
		res.KLDMean, res.KLDStderr, res.KLDMedian, res.KLD99, res.KLDMax, 100*res.Top1, res.Tokens, res.PPLRef, res.PPLTest)
	return err
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
