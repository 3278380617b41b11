package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/convert/llamacpp"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

func tensorsCommand() *cli.Command {
	return &cli.Command{
		Name:      "tensors",
		Usage:     "compare every tensor of two models (checkpoint directory, GGUF or gemmatool file)",
		ArgsUsage: "A B",
		Description: `A is the reference (for example the checkpoint directory), B the model compared with it (for
example its quantized file). Tensors are matched by canonical name (a checkpoint is read through the
conversion table, transposes undone; a gemmatool file is decoded from its stored type) and compared
over every element in float64: relative L2 ‖A−B‖/‖A‖, SNR 10·log10(ΣA²/Σ(A−B)²) in dB (999 means
exact), max |A−B| and cosine similarity. Prints the tensors worst first (--top, default 20), then
totals per component (text.blk.*.attn_q …) and per layer; --json prints the verify JSON document
with every tensor.

Examples:
   gemmatool verify tensors ./gemma-3-1b-it model-q4_0.gmt
   gemmatool verify tensors model.gmt model-q4_0.gmt --json`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "top", Value: 20, Usage: "tensors to print (0: all)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
			&cli.BoolFlag{Name: "json", Usage: "print the verify JSON document"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: tensorsAction,
	}
}

// fileTensors reads a gemmatool file's tensors.
type fileTensors struct{ quantize.FileSource }

func (f fileTensors) TensorInfos() []verify.TensorInfo {
	var out []verify.TensorInfo
	for _, t := range f.F.Tensors() {
		out = append(out, verify.TensorInfo{Name: t.Name, DType: t.DType.String(), Shape: t.Shape})
	}
	return out
}

// dirTensors reads a checkpoint's tensors through its conversion plan.
type dirTensors struct{ ckSource }

func (d dirTensors) TensorInfos() []verify.TensorInfo {
	var out []verify.TensorInfo
	for _, e := range d.ck.Plan.Entries {
		out = append(out, verify.TensorInfo{Name: e.Name, DType: e.SrcDType.String(), Shape: e.Shape})
	}
	return out
}

// openTensors opens a checkpoint directory, a GGUF (imported to a temporary file) or a
// gemmatool file for reading its tensors.
func openTensors(path string) (verify.TensorReader, io.Closer, *format.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if st.IsDir() {
		ck, err := convert.OpenCheckpoint(path)
		if err != nil {
			return nil, nil, nil, err
		}
		return dirTensors{ckSource{ck}}, ck, nil, nil
	}
	var cleanup func()
	if llamacpp.IsGGUF(path) {
		if path, cleanup, err = llamacpp.ImportTemp(path, llamacpp.ImportOptions{}); err != nil {
			return nil, nil, nil, err
		}
	}
	f, err := openFormat(path, "verify tensors")
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, nil, nil, err
	}
	return fileTensors{quantize.FileSource{F: f}}, closers{f, cleanup}, f, nil
}

// closers closes a file, then runs a cleanup (when not nil).
type closers struct {
	f       io.Closer
	cleanup func()
}

func (c closers) Close() error {
	err := c.f.Close()
	if c.cleanup != nil {
		c.cleanup()
	}
	return err
}

func tensorsAction(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("verify tensors: want two models A B, got %d arguments", c.NArg())
	}
	pa, pb := c.Args().Get(0), c.Args().Get(1)
	a, ca, _, err := openTensors(pa)
	if err != nil {
		return err
	}
	defer ca.Close()
	b, cb, fb, err := openTensors(pb)
	if err != nil {
		return err
	}
	defer cb.Close()
	var bar *progress
	rep, err := verify.CompareTensors(a, b, kernel.Exec{Threads: c.Int("threads")}, func(done, total int64) {
		if bar == nil {
			bar = newProgress(c.App.ErrWriter, "tensors", total, "", c.Bool("quiet") || c.Bool("json"))
		}
		bar.Update(done)
	})
	bar.Done()
	if err != nil {
		return err
	}
	if len(rep.Tensors) == 0 {
		return fmt.Errorf("verify tensors: %s and %s have no tensor in common", pa, pb)
	}
	if c.Bool("json") {
		doc := &verify.Doc{Schema: verify.Schema, Verb: "tensors", Command: commandLine(c), Reference: pa, Model: pb, Tensors: rep}
		if fb != nil {
			doc.Provenance, doc.Quantization = &fb.Meta.Source, fb.Meta.Quantization
		}
		return writeJSON(c.App.Writer, doc)
	}
	printTensors(c.App.Writer, rep, c.Int("top"))
	return nil
}

func printTensors(w io.Writer, rep *verify.TensorReport, top int) {
	ts := rep.Tensors
	if top > 0 && len(ts) > top {
		ts = ts[:top]
	}
	fmt.Fprintf(w, "%d tensors compared, worst first (relative L2):\n", len(rep.Tensors))
	fmt.Fprintf(w, "  %-34s %-5s %-5s %10s %8s %10s %12s\n", "tensor", "A", "B", "rel L2", "SNR dB", "max abs", "cosine")
	for _, t := range ts {
		fmt.Fprintf(w, "  %-34s %-5s %-5s %10.3e %8.2f %10.3e %12.9f\n", t.Name, t.DTypeA, t.DTypeB, t.RelL2, t.SNRdB, t.MaxAbs, t.Cosine)
	}
	groups := func(title string, gs []verify.GroupStat) {
		if len(gs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		fmt.Fprintf(w, "  %-34s %7s %10s %8s %10s %12s\n", "", "tensors", "rel L2", "SNR dB", "max abs", "cosine")
		for _, g := range gs {
			fmt.Fprintf(w, "  %-34s %7d %10.3e %8.2f %10.3e %12.9f\n", g.Name, g.Tensors, g.RelL2, g.SNRdB, g.MaxAbs, g.Cosine)
		}
	}
	groups("per component", rep.Components)
	groups("per layer", rep.Layers)
	for _, x := range []struct {
		what  string
		names []string
	}{{"only in A", rep.OnlyA}, {"only in B", rep.OnlyB}, {"shapes differ", rep.Mismatched}} {
		if len(x.names) > 0 {
			fmt.Fprintf(w, "%s: %v\n", x.what, x.names)
		}
	}
}
