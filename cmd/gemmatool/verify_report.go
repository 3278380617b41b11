package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/verify"
)

// maxDocBytes caps a verify JSON document read by the report.
const maxDocBytes = 256 << 20

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "one self-contained HTML page from the JSON documents of other verify verbs",
		ArgsUsage: "DOC.json …",
		Description: `Reads the --json output of 'verify kld', 'verify tensors', 'verify activations',
'verify perplexity' and 'verify kld --image-set' and writes one HTML file with inline SVG plots (no
scripts, nothing fetched): perplexity per window of both models, the histogram and cumulative
distribution of the per-token KL, the relative error per layer and of the worst tensors, the largest
activation per layer and site against float16's range, the image results, the model's recipe and
provenance, and the commands that reproduce every figure.

Example:
   gemmatool verify kld --model m-q4_0.gmt --reference m.gmt --text wiki.txt --json > kld.json
   gemmatool verify tensors ./ckpt m-q4_0.gmt --json > tensors.json
   gemmatool verify activations --model m-q4_0.gmt --text wiki.txt --json > activations.json
   gemmatool verify report -o report.html kld.json tensors.json activations.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "HTML file to write"},
			&cli.StringFlag{Name: "title", Value: "gemmatool verification report", Usage: "page title"},
		},
		Action: reportAction,
	}
}

func reportAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("verify report: give at least one JSON document")
	}
	out := c.String("output")
	if err := checkOutput(c, out, c.Args().Slice()...); err != nil {
		return err
	}
	var docs []*verify.Doc
	for _, p := range c.Args().Slice() {
		b, err := readInput(p, c.App.Reader, maxDocBytes, "verify report")
		if err != nil {
			return err
		}
		d := &verify.Doc{}
		if err := json.Unmarshal(b, d); err != nil {
			return fmt.Errorf("verify report: %s: %w", p, err)
		}
		if d.Schema != verify.Schema {
			return fmt.Errorf("verify report: %s: schema %q, want %q (the --json output of a verify verb)", p, d.Schema, verify.Schema)
		}
		docs = append(docs, d)
	}
	var buf bytes.Buffer
	if err := verify.Report(&buf, c.String("title"), docs); err != nil {
		return err
	}
	f, err := format.CreateOutput(c.Context, out, c.Args().Slice()...)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Abort()
		return interrupted(c, err)
	}
	return interrupted(c, f.Commit())
}
