package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// bundledModels are the trained tiny checkpoints kept (zstd-compressed) in testdata/models.
var bundledModels = []string{"gemma3-brown-tiny", "gemma3-brown-tiny-qat-q4_0-unquantized", "gemma3-brown-tiny-outliers"}

func init() {
	register(&cli.Command{
		Name:      "unpack-model",
		Usage:     "write the bundled trained tiny checkpoints as Hugging Face checkpoint directories",
		ArgsUsage: "[NAME...]",
		Description: `Writes each named bundled checkpoint (default: all) under --output as a complete Hugging Face
directory: model.safetensors (BF16), config.json, generation_config.json and the Gemma 3
tokenizer (tokenizer.json, tokenizer_config.json). The weights are kept zstd-compressed in the
repository's testdata/models; run it from the repository root or point --testdata there.
Bundled: ` + strings.Join(bundledModels, ", ") + `.

Example:
   gemmatool unpack-model -o /tmp/models
   gemmatool unpack-model gemma3-brown-tiny-qat-q4_0-unquantized -o /tmp/models
   gemmatool quantize /tmp/models/gemma3-brown-tiny-qat-q4_0-unquantized -o qat.gmt --type auto`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "parent directory of the checkpoint directories (created if missing)"},
			&cli.StringFlag{Name: "testdata", Value: "testdata", Usage: "the repository's testdata directory"},
		},
		Action: unpackAction,
	})
}

func unpackAction(c *cli.Context) error {
	names := c.Args().Slice()
	if len(names) == 0 {
		names = bundledModels
	}
	for _, n := range names {
		if !slices.Contains(bundledModels, n) {
			return usageError("unknown bundled model %q (bundled: %s)%s", n, strings.Join(bundledModels, ", "), suggest(n, bundledModels, ""))
		}
	}
	td := c.String("testdata")
	if _, err := os.Stat(filepath.Join(td, "models", names[0], "model.safetensors.zst")); err != nil {
		return fmt.Errorf("the bundled models are not under %s (run from the repository root or set --testdata): %w", filepath.Join(td, "models"), err)
	}
	out := c.String("output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		dir, err := unpackBundled(td, n, out)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote %s\n", dir)
	}
	return nil
}
