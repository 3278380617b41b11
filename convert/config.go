package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// Config is a parsed config.json: the canonical model configuration with every Hugging Face
// default applied, plus what the converter needs besides.
type Config struct {
	Model format.ModelConfig
	// NameOrPath is `_name_or_path` when the file sets it.
	NameOrPath string
	// Warnings are settings that are accepted but ignored or suspicious.
	Warnings []string
}

// Model types of the two config.json schemas.
const (
	modelTypeText = "gemma3_text" // Gemma3ForCausalLM: flat keys
	modelTypeMM   = "gemma3"      // Gemma3ForConditionalGeneration: text_config + vision_config
	modelTypeVis  = "siglip_vision_model"
)

// Hugging Face class defaults (transformers configuration_gemma3.py, Gemma3TextConfig and
// Gemma3Config; configuration_siglip.py, SiglipVisionConfig). Google's multimodal
// config.json files spell out only the keys that differ from these.
var (
	textDefaults = format.TextConfig{
		VocabSize: 262208, HiddenSize: 2304, IntermediateSize: 9216, NumLayers: 26,
		NumHeads: 8, NumKVHeads: 4, HeadDim: 256, QueryPreAttnScalar: 256, SlidingWindow: 4096,
		RopeTheta: 1e6, RopeLocalTheta: 1e4, RopeScaling: 1, RMSNormEps: 1e-6, MaxPositions: 131072,
		HiddenAct: "gelu_pytorch_tanh", TieEmbeddings: true, BOS: 2, EOS: []int{1}, PAD: 0,
	}
	defaultSlidingPattern = 6
	visionDefaults        = format.VisionConfig{
		HiddenSize: 768, IntermediateSize: 3072, NumLayers: 12, NumHeads: 12, NumChannels: 3,
		PatchSize: 16, ImageSize: 224, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh",
	}
	mmDefaults = format.MMConfig{TokensPerImage: 256, BOIToken: 255999, EOIToken: 256000, ImageToken: 262144}
)

// maxConfigBytes caps config.json and generation_config.json (real ones are 1–3 KB).
const maxConfigBytes = 1 << 20

// jsonObject reads typed members of a JSON object, keeping the first error. A member that is
// absent or null takes the default.
type jsonObject struct {
	m      map[string]json.RawMessage
	prefix string // "text_config." etc., for messages
	err    *error
}

func newObject(raw json.RawMessage, prefix string, errp *error) (jsonObject, bool) {
	o := jsonObject{prefix: prefix, err: errp}
	if err := decodeNumbers(raw, &o.m); err != nil || o.m == nil {
		o.fail(prefix, "want a JSON object")
		return o, false
	}
	return o, true
}

