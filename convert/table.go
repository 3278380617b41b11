package convert

import (
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// part is the component a tensor belongs to; each has its own name prefix in the checkpoint.
type part int

const (
	partText part = iota
	partVision
	partMM
)

// dim names a size derived from the configuration.
type dim string

const (
	dV  dim = "V" // text vocab_size (embedding rows)
	dD  dim = "d" // text hidden_size
	dI  dim = "I" // text intermediate_size
	dQ  dim = "H*hd"
	dKV dim = "K*hd"
	dHD dim = "hd" // head_dim
	dVH dim = "vh" // vision hidden_size
	dVI dim = "vi" // vision intermediate_size
	dC  dim = "C"  // vision num_channels
	dP  dim = "p"  // vision patch_size
	dNP dim = "np" // vision patches per image, (image_size/patch_size)²
)

func (d dim) value(m *format.ModelConfig) int64 {
	t := &m.Text
	switch d {
	case dV:
		return int64(t.VocabSize)
	case dD:
		return int64(t.HiddenSize)
	case dI:
		return int64(t.IntermediateSize)
	case dQ:
		return int64(t.NumHeads) * int64(t.HeadDim)
	case dKV:
		return int64(t.NumKVHeads) * int64(t.HeadDim)
	case dHD:
		return int64(t.HeadDim)
	}
	v := m.Vision
	if v == nil {
		return -1
	}
	switch d {
	case dVH:
		return int64(v.HiddenSize)
	case dVI:
		return int64(v.IntermediateSize)
	case dC:
		return int64(v.NumChannels)
	case dP:
		return int64(v.PatchSize)
	case dNP:
		s := int64(v.ImageSize / v.PatchSize)
		return s * s
	}
	panic("convert: unknown dim " + string(d))
}

// rule is one line of the tensor table: a source tensor (relative to its part's prefix; "{i}"
// stands for the layer number) and the canonical tensor it becomes.
type rule struct {
	part     part
	perLayer bool
	source   string
	name     string
	shape    []dim // canonical shape, from the config
	// transpose: the canonical tensor is the transpose of the 2-D source tensor (whose shape is
	// then shape reversed).
	transpose bool
	// keep: never narrow this tensor's type below the source's (norm weights and biases stay
	// F32 when the source is F32, whatever --dtype says).
	keep bool
}

// tensorTable is the one place where Hugging Face tensor names appear. Shapes are canonical
// ([out, in] for linear weights). Every source tensor is consumed by exactly one rule (or is
// the tied lm_head copy) and every rule's tensor is produced, or conversion fails.
var tensorTable = []rule{
	{part: partText, source: "embed_tokens.weight", name: "text.embed", shape: []dim{dV, dD}},
	{part: partText, perLayer: true, source: "layers.{i}.input_layernorm.weight", name: "text.blk.{i}.attn_norm", shape: []dim{dD}, keep: true},
	{part: partText, perLayer: true, source: "layers.{i}.self_attn.q_proj.weight", name: "text.blk.{i}.attn_q", shape: []dim{dQ, dD}},
	{part: partText, perLayer: true, source: "layers.{i}.self_attn.k_proj.weight", name: "text.blk.{i}.attn_k", shape: []dim{dKV, dD}},
	{part: partText, perLayer: true, source: "layers.{i}.self_attn.v_proj.weight", name: "text.blk.{i}.attn_v", shape: []dim{dKV, dD}},
	{part: partText, perLayer: true, source: "layers.{i}.self_attn.o_proj.weight", name: "text.blk.{i}.attn_o", shape: []dim{dD, dQ}},
	{part: partText, perLayer: true, source: "layers.{i}.self_attn.q_norm.weight", name: "text.blk.{i}.attn_q_norm", shape: []dim{dHD}, keep: true},
	{part: partText, perLayer: true, source: "layers.{i}.self_attn.k_norm.weight", name: "text.blk.{i}.attn_k_norm", shape: []dim{dHD}, keep: true},
	{part: partText, perLayer: true, source: "layers.{i}.post_attention_layernorm.weight", name: "text.blk.{i}.post_attn_norm", shape: []dim{dD}, keep: true},
	{part: partText, perLayer: true, source: "layers.{i}.pre_feedforward_layernorm.weight", name: "text.blk.{i}.ffn_norm", shape: []dim{dD}, keep: true},
	{part: partText, perLayer: true, source: "layers.{i}.mlp.gate_proj.weight", name: "text.blk.{i}.ffn_gate", shape: []dim{dI, dD}},
	{part: partText, perLayer: true, source: "layers.{i}.mlp.up_proj.weight", name: "text.blk.{i}.ffn_up", shape: []dim{dI, dD}},
	{part: partText, perLayer: true, source: "layers.{i}.mlp.down_proj.weight", name: "text.blk.{i}.ffn_down", shape: []dim{dD, dI}},
	{part: partText, perLayer: true, source: "layers.{i}.post_feedforward_layernorm.weight", name: "text.blk.{i}.post_ffn_norm", shape: []dim{dD}, keep: true},
	{part: partText, source: "norm.weight", name: "text.output_norm", shape: []dim{dD}, keep: true},

	{part: partVision, source: "embeddings.patch_embedding.weight", name: "vision.patch_embd", shape: []dim{dVH, dC, dP, dP}},
	{part: partVision, source: "embeddings.patch_embedding.bias", name: "vision.patch_embd.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, source: "embeddings.position_embedding.weight", name: "vision.pos_embd", shape: []dim{dNP, dVH}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.layer_norm1.weight", name: "vision.blk.{i}.ln1", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.layer_norm1.bias", name: "vision.blk.{i}.ln1.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.q_proj.weight", name: "vision.blk.{i}.attn_q", shape: []dim{dVH, dVH}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.q_proj.bias", name: "vision.blk.{i}.attn_q.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.k_proj.weight", name: "vision.blk.{i}.attn_k", shape: []dim{dVH, dVH}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.k_proj.bias", name: "vision.blk.{i}.attn_k.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.v_proj.weight", name: "vision.blk.{i}.attn_v", shape: []dim{dVH, dVH}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.v_proj.bias", name: "vision.blk.{i}.attn_v.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.out_proj.weight", name: "vision.blk.{i}.attn_o", shape: []dim{dVH, dVH}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.self_attn.out_proj.bias", name: "vision.blk.{i}.attn_o.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.layer_norm2.weight", name: "vision.blk.{i}.ln2", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.layer_norm2.bias", name: "vision.blk.{i}.ln2.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.mlp.fc1.weight", name: "vision.blk.{i}.ffn_up", shape: []dim{dVI, dVH}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.mlp.fc1.bias", name: "vision.blk.{i}.ffn_up.bias", shape: []dim{dVI}, keep: true},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.mlp.fc2.weight", name: "vision.blk.{i}.ffn_down", shape: []dim{dVH, dVI}},
	{part: partVision, perLayer: true, source: "encoder.layers.{i}.mlp.fc2.bias", name: "vision.blk.{i}.ffn_down.bias", shape: []dim{dVH}, keep: true},
	{part: partVision, source: "post_layernorm.weight", name: "vision.post_ln", shape: []dim{dVH}, keep: true},
	{part: partVision, source: "post_layernorm.bias", name: "vision.post_ln.bias", shape: []dim{dVH}, keep: true},

	// The projector is a plain [vh, d] matrix used as x @ W; stored transposed as [d, vh] so
	// that every matrix in the file is [out, in].
	{part: partMM, source: "mm_input_projection_weight", name: "mm.input_proj", shape: []dim{dD, dVH}, transpose: true},
	{part: partMM, source: "mm_soft_emb_norm.weight", name: "mm.soft_emb_norm", shape: []dim{dVH}, keep: true},
}

// namingScheme is one set of name prefixes a checkpoint may use.
type namingScheme struct {
	name             string
	text, vision, mm string
	lmHead           string // the (tied) output head some re-saves include
	multimodal       bool
}

// schemes lists, per config schema, the prefixes in use: the released files' first, then
// transformers v5's save format.
var schemes = []namingScheme{
	{name: "text-only", text: "model.", lmHead: "lm_head.weight"},
	{name: "multimodal", text: "language_model.model.", vision: "vision_tower.vision_model.", mm: "multi_modal_projector.",
		lmHead: "language_model.lm_head.weight", multimodal: true},
	{name: "multimodal (transformers v5)", text: "model.language_model.", vision: "model.vision_tower.vision_model.",
		mm: "model.multi_modal_projector.", lmHead: "lm_head.weight", multimodal: true},
}

func (s namingScheme) prefix(p part) string {
	switch p {
	case partVision:
		return s.vision
	case partMM:
		return s.mm
	}
	return s.text
}

// Expected is one tensor a checkpoint of a given configuration must hold.
type Expected struct {
	Source    string  // Hugging Face name (released layout)
	Name      string  // canonical name
	Shape     []int64 // canonical shape
	SrcShape  []int64 // shape in the checkpoint (differs when Transpose)
	Transpose bool
	Keep      bool  // never narrowed below the source type
	dims      []dim // symbolic SrcShape
}

// expectedFor expands the table for one configuration and naming scheme, layer by layer:
// the tensors of layer 0, then of layer 1, and so on (runs of per-layer rules are expanded
// with the layer loop outside).
func expectedFor(m *format.ModelConfig, s namingScheme) []Expected {
	var out []Expected
	emit := func(r rule, layer int) {
		shape := make([]int64, len(r.shape))
		for k, d := range r.shape {
			shape[k] = d.value(m)
		}
		src, sdims := shape, r.shape
		if r.transpose {
			src, sdims = []int64{shape[1], shape[0]}, []dim{r.shape[1], r.shape[0]}
		}
		li := strconv.Itoa(layer)
		out = append(out, Expected{
			Source:    s.prefix(r.part) + strings.ReplaceAll(r.source, "{i}", li),
			Name:      strings.ReplaceAll(r.name, "{i}", li),
			Shape:     shape,
			SrcShape:  src,
			Transpose: r.transpose,
			Keep:      r.keep,
			dims:      sdims,
		})
	}
	for i := 0; i < len(tensorTable); i++ {
		r := tensorTable[i]
		if r.part != partText && m.Vision == nil {
			continue
		}
		if !r.perLayer {
			emit(r, 0)
			continue
		}
		j := i
		for j < len(tensorTable) && tensorTable[j].perLayer && tensorTable[j].part == r.part {
			j++
		}
		layers := m.Text.NumLayers
		if r.part == partVision {
			layers = m.Vision.NumLayers
		}
		for l := 0; l < layers; l++ {
			for _, rr := range tensorTable[i:j] {
				emit(rr, l)
			}
		}
		i = j - 1
	}
	return out
}

// ExpectedTensors lists, in canonical order, every tensor a checkpoint with configuration m
// holds in the released Hugging Face layout (text-only: `model.*`; multimodal:
// `language_model.model.*`, `vision_tower.vision_model.*`, `multi_modal_projector.*`).
func ExpectedTensors(m *format.ModelConfig) []Expected {
	if m.Vision != nil {
		return expectedFor(m, schemes[1])
	}
	return expectedFor(m, schemes[0])
}

// Component classifies a canonical tensor name for size reports: "text embedding",
// "text decoder" (layers and the final norm), "vision" (the SigLIP tower), "projector"
// (mm.*), or "other".
func Component(name string) string {
	switch {
	case name == "text.embed":
		return "text embedding"
	case strings.HasPrefix(name, "text."):
		return "text decoder"
	case strings.HasPrefix(name, "vision."):
		return "vision"
	case strings.HasPrefix(name, "mm."):
		return "projector"
	}
	return "other"
}

// Components lists the values [Component] returns, in report order.
var Components = []string{"text embedding", "text decoder", "vision", "projector", "other"}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
