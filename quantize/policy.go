package quantize

import (
	"fmt"
	"path"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// Policy decides the stored type of every tensor. It is a plain value: build one with
// [NewPolicy], inspect its [Policy.Rules], and ask [Policy.Decide] per tensor.
//
// The defaults follow what the Gemma 3 QAT releases and llama.cpp do:
//   - every text-decoder linear weight (q, k, v, o, gate, up, down) gets the preset type;
//   - the tied embedding (which is also the LM head) gets q8_0 under the int4 presets
//     (q4_0, i4) and the preset type otherwise; Embed changes it;
//   - the vision tower's linear weights keep their source precision unless Vision is set;
//     a block type (q4_0, q8_0) on a vision matrix whose input width is not a multiple of 32
//     (fc2: 4304, patch embedding: 588) falls back to the per-row type of the same width
//     (i4 for q4_0, fp8 for q8_0);
//   - norms, biases, the position and patch embeddings and the projector keep their source
//     precision;
//   - Overrides ("GLOB=TYPE", first match wins, before every default) can set any tensor.
type Policy struct {
	// Preset is the type of the text-decoder linear weights ("keep" is the zero DType).
	Preset format.DType
	// Embed is the embedding's type; zero means the default for the preset.
	Embed format.DType
	// Vision is the vision linear weights' type; zero keeps the source type.
	Vision format.DType
	// Overrides are applied first, in order.
	Overrides []Override
	// Mix names a mixed k-quant preset ("q4_k_m", "q4_k_s", "q5_k_m"; see mix.go) whose
	// per-layer rules refine Preset (its base type); Layers is the number of decoder layers
	// they need (set by [Run] from the tensors when zero).
	Mix    string
	Layers int
}

// Override maps a glob over canonical tensor names (path.Match syntax, where * also matches
// dots) to a type. A zero DType means "keep the source type".
type Override struct {
	Glob  string
	DType format.DType
}

// ParseOverride parses "GLOB=TYPE" (TYPE one of the dtype names or "keep").
func ParseOverride(s string) (Override, error) {
	glob, typ, ok := strings.Cut(s, "=")
	if !ok || glob == "" || typ == "" {
		return Override{}, fmt.Errorf("quantize: override %q: want GLOB=TYPE", s)
	}
	if _, err := path.Match(glob, "x"); err != nil {
		return Override{}, fmt.Errorf("quantize: override %q: bad glob: %v", s, err)
	}
	if typ == "keep" {
		return Override{Glob: glob}, nil
	}
	t, err := format.ParseDType(typ)
	if err != nil {
		return Override{}, fmt.Errorf("quantize: override %q: %w", s, err)
	}
	return Override{Glob: glob, DType: t}, nil
}

// DefaultEmbed returns the embedding type the preset implies.
func DefaultEmbed(preset format.DType) format.DType {
	switch preset {
	case format.Q4_0, format.I4:
		return format.Q8_0
	case format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_NL:
		return format.Q6_K // llama.cpp's type for a tied output matrix
	}
	return preset
}

func isLinear(name, prefix string, suffixes []string) bool {
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return false
	}
	for _, s := range suffixes {
		if name[i+1:] == s {
			return true
		}
	}
	return false
}

// Rules returns the policy as ordered glob rules, as recorded in a file's metadata.
func (p Policy) Rules() []format.PolicyRule {
	name := func(t format.DType) string {
		if t == 0 {
			return "keep"
		}
		return t.String()
	}
	var r []format.PolicyRule
	for _, o := range p.Overrides {
		r = append(r, format.PolicyRule{Pattern: o.Glob, DType: name(o.DType), Why: "--override"})
	}
	emb := p.Embed
	why := "--embed"
	if emb == 0 {
		emb, why = DefaultEmbed(p.Preset), "default for the preset"
	}
	r = append(r, format.PolicyRule{Pattern: "text.embed", DType: name(emb), Why: why})
	r = append(r, p.mixRules()...)
	for _, s := range format.TextLinear {
		r = append(r, format.PolicyRule{Pattern: "text.blk.*." + s, DType: name(p.Preset), Why: "preset"})
	}
	if p.Vision != 0 {
		for _, s := range format.VisionLinear {
			r = append(r, format.PolicyRule{Pattern: "vision.blk.*." + s, DType: name(p.Vision), Why: "--vision"})
		}
	}
	r = append(r, format.PolicyRule{Pattern: "*", DType: "keep", Why: "norms, biases, position/patch embeddings, projector and unlisted tensors keep their source precision"})
	return r
}

// Decide returns the stored type of tensor name with source type src and shape, and the
// reason. It fails when a rule asks for a packed type the tensor cannot take (rank < 2).
func (p Policy) Decide(name string, src format.DType, shape []int64) (format.DType, string, error) {
	t, why := p.decide(name, src)
	if t == 0 {
		t = src
	}
	if t.Quantized() {
		if len(shape) < 2 {
			return 0, "", fmt.Errorf("quantize: tensor %q (shape %v) cannot be stored as %v (%s): packed types need a matrix", name, shape, t, why)
		}
		if _, err := format.LayoutOf(t, shape); err != nil {
			if n, _, _, ok := format.SuperBlock(t); ok && n > format.BlockSize {
				// A k-quant on rows that are not a multiple of 256: a 32-block type of at
				// least the same bits (llama.cpp picks Q5_0/Q5_1, which gemmatool lacks).
				fb := format.Q8_0
				if t == format.Q2_K || t == format.Q3_K || t == format.Q4_K {
					fb = format.IQ4_NL
				}
				if _, err := format.LayoutOf(fb, shape); err == nil {
					return fb, fmt.Sprintf("%s; row length %d is not a multiple of %d, so %v instead of %v", why, shape[len(shape)-1], n, fb, t), nil
				}
			}
			// A block type on a row length that is not a multiple of 32: fall back to the
			// per-row type of the same bit width.
			fb := format.FP8
			if t == format.Q4_0 || t == format.IQ4_NL || t == format.Q4_K || t == format.Q3_K || t == format.Q2_K {
				fb = format.I4
			}
			return fb, fmt.Sprintf("%s; row length %d is not a multiple of %d, so %v instead of %v", why, shape[len(shape)-1], format.BlockSize, fb, t), nil
		}
	}
	return t, why, nil
}

func (p Policy) decide(name string, src format.DType) (format.DType, string) {
	for _, o := range p.Overrides {
		if ok, _ := path.Match(o.Glob, name); ok {
			return o.DType, "--override " + o.Glob
		}
	}
	switch {
	case name == "text.embed":
		if p.Embed != 0 {
			return p.Embed, "--embed"
		}
		return DefaultEmbed(p.Preset), "embedding default for the preset"
	case isLinear(name, "text.blk.", format.TextLinear):
		if p.Mix != "" {
			if t, why := p.mixType(name); t != 0 {
				return t, why
			}
			return p.Preset, p.Mix + " base type"
		}
		return p.Preset, "text linear weight"
	case p.Vision != 0 && isLinear(name, "vision.blk.", format.VisionLinear):
		return p.Vision, "--vision"
	}
	return src, "kept in source precision"
}