func decodeNumbers(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

func (o jsonObject) fail(key, format string, args ...any) {
	if *o.err == nil {
		k := strings.TrimSuffix(o.prefix+key, ".")
		*o.err = errAt("", "", -1, ErrCheckpoint, "%s: %s", k, fmt.Sprintf(format, args...))
	}
}

func (o jsonObject) raw(key string) (json.RawMessage, bool) {
	r, ok := o.m[key]
	if !ok || string(bytes.TrimSpace(r)) == "null" {
		return nil, false
	}
	return r, true
}

func (o jsonObject) has(key string) bool { _, ok := o.raw(key); return ok }

func (o jsonObject) str(key, def string) string {
	r, ok := o.raw(key)
	if !ok {
		return def
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		o.fail(key, "want a string, got %s", clip(r))
		return def
	}
	return s
}

func (o jsonObject) boolean(key string, def bool) bool {
	r, ok := o.raw(key)
	if !ok {
		return def
	}
	var b bool
	if json.Unmarshal(r, &b) != nil {
		o.fail(key, "want true or false, got %s", clip(r))
		return def
	}
	return b
}

// isNumber reports whether r is a JSON number (encoding/json also decodes a string holding
// a number into a json.Number: "64" is not an integer here).
func isNumber(r json.RawMessage) bool {
	r = bytes.TrimSpace(r)
	return len(r) > 0 && (r[0] == '-' || r[0] >= '0' && r[0] <= '9')
}

func parseInt(r json.RawMessage) (int, bool) {
	var n json.Number
	if !isNumber(r) || json.Unmarshal(r, &n) != nil {
		return 0, false
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i), true
	}
	// 64.0 is an integer too.
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

func (o jsonObject) integer(key string, def int) int {
	r, ok := o.raw(key)
	if !ok {
		return def
	}
	i, ok := parseInt(r)
	if !ok {
		o.fail(key, "want an integer, got %s", clip(r))
		return def
	}
	return i
}

func (o jsonObject) float(key string, def float64) float64 {
	r, ok := o.raw(key)
	if !ok {
		return def
	}
	var n json.Number
	if !isNumber(r) || json.Unmarshal(r, &n) != nil {
		o.fail(key, "want a number, got %s", clip(r))
		return def
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		o.fail(key, "want a finite number, got %s", clip(r))
		return def
	}
	return f
}

// ints reads an integer or a list of integers (eos_token_id is either).
func (o jsonObject) ints(key string, def []int) []int {
	r, ok := o.raw(key)
	if !ok {
		return def
	}
	if i, ok := parseInt(r); ok {
		return []int{i}
	}
	var list []json.RawMessage
	if json.Unmarshal(r, &list) != nil || len(list) > 1024 {
		o.fail(key, "want an integer or a list of integers, got %s", clip(r))
		return def
	}
	out := make([]int, 0, len(list))
	for _, e := range list {
		i, ok := parseInt(e)
		if !ok {
			o.fail(key, "want an integer or a list of integers, got %s", clip(r))
			return def
		}
		out = append(out, i)
	}
	return out
}

func (o jsonObject) object(key string) (jsonObject, bool) {
	r, ok := o.raw(key)
	if !ok {
		return jsonObject{prefix: o.prefix + key + ".", err: o.err, m: map[string]json.RawMessage{}}, false
	}
	sub, ok := newObject(r, o.prefix+key+".", o.err)
	return sub, ok
}

// clip shortens a JSON value for an error message and keeps it on one line.
func clip(r json.RawMessage) string {
	s := strings.Join(strings.Fields(string(r)), " ")
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// ParseConfig parses a Gemma 3 config.json in either schema: the flat text-only one
// (`model_type` "gemma3_text") or the multimodal one (`model_type` "gemma3", with
// `text_config` and `vision_config`), applying the Hugging Face defaults for absent keys. It
// accepts both RoPE spellings (rope_theta / rope_local_base_freq / rope_scaling, and the v5
// `rope_parameters` map), `layer_types` or (`_`)`sliding_window_pattern`, and `eos_token_id`
// as an integer or a list. Errors unwrap to [ErrCheckpoint] (not JSON, wrongly typed key,
// inconsistent sizes) or [ErrUnsupported] (another model type, a quantization_config, an
// unsupported RoPE type or activation) and carry no path: the caller adds it.
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, errAt("", "", -1, ErrCheckpoint, "%d bytes, above the %d-byte limit for a config file", len(data), maxConfigBytes)
	}
	var perr error
	var top map[string]json.RawMessage
	if err := decodeNumbers(data, &top); err != nil || top == nil {
		msg := "not a JSON object"
		if err != nil {
			msg = "not JSON: " + err.Error()
		}
		return nil, errAt("", "", -1, ErrCheckpoint, "%s", msg)
	}
	root := jsonObject{m: top, err: &perr}
	c := &Config{NameOrPath: root.str("_name_or_path", "")}
	if err := refuseQuantized(root); err != nil {
		return nil, err
	}
	mt := root.str("model_type", "")
	if perr != nil {
		return nil, perr
	}
	m := &c.Model
	m.Arch = "gemma3"
	if archs, ok := root.raw("architectures"); ok {
		var a []string
		if json.Unmarshal(archs, &a) != nil {
			root.fail("architectures", "want a list of strings, got %s", clip(archs))
		} else if len(a) > 0 {
			m.HFClass = a[0]
		}
	}
	switch mt {
	case modelTypeText:
		if m.HFClass == "" {
			m.HFClass = "Gemma3ForCausalLM"
		}
		parseText(root, &m.Text, c)
	case modelTypeMM:
		if m.HFClass == "" {
			m.HFClass = "Gemma3ForConditionalGeneration"
		}
		tc, _ := root.object("text_config")
		if t := tc.str("model_type", modelTypeText); t != modelTypeText {
			return nil, errAt("", "", -1, ErrUnsupported, "text_config.model_type %q, want %q", t, modelTypeText)
		}
		if err := refuseQuantized(tc); err != nil {
			return nil, err
		}
		parseText(tc, &m.Text, c)
		// Token ids at the top level override those of text_config.
		m.Text.BOS = root.integer("bos_token_id", m.Text.BOS)
		m.Text.EOS = root.ints("eos_token_id", m.Text.EOS)
		m.Text.PAD = root.integer("pad_token_id", m.Text.PAD)
		vc, _ := root.object("vision_config")
		if t := vc.str("model_type", modelTypeVis); t != modelTypeVis {
			return nil, errAt("", "", -1, ErrUnsupported, "vision_config.model_type %q, want %q", t, modelTypeVis)
		}
		v := visionDefaults
		v.HiddenSize = vc.integer("hidden_size", v.HiddenSize)
		v.IntermediateSize = vc.integer("intermediate_size", v.IntermediateSize)
		v.NumLayers = vc.integer("num_hidden_layers", v.NumLayers)
		v.NumHeads = vc.integer("num_attention_heads", v.NumHeads)
		v.NumChannels = vc.integer("num_channels", v.NumChannels)
		v.PatchSize = vc.integer("patch_size", v.PatchSize)
		v.ImageSize = vc.integer("image_size", v.ImageSize)
		v.LayerNormEps = vc.float("layer_norm_eps", v.LayerNormEps)
		v.HiddenAct = vc.str("hidden_act", v.HiddenAct)
		if vc.boolean("vision_use_head", false) {
			return nil, errAt("", "", -1, ErrUnsupported, "vision_config.vision_use_head is true: Gemma 3 uses the SigLIP tower without its pooling head")
		}
		if v.HiddenAct != "gelu_pytorch_tanh" {
			return nil, errAt("", "", -1, ErrUnsupported, "vision_config.hidden_act %q, want \"gelu_pytorch_tanh\"", v.HiddenAct)
		}
		m.Vision = &v
		mm := mmDefaults
		mm.TokensPerImage = root.integer("mm_tokens_per_image", mm.TokensPerImage)
		// Newer transformers spell the token ids *_token_id.
		mm.BOIToken = root.integer("boi_token_index", root.integer("boi_token_id", mm.BOIToken))
		mm.EOIToken = root.integer("eoi_token_index", root.integer("eoi_token_id", mm.EOIToken))
		mm.ImageToken = root.integer("image_token_index", root.integer("image_token_id", mm.ImageToken))
		m.MM = &mm
	case "":
		return nil, errAt("", "", -1, ErrCheckpoint, "no model_type (want %q or %q)", modelTypeText, modelTypeMM)
	default:
		return nil, errAt("", "", -1, ErrUnsupported, "model_type %q is not Gemma 3 (want %q or %q)", mt, modelTypeText, modelTypeMM)
	}
	if perr != nil {
		return nil, perr
	}
	if m.Text.HiddenAct != "gelu_pytorch_tanh" && m.Text.HiddenAct != "gelu_tanh" {
		return nil, errAt("", "", -1, ErrUnsupported, "hidden_activation %q, want \"gelu_pytorch_tanh\"", m.Text.HiddenAct)
	}
	m.Text.HiddenAct = "gelu_pytorch_tanh"
	if err := m.Validate(); err != nil {
		return nil, errAt("", "", -1, ErrCheckpoint, "%v", err)
	}
	if m.Vision != nil && m.Vision.NumChannels != 3 {
		return nil, errAt("", "", -1, ErrUnsupported, "vision_config.num_channels %d, want 3", m.Vision.NumChannels)
	}
	return c, nil
}

