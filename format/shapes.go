package format

import (
	"strconv"
	"strings"
)

// ExpectedShape returns the shape the configuration implies for a canonical tensor name
// (see doc.go, "Tensor names"), and false for a name it does not describe. A per-layer name
// whose layer index is not below the layer count returns a nil shape and true.
func (c *ModelConfig) ExpectedShape(name string) ([]int64, bool) {
	t := &c.Text
	D, V, I := int64(t.HiddenSize), int64(t.VocabSize), int64(t.IntermediateSize)
	Q, KV, HD := int64(t.NumHeads*t.HeadDim), int64(t.NumKVHeads*t.HeadDim), int64(t.HeadDim)
	switch name {
	case "text.embed":
		return []int64{V, D}, true
	case "text.output_norm":
		return []int64{D}, true
	}
	if i, rest, ok := layer(name, "text.blk."); ok {
		if i >= t.NumLayers {
			return nil, true
		}
		switch rest {
		case "attn_norm", "post_attn_norm", "ffn_norm", "post_ffn_norm":
			return []int64{D}, true
		case "attn_q":
			return []int64{Q, D}, true
		case "attn_k", "attn_v":
			return []int64{KV, D}, true
		case "attn_o":
			return []int64{D, Q}, true
		case "attn_q_norm", "attn_k_norm":
			return []int64{HD}, true
		case "ffn_gate", "ffn_up":
			return []int64{I, D}, true
		case "ffn_down":
			return []int64{D, I}, true
		}
		return nil, false
	}
	v := c.Vision
	if v == nil {
		return nil, false
	}
	VH, VI := int64(v.HiddenSize), int64(v.IntermediateSize)
	side := int64(v.ImageSize / max(v.PatchSize, 1))
	switch name {
	case "vision.patch_embd":
		return []int64{VH, int64(v.NumChannels), int64(v.PatchSize), int64(v.PatchSize)}, true
	case "vision.patch_embd.bias", "vision.post_ln", "vision.post_ln.bias", "mm.soft_emb_norm":
		return []int64{VH}, true
	case "vision.pos_embd":
		return []int64{side * side, VH}, true
	case "mm.input_proj":
		return []int64{D, VH}, true
	}
	if i, rest, ok := layer(name, "vision.blk."); ok {
		if i >= v.NumLayers {
			return nil, true
		}
		switch rest {
		case "ln1", "ln1.bias", "ln2", "ln2.bias", "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_o.bias", "ffn_down.bias":
			return []int64{VH}, true
		case "attn_q", "attn_k", "attn_v", "attn_o":
			return []int64{VH, VH}, true
		case "ffn_up":
			return []int64{VI, VH}, true
		case "ffn_up.bias":
			return []int64{VI}, true
		case "ffn_down":
			return []int64{VH, VI}, true
		}
	}
	return nil, false
}

// layer splits "<prefix><i>.<rest>" into i and rest.
func layer(name, prefix string) (int, string, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(s, ".")
	if !ok || num == "" || len(num) > 1 && num[0] == '0' {
		return 0, "", false
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 {
		return 0, "", false
	}
	return i, rest, true
}
