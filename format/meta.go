package format

import (
	"encoding/json"
	"fmt"
	"math"
)

// Metadata is the content of the "meta" section: a JSON object (zstd-compressed in the file).
// Readers ignore members they do not know; writers never remove members a version defined.
type Metadata struct {
	// Format is always "gemmatool".
	Format string `json:"format"`
	// Model is the canonical model configuration, resolved from the source config with every
	// Hugging Face default applied (so a reader never needs the HF defaults).
	Model ModelConfig `json:"model"`
	// Source describes the checkpoint the file was made from.
	Source Source `json:"source"`
	// Tool names the program and version that wrote the file.
	Tool Tool `json:"tool"`
	// Transforms lists how stored tensors differ from the source tensors.
	Transforms Transforms `json:"transforms"`
	// Quantization is the recipe and per-tensor error report, when any tensor was quantized.
	Quantization *Quantization `json:"quantization,omitempty"`
}

// Tool identifies the writer.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Source describes the input checkpoint.
type Source struct {
	// Name is the checkpoint's name: `_name_or_path` of its config when set, else the
	// directory's base name.
	Name string `json:"name"`
	// Files lists every source file read, with its size and SHA-256.
	Files []SourceFile `json:"files"`
	// Dir is the absolute path of the checkpoint directory when the file was written (empty
	// when unknown). It is a hint for finding the source again (`gemmatool verify kld` uses it
	// as the default reference); the files there are recognised by their SHA-256 in Files.
	Dir string `json:"dir,omitempty"`
	// From is the path of a gemmatool file when the file was re-packed from one (quantize of
	// a converted file); empty otherwise.
	From string `json:"from,omitempty"`
}

// SourceFile is one input file.
type SourceFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Transforms records every way a stored tensor differs from its source tensor apart from
// its type.
type Transforms struct {
	// NormPlusOneFolded is true when RMSNorm weights were stored as 1+w. gemmatool stores
	// them as in the checkpoint (false) and applies (1+w) at run time.
	NormPlusOneFolded bool `json:"norm_plus_one_folded"`
	// Transposed names tensors stored transposed to the [out, in] convention; for them the
	// source tensor is the transpose of the stored one.
	Transposed []string `json:"transposed,omitempty"`
	// Renamed is true when tensors carry canonical names (always, for convert); the
	// canonical-to-source map is in TensorSources.
	TensorSources map[string]string `json:"tensor_sources,omitempty"`
}

// Quantization is the quantization recipe actually applied and its measured error.
type Quantization struct {
	// Preset is the requested type (for example "q4_0") or "auto".
	Preset string `json:"preset"`
	// QAT is the quantization-aware-training target detected for the source ("q4_0", "i4",
	// or "" when none was detected) and Evidence says why.
	QAT         string `json:"qat,omitempty"`
	QATEvidence string `json:"qat_evidence,omitempty"`
	// Rules are the policy rules in the order they were applied (first match wins).
	Rules []PolicyRule `json:"rules"`
	// I4Scale is the per-channel int4 scale rule ("search" or "absmax") when I4 is used.
	I4Scale string `json:"i4_scale,omitempty"`
	// Budget is the per-tensor type choice of quantize --target-bpw (nil: none).
	Budget *BudgetInfo `json:"budget,omitempty"`
	// Smooth describes the equivalent transforms folded into the weights (nil: none).
	Smooth *SmoothInfo `json:"smooth,omitempty"`
	// Imatrix describes the importance matrix the encoders were weighted with (nil: none).
	Imatrix *ImatrixInfo `json:"imatrix,omitempty"`
	// Tensors has one entry per tensor whose type changed.
	Tensors []TensorError `json:"tensors"`
}

// BudgetInfo records a size-budget recipe: the target and achieved bits per weight of the
// decoder's linear weights, how the tensors' gains were obtained, and each tensor's type.
type BudgetInfo struct {
	TargetBPW float64        `json:"target_bpw"`
	BPW       float64        `json:"bpw"`
	GainFrom  string         `json:"gain_from"`
	Tensors   []BudgetChoice `json:"tensors"`
}