// refuseQuantized rejects configs of pre-quantized checkpoints, naming the method.
func refuseQuantized(o jsonObject) error {
	for _, key := range []string{"quantization_config", "compression_config"} {
		r, ok := o.raw(key)
		if !ok {
			continue
		}
		var q struct {
			Method      string `json:"quant_method"`
			Format      string `json:"format"`
			LoadIn4bit  bool   `json:"load_in_4bit"`
			LoadIn8bit  bool   `json:"load_in_8bit"`
			Bits        any    `json:"bits"`
			QuantFormat string `json:"quant_format"`
		}
		json.Unmarshal(r, &q)
		what := q.Method
		switch {
		case what == "bitsandbytes" && q.LoadIn4bit:
			what = "bitsandbytes 4-bit"
		case what == "bitsandbytes" && q.LoadIn8bit:
			what = "bitsandbytes 8-bit"
		case what == "" && q.Bits != nil:
			what = fmt.Sprintf("%v-bit", q.Bits)
		case what == "":
			what = "unknown method"
		}
		return errAt("", "", -1, ErrUnsupported, "%s%s (%s): a pre-quantized checkpoint; convert needs the unquantized BF16/F16/F32 weights", o.prefix, key, what)
	}
	return nil
}

func parseText(o jsonObject, t *format.TextConfig, c *Config) {
	d := textDefaults
	t.VocabSize = o.integer("vocab_size", d.VocabSize)
	t.HiddenSize = o.integer("hidden_size", d.HiddenSize)
	t.IntermediateSize = o.integer("intermediate_size", d.IntermediateSize)
	t.NumLayers = o.integer("num_hidden_layers", d.NumLayers)
	t.NumHeads = o.integer("num_attention_heads", d.NumHeads)
	t.NumKVHeads = o.integer("num_key_value_heads", d.NumKVHeads)
	t.HeadDim = o.integer("head_dim", d.HeadDim)
	t.QueryPreAttnScalar = o.float("query_pre_attn_scalar", d.QueryPreAttnScalar)
	t.SlidingWindow = o.integer("sliding_window", d.SlidingWindow)
	t.RMSNormEps = o.float("rms_norm_eps", d.RMSNormEps)
	t.MaxPositions = o.integer("max_position_embeddings", d.MaxPositions)
	t.HiddenAct = o.str("hidden_activation", d.HiddenAct)
	t.TieEmbeddings = o.boolean("tie_word_embeddings", d.TieEmbeddings)
	t.FinalLogitSoftcap = o.float("final_logit_softcapping", 0)
	t.AttnLogitSoftcap = o.float("attn_logit_softcapping", 0)
	t.BOS = o.integer("bos_token_id", d.BOS)
	t.EOS = o.ints("eos_token_id", d.EOS)
	t.PAD = o.integer("pad_token_id", d.PAD)
	if t.AttnLogitSoftcap != 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%sattn_logit_softcapping = %g is ignored (Hugging Face Gemma 3 never applies it)", o.prefix, t.AttnLogitSoftcap))
	}
	if o.boolean("use_bidirectional_attention", false) {
		o.fail("use_bidirectional_attention", "true is not Gemma 3's causal decoder")
	}

	// Layer types: the explicit list wins; else the pattern rule (layer i global iff
	// (i+1) % pattern == 0).
	t.LayerTypes = nil
	if r, ok := o.raw("layer_types"); ok {
		var lt []string
		if json.Unmarshal(r, &lt) != nil {
			o.fail("layer_types", "want a list of strings, got %s", clip(r))
		} else if t.NumLayers >= 0 && len(lt) != t.NumLayers {
			o.fail("layer_types", "has %d entries for %d layers", len(lt), t.NumLayers)
		} else {
			t.LayerTypes = lt
		}
	} else {
		pattern := o.integer("sliding_window_pattern", o.integer("_sliding_window_pattern", defaultSlidingPattern))
		if pattern <= 0 {
			o.fail("sliding_window_pattern", "%d, want a positive integer", pattern)
		} else if t.NumLayers > 0 && t.NumLayers <= 1024 {
			t.LayerTypes = make([]string, t.NumLayers)
			for i := range t.LayerTypes {
				t.LayerTypes[i] = format.LayerSliding
				if (i+1)%pattern == 0 {
					t.LayerTypes[i] = format.LayerFull
				}
			}
		}
	}

	// RoPE: the 4.50 spelling first, then the v5 rope_parameters map overrides it.
	t.RopeTheta = o.float("rope_theta", d.RopeTheta)
	t.RopeLocalTheta = o.float("rope_local_base_freq", d.RopeLocalTheta)
	t.RopeScaling = 1
	if rs, ok := o.object("rope_scaling"); ok {
		t.RopeScaling = ropeFactor(rs)
	}
	if rp, ok := o.object("rope_parameters"); ok {
		if rp.has("full_attention") || rp.has("sliding_attention") {
			if full, ok := rp.object("full_attention"); ok {
				t.RopeTheta = full.float("rope_theta", t.RopeTheta)
				t.RopeScaling = ropeFactor(full)
			}
			if sl, ok := rp.object("sliding_attention"); ok {
				t.RopeLocalTheta = sl.float("rope_theta", t.RopeLocalTheta)
				if f := ropeFactor(sl); f != 1 {
					sl.fail("factor", "%g: scaled RoPE on sliding-window layers is not Gemma 3", f)
				}
			}
		} else {
			// A single map applies to the global layers.
			t.RopeTheta = rp.float("rope_theta", t.RopeTheta)
			t.RopeScaling = ropeFactor(rp)
		}
	}
}

