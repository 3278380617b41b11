package quantize

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// llama.cpp's mixed k-quant presets (llama-quant.cpp, llama_tensor_get_type, for a model
// without experts such as Gemma 3), under the same names:
//
//	q4_k_m  Q4_K; attn_v and ffn_down Q6_K in the layers where use_more_bits(i, n)
//	q4_k_s  Q4_K; attn_v Q5_K in layers 0–3, ffn_down Q5_K in layers i < n/8
//	q5_k_m  Q5_K; attn_v and ffn_down Q6_K where use_more_bits(i, n)
//
// use_more_bits(i, n) = i < n/8 || i ≥ 7n/8 || (i − n/8) mod 3 == 2 (integer division), n the
// number of decoder layers. The tied embedding gets Q6_K (Q8_0 when its rows are not a multiple
// of 256), as llama.cpp quantizes a tied output matrix. A tensor whose row length is not a
// multiple of 256 falls back as [Policy.Decide] says.
var mixBase = map[string]format.DType{"q4_k_m": format.Q4_K, "q4_k_s": format.Q4_K, "q5_k_m": format.Q5_K}

// MixPreset returns the base type of a mixed k-quant preset name ("q4_k_m", "q4_k_s",
// "q5_k_m"), ok false for other names.
func MixPreset(name string) (format.DType, bool) {
	t, ok := mixBase[strings.ToLower(name)]
	return t, ok
}

func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// layerOf returns the layer index and short name of "text.blk.N.short".
func layerOf(name string) (int, string, bool) {
	rest, ok := strings.CutPrefix(name, "text.blk.")
	if !ok {
		return 0, "", false
	}
	n, short, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", false
	}
	i, err := strconv.Atoi(n)
	return i, short, err == nil
}

// mixType returns the type of text linear weight name under mix (and the reason), or 0 to use
// the preset's base type.
func (p Policy) mixType(name string) (format.DType, string) {
	i, short, ok := layerOf(name)
	if !ok || p.Layers <= 0 {
		return 0, ""
	}
	n := p.Layers
	switch p.Mix {
	case "q4_k_m", "q5_k_m":
		if (short == "attn_v" || short == "ffn_down") && useMoreBits(i, n) {
			return format.Q6_K, fmt.Sprintf("%s: %s of layer %d of %d gets more bits", p.Mix, short, i, n)
		}
	case "q4_k_s":
		if short == "attn_v" && i < 4 {
			return format.Q5_K, fmt.Sprintf("q4_k_s: attn_v of layer %d < 4", i)
		}
		if short == "ffn_down" && i < n/8 {
			return format.Q5_K, fmt.Sprintf("q4_k_s: ffn_down of layer %d < %d/8", i, n)
		}
	}
	return 0, ""
}

// mixRules lists the per-layer exceptions of the mix as rules.
func (p Policy) mixRules() []format.PolicyRule {
	var r []format.PolicyRule
	for i := range p.Layers {
		for _, s := range []string{"attn_v", "ffn_down"} {
			name := fmt.Sprintf("text.blk.%d.%s", i, s)
			if t, why := p.mixType(name); t != 0 {
				r = append(r, format.PolicyRule{Pattern: name, DType: t.String(), Why: why})
			}
		}
	}
	return r
}

// CountLayers returns 1 + the largest N of the "text.blk.N." tensors in specs.
func CountLayers(specs []TensorSpec) int {
	n := 0
	for _, s := range specs {
		if i, _, ok := layerOf(s.Name); ok {
			n = max(n, i+1)
		}
	}
	return n
}
