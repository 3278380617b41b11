package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
)

func init() {
	register(&cli.Command{
		Name:      "estimate",
		Usage:     "size a model from its configuration alone: weights per component under a policy, KV cache at a context",
		ArgsUsage: "(DIR | CONFIG.json | --size 270m|1b|4b|12b|27b)",
		Description: `Applies the quantization policy of 'gemmatool quantize' to every tensor the configuration
implies and reports payload bytes per component (embedding, text decoder, vision tower +
projector), and the KV cache at --ctx tokens twice: with every layer keeping every position,
and with sliding-window layers keeping only their window (what the gemmatool runtime does).
GB are 1e9 bytes.

Example:
   gemmatool estimate --size 27b --type q4_0 --ctx 32768
   gemmatool estimate ./gemma-3-4b-it --type sfp8 --json`,
		Flags: append(policyFlags(),
			&cli.StringFlag{Name: "size", Usage: "a released size instead of a config: 270m, 1b, 4b, 12b, 27b"},
			&cli.IntFlag{Name: "ctx", Value: 32768, Usage: "context length for the KV cache"},
			&cli.StringFlag{Name: "kv-type", Value: "f32", Usage: "KV cache element type: f32 (the runtime's), bf16 or f16"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		),
		Action: estimateAction,
	})
}

func estimateAction(c *cli.Context) error {
	if n := c.Int("ctx"); n < 1 || n > maxCtx {
		return usageError("estimate: --ctx %d: want 1 … %d", n, maxCtx)
	}
	if err := checkPolicyFlags(c); err != nil {
		return err
	}
	var cfg format.ModelConfig
	var what string
	switch {
	case c.String("size") != "" && c.NArg() == 0:
		var err error
		if cfg, err = convert.ReleasedConfig(strings.ToLower(c.String("size")), 0); err != nil {
			return usageError("estimate: --size %q: want one of 270m, 1b, 4b, 12b, 27b", c.String("size"))
		}
		what = "Gemma 3 " + c.String("size")
	case c.NArg() == 1 && c.String("size") == "":
		p := c.Args().First()
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, "config.json")
		}
		b, err := readInput(p, c.App.Reader, maxConfigInput, "config")
		if err != nil {
			return err
		}
		pc, err := convert.ParseConfig(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		cfg, what = pc.Model, p
	default:
		return usageError("estimate: give a checkpoint directory, a config.json, or --size")
	}
	preset, err := presetFromFlags(c, quantize.QAT{})
	if err != nil {
		return err
	}
	pol, err := policyFromFlags(c, preset)
	if err != nil {
		return err
	}
	var specs []quantize.TensorSpec
	for _, e := range convert.ExpectedTensors(&cfg) {
		specs = append(specs, quantize.TensorSpec{Name: e.Name, DType: format.BF16, Shape: e.Shape})
	}
	kvBytes := map[string]int{"f32": 4, "bf16": 2, "f16": 2}[c.String("kv-type")]
	if kvBytes == 0 {
		return usageError("estimate: --kv-type %q, want f32, bf16 or f16", c.String("kv-type"))
	}
	e, err := quantize.EstimateSize(&cfg, specs, pol, c.Int("ctx"), kvBytes)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("json") {
		out := struct {
			Model  string `json:"model"`
			Preset string `json:"type"`
			*quantize.Estimate
			KVType string `json:"kv_type"`
		}{what, presetLabel(preset), e, c.String("kv-type")}
		return json.NewEncoder(w).Encode(out)
	}
	gb := func(b int64) string { return fmt.Sprintf("%8.3f GB", float64(b)/1e9) }
	fmt.Fprintf(w, "%s, type %s (embedding %s), %d layers (%d global, %d sliding, window %d)\n", what, presetLabel(preset),
		embedLabel(pol), cfg.Text.NumLayers, e.GlobalLayers, e.LocalLayers, cfg.Text.SlidingWindow)
	fmt.Fprintf(w, "  embedding      %s  (%d params)\n", gb(e.EmbeddingBytes), e.EmbeddingParams)
	fmt.Fprintf(w, "  text decoder   %s  (%d params)\n", gb(e.DecoderBytes), e.DecoderParams)
	if cfg.Vision != nil {
		fmt.Fprintf(w, "  vision+proj    %s  (%d params)\n", gb(e.VisionBytes), e.VisionParams)
	}
	fmt.Fprintf(w, "  weights total  %s\n", gb(e.WeightBytes))
	fmt.Fprintf(w, "  KV cache at %d tokens (%s): %s every layer full, %s with windowed sliding layers\n",
		e.Ctx, c.String("kv-type"), gb(e.KVFullBytes), gb(e.KVWindowBytes))
	if kvBytes != 4 {
		f32 := e.KVWindowBytes / int64(kvBytes) * 4
		fmt.Fprintf(w, "  KV cache saved %s against f32's %s (windowed)\n", gb(f32-e.KVWindowBytes), gb(f32))
	}
	fmt.Fprintf(w, "  total          %s (windowed KV)\n", gb(e.WeightBytes+e.KVWindowBytes))
	return nil
}

func presetLabel(t format.DType) string {
	if t == 0 {
		return "keep"
	}
	return t.String()
}

func embedLabel(p quantize.Policy) string {
	if p.Embed != 0 {
		return p.Embed.String()
	}
	if d := quantize.DefaultEmbed(p.Preset); d != 0 {
		return d.String()
	}
	return "keep"
}