// BudgetChoice is one tensor of a [BudgetInfo]: its type, bits per weight and measured gain.
type BudgetChoice struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	BPW   float64 `json:"bpw"`
	Gain  float64 `json:"gain"`
}

// SmoothInfo records the equivalent transforms (quantize --smooth): per layer and place
// ("attn": input_layernorm → q/k/v, "ffn": pre_feedforward_layernorm → gate/up, "down": up rows
// ↔ down columns, "v": v rows ↔ o columns) the chosen α, how many channels were scaled, the
// largest |exponent| and the exponents k_c themselves (scale 2^k_c; empty when none), and the
// proxy error ratio the search measured.
type SmoothInfo struct {
	Method string        `json:"method"`
	Note   string        `json:"note,omitempty"`
	Groups []SmoothGroup `json:"groups"`
}

// SmoothGroup is one layer and place of a [SmoothInfo].
type SmoothGroup struct {
	Layer      int     `json:"layer"`
	Place      string  `json:"place"`
	Alpha      float64 `json:"alpha"`
	Scaled     int     `json:"scaled"`
	MaxExp     int     `json:"max_exp"`
	ErrorRatio float64 `json:"error_ratio"`
	Exponents  []int8  `json:"exponents,omitempty"`
}

// ImatrixInfo records the calibration behind importance-weighted encoding: the file, the
// texts it was measured on, the windows and their length, and how many weights it covered.
// With it, Q4_0 holds llama.cpp's weighted Q4_0 choice of scales (same bytes layout) and I4 the
// weighted clipping search.
type ImatrixInfo struct {
	File      string   `json:"file"`
	Datasets  []string `json:"datasets,omitempty"`
	Chunks    int      `json:"chunks"`
	ChunkSize int      `json:"chunk_size"`
	Weighted  int      `json:"weighted_tensors"`
	// GPTQ counts the Q4_0 and I4 weights encoded with GPTQ error feedback from the imatrix's full
	// second moments (still plain Q4_0 / I4 bytes).
	GPTQ int `json:"gptq_tensors,omitempty"`
}

// PolicyRule maps a glob over canonical tensor names to a type.
type PolicyRule struct {
	Pattern string `json:"pattern"`
	DType   string `json:"dtype"`
	Why     string `json:"why,omitempty"`
}

// TensorError is the measured error of one quantized tensor: RelL2 = ‖W−Ŵ‖₂/‖W‖₂,
// SNRdB = 10·log10(Σw²/Σ(w−ŵ)²), MaxAbs = max|w−ŵ|, all over every element.
type TensorError struct {
	Name   string  `json:"name"`
	From   string  `json:"from"`
	DType  string  `json:"dtype"`
	RelL2  float64 `json:"rel_l2"`
	SNRdB  float64 `json:"snr_db"`
	MaxAbs float64 `json:"max_abs"`
	// WRelL2 is the importance-weighted relative error √(Σqw·(w−ŵ)²/Σqw·w²) (qw the column's
	// mean x² from the imatrix), present when the tensor was weighted.
	WRelL2 float64 `json:"w_rel_l2,omitempty"`
}

// MarshalJSON writes an infinite SNR (lossless) as null's stand-in 999.
func (e TensorError) MarshalJSON() ([]byte, error) {
	type plain TensorError
	p := plain(e)
	if math.IsInf(p.SNRdB, 1) || math.IsNaN(p.SNRdB) {
		p.SNRdB = 999
	}
	return json.Marshal(p)
}

// ModelConfig is the canonical Gemma 3 configuration.
type ModelConfig struct {
	// Arch is "gemma3" for every file this version writes.
	Arch string `json:"arch"`
	// HFClass is the architecture of the source ("Gemma3ForCausalLM" or
	// "Gemma3ForConditionalGeneration").
	HFClass string        `json:"hf_class"`
	Text    TextConfig    `json:"text"`
	Vision  *VisionConfig `json:"vision,omitempty"`
	// MM is present for multimodal models.
	MM *MMConfig `json:"mm,omitempty"`
}

// Layer types as in the HF `layer_types` list.
const (
	LayerSliding = "sliding_attention"
	LayerFull    = "full_attention"
)

