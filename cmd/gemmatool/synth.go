package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
)

func init() {
	register(&cli.Command{
		Name:      "synth",
		Usage:     "write a random-weight Gemma 3 checkpoint in the Hugging Face layout of a released size",
		ArgsUsage: " ",
		Description: `Writes config.json (as Google's released files look), generation_config.json, the real
Gemma 3 tokenizer files (bundled in the binary), preprocessor_config.json for 4B and up, and
BF16 safetensors with weights drawn from N(0, 0.02), deterministic for a given --seed. Sizes
4b and up are sharded into 5 GB files with model.safetensors.index.json, as transformers
saves them (--shard-size changes that; 0 writes one file). It makes benchmarks and large-model
tests possible without downloads. The 1b checkpoint is 2 GB, the 27b one 55 GB.

Example:
   gemmatool synth --size 1b -o /tmp/s1b && gemmatool convert /tmp/s1b -o /tmp/s1b.gmt
   gemmatool synth --size 4b --layers 2 --shard-size 500MB -o /tmp/s4b`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "size", Usage: "released size: " + strings.Join(convert.ReleasedSizes(), ", ") + " (required)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `DIR` (required; created if needed)"},
			&cli.IntFlag{Name: "layers", Usage: "keep only `N` text (and vision) layers (0: all)"},
			&cli.IntFlag{Name: "vision-layers", Usage: "vision tower layers, independently of --layers (0: as --layers caps them)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed"},
			&cli.StringFlag{Name: "shard-size", Value: "auto", Usage: "max bytes per shard, e.g. 2GB or 500MB; 0 = one file; auto = 5GB for 4b and up"},
			&cli.BoolFlag{Name: "json", Usage: "print what was written as JSON"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: runSynth,
	})
}

func runSynth(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) != 0 {
		return usageError("synth: unexpected arguments %q (the output directory goes after -o)", args)
	}
	size, out := strings.ToLower(c.String("size")), c.String("output")
	if size == "" || out == "" {
		return usageError("synth: --size and -o DIR are required (see gemmatool synth --help)")
	}
	if _, err := convert.ReleasedConfig(size, 0); err != nil {
		return usageError("synth: --size %q, want one of %s", c.String("size"), strings.Join(convert.ReleasedSizes(), ", "))
	}
	if l := c.Int("vision-layers"); l < 0 || l > 1024 {
		return usageError("synth: --vision-layers %d, want 0..1024", l)
	}
	if l := c.Int("layers"); l < 0 || l > 1024 {
		return usageError("synth: --layers %d, want 0..1024", l)
	}
	shard := int64(0)
	switch s := strings.ToLower(c.String("shard-size")); s {
	case "auto":
		if size != "270m" && size != "1b" {
			shard = convert.DefaultShardBytes
		}
	default:
		var err error
		if shard, err = parseBytes(s); err != nil {
			return usageError("synth: --shard-size: %v", err)
		}
	}
	bar := newProgress(c.App.ErrWriter, "synth", 0, "B", c.Bool("quiet") || c.Bool("json"))
	if st, err := os.Stat(out); err == nil && !st.IsDir() {
		return fmt.Errorf("synth: output %s: not a directory (-o names the checkpoint directory to create or fill)", out)
	}
	noteStaleOutputs(c, out)
	res, err := convert.Synth(out, convert.SynthOptions{Size: size, Layers: c.Int("layers"), VisionLayers: c.Int("vision-layers"), Seed: c.Uint64("seed"), ShardBytes: shard, Context: c.Context},
		func(done, total int64) { bar.total = total; bar.Update(done) })
	bar.Done()
	if err != nil {
		if interrupted(c, err) == errNothingWritten {
			return fmt.Errorf("%w; the files completed so far are in %s", errInterrupted, out)
		}
		return fmt.Errorf("synth: %w", err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: Gemma 3 %s, %d text layers, %d tensors, %s params, %s of BF16 weights in %s\n",
		res.Dir, res.Size, res.Config.Text.NumLayers, res.Tensors, groupDigits(res.Params), humanBytes(res.Bytes), strings.Join(res.Files, ", "))
	return nil
}

// parseBytes reads a byte count such as 5000000, 500MB, 2GB, 1.5GiB.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("%q is not a byte size (e.g. 500MB, 2GB)", s)
	}
	return int64(f * float64(mult)), nil
}