// ropeFactor reads a rope_scaling / rope_parameters entry: type "default" (factor 1) or
// "linear" (factor > 0). Other types are unsupported.
func ropeFactor(o jsonObject) float64 {
	typ := o.str("rope_type", o.str("type", "default"))
	switch typ {
	case "default":
		return 1
	case "linear":
		f := o.float("factor", 1)
		if !(f > 0) {
			o.fail("factor", "%g, want a positive number", f)
			return 1
		}
		return f
	}
	if *o.err == nil {
		*o.err = errAt("", "", -1, ErrUnsupported, "%srope_type %q is not supported (Gemma 3 uses \"default\" or \"linear\")", o.prefix, typ)
	}
	return 1
}

// ApplyGenerationConfig merges generation_config.json into m: its eos_token_id values are
// added to the stop tokens (the union, in order of first appearance), since generation stops
// on either. Other keys are left to the runtime's defaults.
func ApplyGenerationConfig(m *format.ModelConfig, data []byte) error {
	if len(data) > maxConfigBytes {
		return errAt("", "", -1, ErrCheckpoint, "%d bytes, above the %d-byte limit for a config file", len(data), maxConfigBytes)
	}
	var perr error
	var top map[string]json.RawMessage
	if err := decodeNumbers(data, &top); err != nil || top == nil {
		msg := "not a JSON object"
		if err != nil {
			msg = "not JSON: " + err.Error()
		}
		return errAt("", "", -1, ErrCheckpoint, "%s", msg)
	}
	o := jsonObject{m: top, err: &perr}
	eos := o.ints("eos_token_id", nil)
	if perr != nil {
		return perr
	}
	for _, id := range eos {
		if !slices.Contains(m.Text.EOS, id) {
			m.Text.EOS = append(m.Text.EOS, id)
		}
	}
	return nil
}

