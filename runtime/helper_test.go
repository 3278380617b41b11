package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/nlpodyssey/safetensors"
)

// readSafetensors returns the F32 tensors of a safetensors file (BF16 widened), by name, with
// their shapes.
func readSafetensors(tb testing.TB, path string) (map[string][]float32, map[string][]int64) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	vals := map[string][]float32{}
	shapes := map[string][]int64{}
	for _, nt := range st.Tensors() {
		tv := nt.TensorView
		var shape []int64
		for _, d := range tv.Shape() {
			shape = append(shape, int64(d))
		}
		data := tv.Data()
		var f []float32
		switch tv.DType() {
		case safetensors.F32:
			f = make([]float32, len(data)/4)
			for i := range f {
				f[i] = math.Float32frombits(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24)
			}
		case safetensors.BF16:
			f = make([]float32, len(data)/2)
			for i := range f {
				f[i] = math.Float32frombits((uint32(data[2*i]) | uint32(data[2*i+1])<<8) << 16)
			}
		default:
			tb.Fatalf("%s: tensor %s: dtype %v", path, nt.Name, tv.DType())
		}
		vals[nt.Name] = f
		shapes[nt.Name] = shape
	}
	return vals, shapes
}

// writeTestModel converts a text-only HF checkpoint directory (flat gemma3_text config, BF16
// safetensors) to a gemmatool file in dir, keeping BF16. It is a stand-in for the convert
// package in this package's tests.
func writeTestModel(tb testing.TB, src, dir string) string {
	tb.Helper()
	cb, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var hf struct {
		VocabSize          int                       `json:"vocab_size"`
		HiddenSize         int                       `json:"hidden_size"`
		IntermediateSize   int                       `json:"intermediate_size"`
		NumLayers          int                       `json:"num_hidden_layers"`
		NumHeads           int                       `json:"num_attention_heads"`
		NumKVHeads         int                       `json:"num_key_value_heads"`
		HeadDim            int                       `json:"head_dim"`
		QueryPreAttnScalar float64                   `json:"query_pre_attn_scalar"`
		SlidingWindow      int                       `json:"sliding_window"`
		Pattern            int                       `json:"sliding_window_pattern"`
		LayerTypes         []string                  `json:"layer_types"`
		RopeTheta          float64                   `json:"rope_theta"`
		RopeLocal          float64                   `json:"rope_local_base_freq"`
		RopeScaling        *struct{ Factor float64 } `json:"rope_scaling"`
		FinalSoftcap       *float64                  `json:"final_logit_softcapping"`
		Eps                float64                   `json:"rms_norm_eps"`
		MaxPos             int                       `json:"max_position_embeddings"`
		Act                string                    `json:"hidden_activation"`
		BOS                int                       `json:"bos_token_id"`
		EOS                []int                     `json:"eos_token_id"`
	}
	var nested struct {
		Text json.RawMessage `json:"text_config"`
	}
	if err := json.Unmarshal(cb, &nested); err != nil {
		tb.Fatal(err)
	}
	if nested.Text != nil {
		cb = nested.Text
	}
	if err := json.Unmarshal(cb, &hf); err != nil {
		tb.Fatal(err)
	}
	if hf.EOS == nil {
		hf.EOS = []int{1, 106}
	}
	if hf.BOS == 0 {
		hf.BOS = 2
	}
	if hf.LayerTypes == nil {
		for i := range hf.NumLayers {
			lt := format.LayerSliding
			if (i+1)%hf.Pattern == 0 {
				lt = format.LayerFull
			}
			hf.LayerTypes = append(hf.LayerTypes, lt)
		}
	}
	tc := format.TextConfig{
		VocabSize: hf.VocabSize, HiddenSize: hf.HiddenSize, IntermediateSize: hf.IntermediateSize,
		NumLayers: hf.NumLayers, NumHeads: hf.NumHeads, NumKVHeads: hf.NumKVHeads, HeadDim: hf.HeadDim,
		QueryPreAttnScalar: hf.QueryPreAttnScalar, SlidingWindow: hf.SlidingWindow, LayerTypes: hf.LayerTypes,
		RopeTheta: hf.RopeTheta, RopeLocalTheta: hf.RopeLocal, RopeScaling: 1, RMSNormEps: hf.Eps,
		MaxPositions: hf.MaxPos, HiddenAct: hf.Act, TieEmbeddings: true, BOS: hf.BOS, EOS: hf.EOS,
	}
	if hf.RopeScaling != nil {
		tc.RopeScaling = hf.RopeScaling.Factor
	}
	if hf.FinalSoftcap != nil {
		tc.FinalLogitSoftcap = *hf.FinalSoftcap
	}
	b, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, "model.gmt")
	w, err := format.Create(out)
	if err != nil {
		tb.Fatal(err)
	}
	layerRe := regexp.MustCompile(`^(?:language_model\.)?model\.layers\.(\d+)\.(.+)\.weight$`)
	names := map[string]string{
		"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_o",
		"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
		"mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "post_attn_norm",
		"pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffn_norm",
	}
	for _, nt := range st.Tensors() {
		var name string
		switch {
		case strings.HasPrefix(nt.Name, "vision_tower.") || strings.HasPrefix(nt.Name, "multi_modal_projector."):
			continue
		case strings.TrimPrefix(nt.Name, "language_model.") == "model.embed_tokens.weight":
			name = "text.embed"
		case strings.TrimPrefix(nt.Name, "language_model.") == "model.norm.weight":
			name = "text.output_norm"
		default:
			mm := layerRe.FindStringSubmatch(nt.Name)
			if mm == nil || names[mm[2]] == "" {
				tb.Fatalf("unexpected tensor %s", nt.Name)
			}
			name = fmt.Sprintf("text.blk.%s.%s", mm[1], names[mm[2]])
		}
		if nt.TensorView.DType() != safetensors.BF16 {
			tb.Fatalf("tensor %s: dtype %v", nt.Name, nt.TensorView.DType())
		}
		var shape []int64
		for _, d := range nt.TensorView.Shape() {
			shape = append(shape, int64(d))
		}
		data := nt.TensorView.Data()
		if err := w.WriteTensor(name, format.BF16, shape, 1, func(wr io.Writer) error {
			_, err := wr.Write(data)
			return err
		}); err != nil {
			tb.Fatal(err)
		}
	}
	w.SetMetadata(&format.Metadata{Format: "gemmatool", Model: format.ModelConfig{Arch: "gemma3", HFClass: "Gemma3ForCausalLM", Text: tc}})
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
	return out
}
