package convert

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

func layerTypes(n int, global ...int) []string {
	lt := make([]string, n)
	for i := range lt {
		lt[i] = format.LayerSliding
	}
	for _, g := range global {
		lt[g] = format.LayerFull
	}
	return lt
}

func TestParseConfig(t *testing.T) {
	golden := func(name string) string {
		b, err := os.ReadFile("../testdata/" + name + "/config.json")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, m *format.ModelConfig)
	}{
		{"golden a (flat gemma3_text, sliding_window_pattern)", golden("a_text_1b_like"), func(t *testing.T, m *format.ModelConfig) {
			want := format.TextConfig{VocabSize: 512, HiddenSize: 64, IntermediateSize: 384, NumLayers: 8, NumHeads: 2, NumKVHeads: 1,
				HeadDim: 32, QueryPreAttnScalar: 32, SlidingWindow: 6, LayerTypes: layerTypes(8, 5), RopeTheta: 1e6, RopeLocalTheta: 1e4,
				RopeScaling: 1, RMSNormEps: 1e-6, MaxPositions: 32768, HiddenAct: "gelu_pytorch_tanh", TieEmbeddings: true,
				BOS: 2, EOS: []int{1, 106}, PAD: 0}
			if !reflect.DeepEqual(m.Text, want) {
				t.Errorf("text = %+v\nwant %+v", m.Text, want)
			}
			if m.Vision != nil || m.MM != nil || m.HFClass != "Gemma3ForCausalLM" {
				t.Errorf("vision %v mm %v class %q, want nil nil Gemma3ForCausalLM", m.Vision, m.MM, m.HFClass)
			}
		}},
		{"golden b (gemma3, layer_types, linear rope)", golden("b_mm_4b_like"), func(t *testing.T, m *format.ModelConfig) {
			if m.Text.RopeScaling != 8 || m.Text.NumLayers != 7 || !reflect.DeepEqual(m.Text.LayerTypes, layerTypes(7, 5)) || m.Text.VocabSize != 576 {
				t.Errorf("text = %+v", m.Text)
			}
			wantV := format.VisionConfig{HiddenSize: 48, IntermediateSize: 96, NumLayers: 2, NumHeads: 3, NumChannels: 3, PatchSize: 14,
				ImageSize: 56, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh"}
			if m.Vision == nil || *m.Vision != wantV {
				t.Errorf("vision = %+v, want %+v", m.Vision, wantV)
			}
			if wantMM := (format.MMConfig{TokensPerImage: 4, BOIToken: 255, EOIToken: 256, ImageToken: 512}); m.MM == nil || *m.MM != wantMM {
				t.Errorf("mm = %+v, want %+v", m.MM, wantMM)
			}
		}},
		{"google minimal 4b", `{"architectures":["Gemma3ForConditionalGeneration"],"eos_token_id":[1,106],"model_type":"gemma3",
			"text_config":{"hidden_size":2560,"intermediate_size":10240,"model_type":"gemma3_text","num_hidden_layers":34,
			"rope_scaling":{"factor":8.0,"rope_type":"linear"},"sliding_window":1024},
			"vision_config":{"hidden_size":1152,"image_size":896,"intermediate_size":4304,"model_type":"siglip_vision_model",
			"num_attention_heads":16,"num_hidden_layers":27,"patch_size":14,"vision_use_head":false}}`,
			func(t *testing.T, m *format.ModelConfig) {
				want, _ := ReleasedConfig("4b", 0)
				if !reflect.DeepEqual(*m, want) {
					t.Errorf("config = %+v\nwant %+v", *m, want)
				}
			}},
		{"rope_parameters (v5)", `{"model_type":"gemma3_text","num_hidden_layers":6,"rope_parameters":{
			"full_attention":{"rope_type":"linear","factor":4,"rope_theta":500000},"sliding_attention":{"rope_type":"default","rope_theta":20000}}}`,
			func(t *testing.T, m *format.ModelConfig) {
				if m.Text.RopeScaling != 4 || m.Text.RopeTheta != 5e5 || m.Text.RopeLocalTheta != 2e4 {
					t.Errorf("rope = %g %g %g, want 4 5e5 2e4", m.Text.RopeScaling, m.Text.RopeTheta, m.Text.RopeLocalTheta)
				}
			}},
		{"rope_parameters single map", `{"model_type":"gemma3_text","rope_parameters":{"rope_type":"linear","factor":2,"rope_theta":1e5}}`,
			func(t *testing.T, m *format.ModelConfig) {
				if m.Text.RopeScaling != 2 || m.Text.RopeTheta != 1e5 || m.Text.RopeLocalTheta != 1e4 {
					t.Errorf("rope = %g %g %g, want 2 1e5 1e4", m.Text.RopeScaling, m.Text.RopeTheta, m.Text.RopeLocalTheta)
				}
			}},
		{"_sliding_window_pattern", `{"model_type":"gemma3_text","num_hidden_layers":7,"_sliding_window_pattern":3,"eos_token_id":1}`,
			func(t *testing.T, m *format.ModelConfig) {
				if !reflect.DeepEqual(m.Text.LayerTypes, layerTypes(7, 2, 5)) || !reflect.DeepEqual(m.Text.EOS, []int{1}) {
					t.Errorf("layer types %v eos %v", m.Text.LayerTypes, m.Text.EOS)
				}
			}},
		{"layer_types win over pattern", `{"model_type":"gemma3_text","num_hidden_layers":3,"sliding_window_pattern":2,
			"layer_types":["full_attention","sliding_attention","sliding_attention"],"hidden_size":64.0}`,
			func(t *testing.T, m *format.ModelConfig) {
				if !reflect.DeepEqual(m.Text.LayerTypes, layerTypes(3, 0)) || m.Text.HiddenSize != 64 {
					t.Errorf("layer types %v hidden %d", m.Text.LayerTypes, m.Text.HiddenSize)
				}
			}},
		{"multimodal defaults, *_token_id spelling", `{"model_type":"gemma3","image_token_id":7,"boi_token_id":5,"eoi_token_id":6,"mm_tokens_per_image":196}`,
			func(t *testing.T, m *format.ModelConfig) {
				if m.Vision.HiddenSize != 768 || m.Vision.PatchSize != 16 || m.MM.ImageToken != 7 || m.MM.BOIToken != 5 || m.MM.EOIToken != 6 || m.Text.VocabSize != 262208 || m.Text.SlidingWindow != 4096 {
					t.Errorf("vision %+v mm %+v", *m.Vision, *m.MM)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatalf("ParseConfig = %v", err)
			}
			tt.check(t, &c.Model)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, json string
		sentinel   error
		want       string
	}{
		{"not json", `{"model_type": "gemma3_text",`, ErrCheckpoint, "not JSON"},
		{"array", `[1,2]`, ErrCheckpoint, "not JSON"},
		{"no model_type", `{}`, ErrCheckpoint, "no model_type"},
		{"unknown model_type", `{"model_type":"llama"}`, ErrUnsupported, `model_type "llama" is not Gemma 3`},
		{"gemma2", `{"model_type":"gemma2"}`, ErrUnsupported, `"gemma2"`},
		{"bitsandbytes", `{"model_type":"gemma3_text","quantization_config":{"quant_method":"bitsandbytes","load_in_4bit":true}}`, ErrUnsupported, "bitsandbytes 4-bit"},
		{"gptq", `{"model_type":"gemma3","quantization_config":{"quant_method":"gptq","bits":4}}`, ErrUnsupported, "quantization_config (gptq)"},
		{"compressed-tensors in text_config", `{"model_type":"gemma3","text_config":{"quantization_config":{"quant_method":"compressed-tensors"}}}`, ErrUnsupported, "text_config.quantization_config"},
		{"yarn", `{"model_type":"gemma3_text","rope_scaling":{"rope_type":"yarn","factor":4}}`, ErrUnsupported, `rope_type "yarn"`},
		{"string size", `{"model_type":"gemma3_text","hidden_size":"big"}`, ErrCheckpoint, `hidden_size: want an integer, got "big"`},
		{"fractional size", `{"model_type":"gemma3_text","num_hidden_layers":2.5}`, ErrCheckpoint, "num_hidden_layers: want an integer"},
		{"layer_types length", `{"model_type":"gemma3_text","num_hidden_layers":2,"layer_types":["full_attention"]}`, ErrCheckpoint, "layer_types: has 1 entries for 2 layers"},
		{"bad layer type", `{"model_type":"gemma3_text","num_hidden_layers":1,"layer_types":["chunked_attention"]}`, ErrCheckpoint, "layer_types[0]"},
		{"heads", `{"model_type":"gemma3_text","num_attention_heads":6,"num_key_value_heads":4}`, ErrCheckpoint, "not a multiple"},
		{"eos", `{"model_type":"gemma3_text","eos_token_id":"x"}`, ErrCheckpoint, "eos_token_id"},
		{"vision head", `{"model_type":"gemma3","vision_config":{"vision_use_head":true}}`, ErrUnsupported, "vision_use_head"},
		{"vision type", `{"model_type":"gemma3","vision_config":{"model_type":"clip_vision_model"}}`, ErrUnsupported, "clip_vision_model"},
		{"activation", `{"model_type":"gemma3_text","hidden_activation":"relu"}`, ErrUnsupported, `"relu"`},
		{"zero layers", `{"model_type":"gemma3_text","num_hidden_layers":0}`, ErrCheckpoint, "num_hidden_layers = 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil || !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseConfig = %v, want %v containing %q", err, tt.sentinel, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestApplyGenerationConfig(t *testing.T) {
	tests := []struct {
		cfg  []int
		gen  string
		want []int
	}{
		{[]int{1}, `{"eos_token_id":[1,106]}`, []int{1, 106}},
		{[]int{1, 106}, `{"eos_token_id":1}`, []int{1, 106}},
		{[]int{1}, `{"do_sample":true}`, []int{1}},
	}
	for _, tt := range tests {
		m := format.ModelConfig{Text: format.TextConfig{EOS: append([]int(nil), tt.cfg...)}}
		if err := ApplyGenerationConfig(&m, []byte(tt.gen)); err != nil || !reflect.DeepEqual(m.Text.EOS, tt.want) {
			t.Errorf("ApplyGenerationConfig(%v, %s) = %v, %v; want %v", tt.cfg, tt.gen, m.Text.EOS, err, tt.want)
		}
	}
	m := format.ModelConfig{}
	if err := ApplyGenerationConfig(&m, []byte("{")); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("ApplyGenerationConfig(not JSON) = %v, want ErrCheckpoint", err)
	}
}

// TestMarshalHFConfigRoundTrip: every released size, in both styles, parses back to itself.
func TestMarshalHFConfigRoundTrip(t *testing.T) {
	for _, size := range ReleasedSizes() {
		for _, style := range []HFStyle{{}, {Minimal: true}, {LayerTypes: true}} {
			m, err := ReleasedConfig(size, 0)
			if err != nil {
				t.Fatal(err)
			}
			js, err := MarshalHFConfig(&m, style)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseConfig(js)
			if err != nil {
				t.Fatalf("%s %+v: ParseConfig = %v\n%s", size, style, err, js)
			}
			if !reflect.DeepEqual(c.Model, m) {
				t.Errorf("%s %+v: round trip = %+v\nwant %+v\n%s", size, style, c.Model, m, js)
			}
		}
	}
	// Google's minimal 4B text_config carries exactly these keys.
	m, _ := ReleasedConfig("4b", 0)
	js, _ := MarshalHFConfig(&m, HFStyle{Minimal: true})
	for _, absent := range []string{`"num_attention_heads": 8`, `"head_dim"`, `"vocab_size"`, `"query_pre_attn_scalar"`, `"rope_theta"`} {
		if strings.Contains(string(js), absent) {
			t.Errorf("minimal 4b config contains %s:\n%s", absent, js)
		}
	}
}

func TestReleasedConfig(t *testing.T) {
	tests := []struct {
		size           string
		d, l, h, k, hd int
		qpas           float64
		vocab          int
		global         int
	}{
		{"270m", 640, 18, 4, 1, 256, 256, 262144, 3},
		{"1b", 1152, 26, 4, 1, 256, 256, 262144, 4},
		{"4b", 2560, 34, 8, 4, 256, 256, 262208, 5},
		{"12b", 3840, 48, 16, 8, 256, 256, 262208, 8},
		{"27b", 5376, 62, 32, 16, 128, 168, 262208, 10},
	}
	for _, tt := range tests {
		m, err := ReleasedConfig(tt.size, 0)
		if err != nil {
			t.Fatal(err)
		}
		g := 0
		for i := range m.Text.LayerTypes {
			if m.Text.IsGlobal(i) {
				g++
			}
		}
		x := m.Text
		if x.HiddenSize != tt.d || x.NumLayers != tt.l || x.NumHeads != tt.h || x.NumKVHeads != tt.k || x.HeadDim != tt.hd ||
			x.QueryPreAttnScalar != tt.qpas || x.VocabSize != tt.vocab || g != tt.global {
			t.Errorf("ReleasedConfig(%s) = %+v (%d global)", tt.size, x, g)
		}
	}
	if _, err := ReleasedConfig("2b", 0); err == nil {
		t.Error("ReleasedConfig(2b) succeeded")
	}
}