// HFStyle selects how [MarshalHFConfig] writes a config.json.
type HFStyle struct {
	// Minimal writes, for the multimodal schema, only the text_config keys that differ from
	// the Hugging Face defaults, as Google's released 4B/12B/27B files do.
	Minimal bool
	// LayerTypes writes the explicit layer_types list (plus the leftover
	// `_sliding_window_pattern`, as the 270M re-saves have) instead of sliding_window_pattern.
	LayerTypes bool
}

// MarshalHFConfig writes m as a Hugging Face config.json (keys sorted, two-space indent, as
// transformers writes them). [ParseConfig] of the result gives m back.
func MarshalHFConfig(m *format.ModelConfig, style HFStyle) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	t := m.Text
	text := map[string]any{
		"model_type":              modelTypeText,
		"vocab_size":              t.VocabSize,
		"hidden_size":             t.HiddenSize,
		"intermediate_size":       t.IntermediateSize,
		"num_hidden_layers":       t.NumLayers,
		"num_attention_heads":     t.NumHeads,
		"num_key_value_heads":     t.NumKVHeads,
		"head_dim":                t.HeadDim,
		"query_pre_attn_scalar":   t.QueryPreAttnScalar,
		"sliding_window":          t.SlidingWindow,
		"rope_theta":              t.RopeTheta,
		"rope_local_base_freq":    t.RopeLocalTheta,
		"rms_norm_eps":            t.RMSNormEps,
		"max_position_embeddings": t.MaxPositions,
		"hidden_activation":       t.HiddenAct,
		"attention_bias":          false,
		"attention_dropout":       0.0,
		"final_logit_softcapping": nullIfZero(t.FinalLogitSoftcap),
		"attn_logit_softcapping":  nullIfZero(t.AttnLogitSoftcap),
		"rope_scaling":            nil,
		"use_cache":               true,
		"initializer_range":       0.02,
	}
	if !t.TieEmbeddings {
		text["tie_word_embeddings"] = false
	}
	if t.RopeScaling != 1 {
		text["rope_scaling"] = map[string]any{"rope_type": "linear", "factor": t.RopeScaling}
	}
	pattern := patternOf(t.LayerTypes)
	if style.LayerTypes || pattern == 0 {
		text["layer_types"] = t.LayerTypes
		if pattern > 0 {
			text["_sliding_window_pattern"] = pattern
		}
	} else {
		text["sliding_window_pattern"] = pattern
	}
	ids := map[string]any{"bos_token_id": t.BOS, "pad_token_id": t.PAD, "eos_token_id": eosValue(t.EOS)}
	var top map[string]any
	if m.Vision == nil {
		top = text
		maps(top, ids)
		top["architectures"] = []string{orDefault(m.HFClass, "Gemma3ForCausalLM")}
		top["cache_implementation"] = "hybrid"
	} else {
		if style.Minimal {
			d := textDefaults
			def := map[string]any{"vocab_size": d.VocabSize, "hidden_size": d.HiddenSize, "intermediate_size": d.IntermediateSize,
				"num_hidden_layers": d.NumLayers, "num_attention_heads": d.NumHeads, "num_key_value_heads": d.NumKVHeads,
				"head_dim": d.HeadDim, "query_pre_attn_scalar": d.QueryPreAttnScalar, "sliding_window": d.SlidingWindow,
				"rope_theta": d.RopeTheta, "rope_local_base_freq": d.RopeLocalTheta, "rms_norm_eps": d.RMSNormEps,
				"max_position_embeddings": d.MaxPositions, "hidden_activation": d.HiddenAct, "sliding_window_pattern": defaultSlidingPattern,
				"attention_bias": false, "attention_dropout": 0.0, "final_logit_softcapping": nil, "attn_logit_softcapping": nil,
				"rope_scaling": nil, "use_cache": true, "initializer_range": 0.02}
			for k, v := range def {
				if fmt.Sprint(text[k]) == fmt.Sprint(v) {
					delete(text, k)
				}
			}
		}
		v := m.Vision
		vision := map[string]any{
			"model_type": modelTypeVis, "hidden_size": v.HiddenSize, "intermediate_size": v.IntermediateSize,
			"num_hidden_layers": v.NumLayers, "num_attention_heads": v.NumHeads, "patch_size": v.PatchSize,
			"image_size": v.ImageSize, "vision_use_head": false,
		}
		if !style.Minimal || v.NumChannels != 3 {
			vision["num_channels"] = v.NumChannels
		}
		if !style.Minimal || v.LayerNormEps != 1e-6 {
			vision["layer_norm_eps"] = v.LayerNormEps
		}
		if !style.Minimal {
			vision["hidden_act"] = v.HiddenAct
		}
		top = map[string]any{
			"architectures":       []string{orDefault(m.HFClass, "Gemma3ForConditionalGeneration")},
			"model_type":          modelTypeMM,
			"text_config":         text,
			"vision_config":       vision,
			"mm_tokens_per_image": m.MM.TokensPerImage,
			"boi_token_index":     m.MM.BOIToken,
			"eoi_token_index":     m.MM.EOIToken,
			"image_token_index":   m.MM.ImageToken,
			"eos_token_id":        eosValue(t.EOS),
			"initializer_range":   0.02,
		}
		if !style.Minimal || t.BOS != textDefaults.BOS || t.PAD != textDefaults.PAD {
			text["bos_token_id"], text["pad_token_id"] = t.BOS, t.PAD
		}
	}
	top["torch_dtype"] = "bfloat16"
	top["transformers_version"] = "4.50.0.dev0"
	return json.MarshalIndent(top, "", "  ")
}

