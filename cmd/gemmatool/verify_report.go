package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

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
	var docs []*verify.Doc
	for _, p := range c.Args().Slice() {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Size() > maxDocBytes {
			return fmt.Errorf("verify report: %s: %d bytes, more than %d", p, st.Size(), maxDocBytes)
		}
		b, err := os.ReadFile(p)
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
	out := c.String("output")
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	os.Chmod(tmp.Name(), 0o644)
	return os.Rename(tmp.Name(), out)
}
