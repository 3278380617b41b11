package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
)

// policyFlags are the quantization policy flags shared by quantize and estimate.
func policyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "auto", Usage: "decoder linear weights: q4_0, q8_0, i4, fp8, sfp8, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, bf16, f16, f32, keep, auto (the QAT target, else q8_0), or llama.cpp's mixes q4_k_m, q4_k_s, q5_k_m"},
		&cli.StringFlag{Name: "embed", Usage: "embedding type (default: q8_0 for q4_0/i4, else the --type)"},
		&cli.StringFlag{Name: "vision", Usage: "vision tower linear weights' type (default: keep the source precision)"},
		&cli.StringSliceFlag{Name: "override", Usage: "GLOB=TYPE over canonical tensor names, first match wins (repeatable), e.g. 'text.blk.0.*=q8_0'"},
	}
}

// presetFromFlags resolves --type (auto uses the detected QAT target).
func presetFromFlags(c *cli.Context, qat quantize.QAT) (format.DType, error) {
	s := strings.ToLower(c.String("type"))
	switch s {
	case "auto":
		return qat.AutoType(), nil
	case "keep":
		return 0, nil
	}
	if t, ok := quantize.MixPreset(s); ok {
		return t, nil
	}
	t, err := format.ParseDType(s)
	if err != nil {
		return 0, usageError("--type %q: want q4_0, q8_0, i4, fp8, sfp8, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, bf16, f16, f32, keep, auto, q4_k_m, q4_k_s or q5_k_m", s)
	}
	return t, nil
}

func policyFromFlags(c *cli.Context, preset format.DType) (quantize.Policy, error) {
	p := quantize.Policy{Preset: preset}
	if _, ok := quantize.MixPreset(c.String("type")); ok {
		p.Mix = strings.ToLower(c.String("type"))
	}
	parse := func(flag string) (format.DType, error) {
		v := strings.ToLower(c.String(flag))
		if v == "" {
			return 0, nil
		}
		if v == "keep" {
			return 0, nil
		}
		t, err := format.ParseDType(v)
		if err != nil {
			return 0, usageError("--%s %q: %v", flag, v, err)
		}
		return t, nil
	}
	var err error
	if p.Embed, err = parse("embed"); err != nil {
		return p, err
	}
	if strings.EqualFold(c.String("embed"), "keep") {
		p.Overrides = append(p.Overrides, quantize.Override{Glob: "text.embed"})
	}
	if p.Vision, err = parse("vision"); err != nil {
		return p, err
	}
	for _, o := range c.StringSlice("override") {
		if g, t, ok := strings.Cut(o, "="); ok {
			o = g + "=" + strings.ToLower(t)
		}
		ov, err := quantize.ParseOverride(o)
		if err != nil {
			return p, usageError("%v", err)
		}
		p.Overrides = append(p.Overrides, ov)
	}
	return p, nil
}

// checkPolicyFlags validates --type, --embed, --vision and --override before any file is opened
// (the QAT detection that "auto" needs comes later).
func checkPolicyFlags(c *cli.Context) error {
	if _, err := presetFromFlags(c, quantize.QAT{}); err != nil {
		return err
	}
	_, err := policyFromFlags(c, 0)
	return err
}
