package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
)

func init() {
	register(&cli.Command{
		Name:      "convert",
		Usage:     "convert a Hugging Face Gemma 3 checkpoint directory to a gemmatool file",
		ArgsUsage: "DIR",
		Description: `Reads config.json, model.safetensors (or the shards listed in
model.safetensors.index.json), generation_config.json and the tokenizer and processor files,
checks every tensor against the Gemma 3 tensor table, and writes one memory-mappable file.
Memory stays bounded whatever the checkpoint size; the output appears only when complete.

--dtype keep (default) copies the source types bit for bit; bf16, f16 and f32 convert
(norm weights and biases are never narrowed below their source type).

Example:
   gemmatool convert ./gemma-3-1b-it -o gemma-3-1b-it.gmt
   gemmatool convert ./gemma-3-4b-pt -o 4b-f32.gmt --dtype f32 --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FILE` (required)"},
			&cli.StringFlag{Name: "dtype", Value: "keep", Usage: "output tensor type: keep, bf16, f16 or f32"},
			&cli.BoolFlag{Name: "json", Usage: "print the conversion report as JSON"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: runConvert,
	})
}

func runConvert(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) != 1 {
		return usageError("convert: want one checkpoint directory, got %d arguments (see gemmatool convert --help)", len(args))
	}
	out := c.String("output")
	if out == "" {
		return usageError("convert: missing -o FILE")
	}
	dt := convert.Target(strings.ToLower(c.String("dtype")))
	valid := false
	for _, t := range convert.Targets {
		valid = valid || t == dt
	}
	if !valid {
		return usageError("convert: --dtype %q, want keep, bf16, f16 or f32", c.String("dtype"))
	}
	// The checkpoint's own files are refused as outputs by convert.RunContext, which knows them.
	if err := checkOutput(c, out); err != nil {
		return err
	}
	bar := newProgress(c.App.ErrWriter, "convert", 0, "B", c.Bool("quiet") || c.Bool("json"))
	rep, err := convert.RunContext(c.Context, args[0], out, convert.Options{DType: dt, ToolVersion: version},
		func(done, total int64) { bar.total = total; bar.Update(done) })
	bar.Done()
	if err != nil {
		return interrupted(c, err)
	}
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: %s\n", warn)
	}
	fmt.Fprintf(w, "wrote %s: %d tensors (%s), %s from %s\n", rep.Output, rep.Tensors, rep.DType, humanBytes(rep.FileBytes), rep.Source)
	for _, ct := range rep.Components {
		fmt.Fprintf(w, "  %-15s %4d tensors %14s params %10s\n", ct.Component, ct.Tensors, groupDigits(ct.Params), humanBytes(ct.Bytes))
	}
	if len(rep.Embedded) > 0 {
		fmt.Fprintf(w, "  embedded: %s\n", strings.Join(rep.Embedded, ", "))
	}
	return nil
}

// humanBytes renders n bytes in decimal units (as model sizes are quoted).
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// groupDigits writes n with thousands separators.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