func maps(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = v
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nullIfZero(f float64) any {
	if f == 0 {
		return nil
	}
	return f
}

func eosValue(eos []int) any {
	if len(eos) == 1 {
		return eos[0]
	}
	return eos
}

// patternOf returns a p such that types follow "layer i global iff (i+1) % p == 0",
// preferring the default 6 when it fits, or 0 when no p does.
func patternOf(types []string) int {
	if fitsPattern(types, defaultSlidingPattern) {
		return defaultSlidingPattern
	}
	for p := 1; p <= len(types)+1; p++ {
		if fitsPattern(types, p) {
			return p
		}
	}
	return 0
}

func fitsPattern(types []string, p int) bool {
	for i, lt := range types {
		want := format.LayerSliding
		if (i+1)%p == 0 {
			want = format.LayerFull
		}
		if lt != want {
			return false
		}
	}
	return true
}

// Released sizes of Gemma 3 (spec section 1; transformers convert_gemma3_weights.py).
var releasedSizes = map[string]struct {
	d, inter, layers, heads, kv, hd, window int
	qpas                                    float64
	vocab, maxPos                           int
	ropeScale                               float64
	vision                                  bool
}{
	"270m": {640, 2048, 18, 4, 1, 256, 512, 256, 262144, 32768, 1, false},
	"1b":   {1152, 6912, 26, 4, 1, 256, 512, 256, 262144, 32768, 1, false},
	"4b":   {2560, 10240, 34, 8, 4, 256, 1024, 256, 262208, 131072, 8, true},
	"12b":  {3840, 15360, 48, 16, 8, 256, 1024, 256, 262208, 131072, 8, true},
	"27b":  {5376, 21504, 62, 32, 16, 128, 1024, 168, 262208, 131072, 8, true},
}

// ReleasedSizes lists the sizes [ReleasedConfig] knows, smallest first.
func ReleasedSizes() []string {
	s := make([]string, 0, len(releasedSizes))
	for k := range releasedSizes {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return releasedSizes[s[i]].d < releasedSizes[s[j]].d })
	return s
}