// TextConfig is the text decoder's configuration with defaults resolved.
type TextConfig struct {
	VocabSize          int     `json:"vocab_size"`
	HiddenSize         int     `json:"hidden_size"`
	IntermediateSize   int     `json:"intermediate_size"`
	NumLayers          int     `json:"num_hidden_layers"`
	NumHeads           int     `json:"num_attention_heads"`
	NumKVHeads         int     `json:"num_key_value_heads"`
	HeadDim            int     `json:"head_dim"`
	QueryPreAttnScalar float64 `json:"query_pre_attn_scalar"`
	SlidingWindow      int     `json:"sliding_window"`
	// LayerTypes has one entry per layer: [LayerSliding] or [LayerFull].
	LayerTypes []string `json:"layer_types"`
	// RopeTheta is the base of global layers, RopeLocalTheta of sliding layers.
	RopeTheta      float64 `json:"rope_theta"`
	RopeLocalTheta float64 `json:"rope_local_base_freq"`
	// RopeScaling is the linear scaling factor of global layers (1 when none).
	RopeScaling float64 `json:"rope_scaling_factor"`
	// FinalLogitSoftcap is applied to the logits when > 0.
	FinalLogitSoftcap float64 `json:"final_logit_softcapping"`
	// AttnLogitSoftcap is recorded but, like the reference, never applied.
	AttnLogitSoftcap float64 `json:"attn_logit_softcapping"`
	RMSNormEps       float64 `json:"rms_norm_eps"`
	MaxPositions     int     `json:"max_position_embeddings"`
	HiddenAct        string  `json:"hidden_activation"`
	TieEmbeddings    bool    `json:"tie_word_embeddings"`
	BOS              int     `json:"bos_token_id"`
	EOS              []int   `json:"eos_token_id"`
	PAD              int     `json:"pad_token_id"`
}

// VisionConfig is the SigLIP vision tower's configuration with defaults resolved.
type VisionConfig struct {
	HiddenSize       int     `json:"hidden_size"`
	IntermediateSize int     `json:"intermediate_size"`
	NumLayers        int     `json:"num_hidden_layers"`
	NumHeads         int     `json:"num_attention_heads"`
	NumChannels      int     `json:"num_channels"`
	PatchSize        int     `json:"patch_size"`
	ImageSize        int     `json:"image_size"`
	LayerNormEps     float64 `json:"layer_norm_eps"`
	HiddenAct        string  `json:"hidden_act"`
}

// MMConfig holds the multimodal glue settings.
type MMConfig struct {
	TokensPerImage int `json:"mm_tokens_per_image"`
	BOIToken       int `json:"boi_token_index"`
	EOIToken       int `json:"eoi_token_index"`
	ImageToken     int `json:"image_token_index"`
}