// ReleasedConfig returns the configuration of a released Gemma 3 size ("270m", "1b", "4b",
// "12b", "27b"), as in Google's checkpoints (instruction-tuned stop tokens [1, 106]). layers,
// when > 0, keeps only the first layers of the text decoder and of the vision tower.
func ReleasedConfig(size string, layers int) (format.ModelConfig, error) {
	r, ok := releasedSizes[strings.ToLower(size)]
	if !ok {
		return format.ModelConfig{}, fmt.Errorf("convert: unknown Gemma 3 size %q (want one of %s)", size, strings.Join(ReleasedSizes(), ", "))
	}
	if layers < 0 || layers > 1024 {
		return format.ModelConfig{}, fmt.Errorf("convert: %d layers, want 0..1024", layers)
	}
	t := textDefaults
	t.VocabSize, t.HiddenSize, t.IntermediateSize, t.NumLayers = r.vocab, r.d, r.inter, r.layers
	t.NumHeads, t.NumKVHeads, t.HeadDim, t.QueryPreAttnScalar = r.heads, r.kv, r.hd, r.qpas
	t.SlidingWindow, t.MaxPositions, t.RopeScaling = r.window, r.maxPos, r.ropeScale
	t.EOS = []int{1, 106}
	if layers > 0 {
		t.NumLayers = layers
	}
	t.LayerTypes = make([]string, t.NumLayers)
	for i := range t.LayerTypes {
		t.LayerTypes[i] = format.LayerSliding
		if (i+1)%defaultSlidingPattern == 0 {
			t.LayerTypes[i] = format.LayerFull
		}
	}
	m := format.ModelConfig{Arch: "gemma3", HFClass: "Gemma3ForCausalLM", Text: t}
	if r.vision {
		m.HFClass = "Gemma3ForConditionalGeneration"
		v := format.VisionConfig{HiddenSize: 1152, IntermediateSize: 4304, NumLayers: 27, NumHeads: 16, NumChannels: 3,
			PatchSize: 14, ImageSize: 896, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh"}
		if layers > 0 && layers < v.NumLayers {
			v.NumLayers = layers
		}
		mm := mmDefaults
		m.Vision, m.MM = &v, &mm
	}
	return m, m.Validate()
}