// Validate checks the internal consistency of a configuration: positive sizes, one layer type
// per layer, heads divisible, and the caps that keep derived sizes bounded.
func (c *ModelConfig) Validate() error {
	t := &c.Text
	pos := []struct {
		name string
		v    int
	}{{"vocab_size", t.VocabSize}, {"hidden_size", t.HiddenSize}, {"intermediate_size", t.IntermediateSize},
		{"num_hidden_layers", t.NumLayers}, {"num_attention_heads", t.NumHeads}, {"num_key_value_heads", t.NumKVHeads},
		{"head_dim", t.HeadDim}, {"sliding_window", t.SlidingWindow}}
	for _, p := range pos {
		if p.v <= 0 || p.v > 1<<24 {
			return fmt.Errorf("config: %s = %d, want 1..%d", p.name, p.v, 1<<24)
		}
	}
	if t.NumLayers > 1024 {
		return fmt.Errorf("config: num_hidden_layers = %d, want at most 1024", t.NumLayers)
	}
	if t.NumHeads%t.NumKVHeads != 0 {
		return fmt.Errorf("config: num_attention_heads %d is not a multiple of num_key_value_heads %d", t.NumHeads, t.NumKVHeads)
	}
	if t.HeadDim%2 != 0 {
		return fmt.Errorf("config: head_dim %d is odd (RoPE needs pairs)", t.HeadDim)
	}
	if len(t.LayerTypes) != t.NumLayers {
		return fmt.Errorf("config: %d layer types for %d layers", len(t.LayerTypes), t.NumLayers)
	}
	for i, lt := range t.LayerTypes {
		if lt != LayerSliding && lt != LayerFull {
			return fmt.Errorf("config: layer_types[%d] = %q, want %q or %q", i, lt, LayerSliding, LayerFull)
		}
	}
	if !(t.QueryPreAttnScalar > 0) || !(t.RopeTheta > 0) || !(t.RopeLocalTheta > 0) || !(t.RopeScaling > 0) || !(t.RMSNormEps > 0) {
		return fmt.Errorf("config: query_pre_attn_scalar, rope bases, rope scaling and rms_norm_eps must be positive")
	}
	finite := []struct {
		name   string
		v, max float64
	}{{"query_pre_attn_scalar", t.QueryPreAttnScalar, 1 << 24}, {"rope_theta", t.RopeTheta, 1e12}, {"rope_local_base_freq", t.RopeLocalTheta, 1e12},
		{"rope_scaling factor", t.RopeScaling, 1 << 20}, {"rms_norm_eps", t.RMSNormEps, 1}, {"final_logit_softcapping", t.FinalLogitSoftcap, 1e6},
		{"attn_logit_softcapping", t.AttnLogitSoftcap, 1e6}}
	for _, f := range finite {
		if !(f.v >= 0 && f.v <= f.max) {
			return fmt.Errorf("config: %s = %g, want 0..%g", f.name, f.v, f.max)
		}
	}
	if t.MaxPositions <= 0 || t.MaxPositions > 1<<24 {
		return fmt.Errorf("config: max_position_embeddings = %d, want 1..%d", t.MaxPositions, 1<<24)
	}
	ids := []idField{{"bos_token_id", t.BOS}, {"pad_token_id", t.PAD}}
	for i, e := range t.EOS {
		ids = append(ids, idField{fmt.Sprintf("eos_token_id[%d]", i), e})
	}
	if c.MM != nil {
		ids = append(ids, idField{"boi_token_index", c.MM.BOIToken}, idField{"eoi_token_index", c.MM.EOIToken}, idField{"image_token_index", c.MM.ImageToken})
	}
	for _, id := range ids {
		if id.v < 0 || id.v >= t.VocabSize {
			return fmt.Errorf("config: %s = %d, want 0..%d (vocab_size %d)", id.name, id.v, t.VocabSize-1, t.VocabSize)
		}
	}
	if v := c.Vision; v != nil {
		vp := []struct {
			name string
			v    int
		}{{"vision hidden_size", v.HiddenSize}, {"vision intermediate_size", v.IntermediateSize}, {"vision num_hidden_layers", v.NumLayers},
			{"vision num_attention_heads", v.NumHeads}, {"vision num_channels", v.NumChannels}, {"vision patch_size", v.PatchSize}, {"vision image_size", v.ImageSize}}
		for _, p := range vp {
			if p.v <= 0 || p.v > 1<<16 {
				return fmt.Errorf("config: %s = %d, want 1..%d", p.name, p.v, 1<<16)
			}
		}
		if v.HiddenSize%v.NumHeads != 0 {
			return fmt.Errorf("config: vision hidden_size %d not divisible by %d heads", v.HiddenSize, v.NumHeads)
		}
		if v.ImageSize%v.PatchSize != 0 {
			return fmt.Errorf("config: vision image_size %d not a multiple of patch_size %d", v.ImageSize, v.PatchSize)
		}
		if c.MM == nil {
			return fmt.Errorf("config: vision tower without multimodal settings")
		}
		side := v.ImageSize / v.PatchSize
		k := 0
		for k*k < c.MM.TokensPerImage {
			k++
		}
		if k*k != c.MM.TokensPerImage || k == 0 || side%k != 0 {
			return fmt.Errorf("config: mm_tokens_per_image %d is not a square dividing the %dx%d patch grid", c.MM.TokensPerImage, side, side)
		}
	}
	return nil
}

// idField is a token id of the configuration, for range checks.
type idField struct {
	name string
	v    int
}

// IsGlobal reports whether layer i attends over all positions (full attention).
func (t *TextConfig) IsGlobal(i int) bool { return t.LayerTypes[i] == LayerFull }
