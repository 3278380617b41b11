package quantize

import (
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

func TestPolicyDecide(t *testing.T) {
	ov, err := ParseOverride("text.blk.0.*=bf16")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		p      Policy
		tensor string
		src    format.DType
		shape  []int64
		want   format.DType
	}{
		{"q4 linear", Policy{Preset: format.Q4_0}, "text.blk.3.attn_q", format.BF16, []int64{1024, 1152}, format.Q4_0},
		{"q4 embed default", Policy{Preset: format.Q4_0}, "text.embed", format.BF16, []int64{262144, 1152}, format.Q8_0},
		{"i4 embed default", Policy{Preset: format.I4}, "text.embed", format.BF16, []int64{262144, 1152}, format.Q8_0},
		{"fp8 embed default", Policy{Preset: format.FP8}, "text.embed", format.BF16, []int64{262144, 1152}, format.FP8},
		{"embed flag", Policy{Preset: format.Q4_0, Embed: format.BF16}, "text.embed", format.BF16, []int64{512, 64}, format.BF16},
		{"norm kept", Policy{Preset: format.Q4_0}, "text.blk.3.attn_norm", format.BF16, []int64{1152}, format.BF16},
		{"qnorm kept", Policy{Preset: format.Q4_0}, "text.blk.3.attn_q_norm", format.F32, []int64{256}, format.F32},
		{"vision kept", Policy{Preset: format.Q4_0}, "vision.blk.0.attn_q", format.BF16, []int64{1152, 1152}, format.BF16},
		{"vision flag", Policy{Preset: format.Q4_0, Vision: format.Q8_0}, "vision.blk.0.attn_q", format.BF16, []int64{1152, 1152}, format.Q8_0},
		{"vision fc2 fallback", Policy{Preset: format.Q4_0, Vision: format.Q8_0}, "vision.blk.0.ffn_down", format.BF16, []int64{1152, 4304}, format.FP8},
		{"vision q4 fallback", Policy{Preset: format.Q4_0, Vision: format.Q4_0}, "vision.blk.0.ffn_down", format.BF16, []int64{1152, 4304}, format.I4},
		{"bias kept", Policy{Preset: format.Q4_0, Vision: format.Q8_0}, "vision.blk.0.attn_q.bias", format.BF16, []int64{1152}, format.BF16},
		{"projector kept", Policy{Preset: format.Q4_0, Vision: format.Q8_0}, "mm.input_proj", format.BF16, []int64{2560, 1152}, format.BF16},
		{"override first", Policy{Preset: format.Q4_0, Overrides: []Override{ov}}, "text.blk.0.ffn_up", format.BF16, []int64{6912, 1152}, format.BF16},
		{"override miss", Policy{Preset: format.Q4_0, Overrides: []Override{ov}}, "text.blk.10.ffn_up", format.BF16, []int64{6912, 1152}, format.Q4_0},
		{"keep preset", Policy{}, "text.blk.1.ffn_up", format.BF16, []int64{6912, 1152}, format.BF16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why, err := c.p.Decide(c.tensor, c.src, c.shape)
			if err != nil || got != c.want {
				t.Errorf("Decide(%q) = %v (%s), %v; want %v", c.tensor, got, why, err, c.want)
			}
		})
	}
	bad, _ := ParseOverride("text.output_norm=q8_0")
	if _, _, err := (Policy{Overrides: []Override{bad}}).Decide("text.output_norm", format.BF16, []int64{1152}); err == nil {
		t.Error("quantizing a vector was accepted")
	}
	for _, s := range []string{"noequals", "=q4_0", "a=zz", "[=q4_0"} {
		if _, err := ParseOverride(s); err == nil {
			t.Errorf("ParseOverride(%q) succeeded", s)
		}
	}
	rules := Policy{Preset: format.Q4_0}.Rules()
	if rules[0].Pattern != "text.embed" || rules[0].DType != "q8_0" || rules[len(rules)-1].Pattern != "*" {
		t.Errorf("Rules() = %+v", rules)
	}
}

func TestDetectQAT(t *testing.T) {
	cases := []struct {
		name string
		h    QATHints
		want string
	}{
		{"google q4_0 dir", QATHints{DirName: "gemma-3-4b-it-qat-q4_0-unquantized"}, "q4_0"},
		{"google int4 name", QATHints{NameOrPath: "google/gemma-3-12b-it-qat-int4-unquantized"}, "i4"},
		{"underscores", QATHints{DirName: "gemma3_1b_qat_q4_0"}, "q4_0"},
		{"tiny qat", QATHints{DirName: "gemma3-brown-tiny-qat-q4_0-unquantized"}, "q4_0"},
		{"plain", QATHints{DirName: "gemma3-brown-tiny", NameOrPath: "gemma3-brown-tiny"}, ""},
		{"gguf name is not a bf16 qat", QATHints{DirName: "gemma-3-1b-it"}, ""},
		{"model card", QATHints{DirName: "mymodel", ModelCard: "This checkpoint was trained with Quantization Aware Training (QAT) for Q4_0."}, "q4_0"},
		{"card mentions q4_0 only", QATHints{DirName: "m", ModelCard: "Use llama.cpp q4_0 for speed."}, ""},
		{"quant config", QATHints{DirName: "m", QuantConfig: []byte(`{"qat":"int4"}`)}, "i4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := DetectQAT(c.h)
			if q.Target != c.want {
				t.Errorf("DetectQAT(%+v) = %+v, want %q", c.h, q, c.want)
			}
		})
	}
	q := QAT{Target: "q4_0", Evidence: "x"}
	if q.AutoType() != format.Q4_0 || (QAT{}).AutoType() != format.Q8_0 || (QAT{Target: "i4"}).AutoType() != format.I4 {
		t.Error("AutoType mismatch")
	}
	if w := q.Warning(format.Q8_0); !strings.Contains(w, "q4_0") {
		t.Errorf("Warning = %q", w)
	}
	if w := q.Warning(format.Q4_0); w != "" {
		t.Errorf("Warning for the matching type = %q", w)
	}
}

func TestEstimateKV(t *testing.T) {
	cfg := &format.ModelConfig{Text: format.TextConfig{NumLayers: 26, NumKVHeads: 1, HeadDim: 256, SlidingWindow: 512}}
	for i := 0; i < 26; i++ {
		lt := format.LayerSliding
		if (i+1)%6 == 0 {
			lt = format.LayerFull
		}
		cfg.Text.LayerTypes = append(cfg.Text.LayerTypes, lt)
	}
	e, err := EstimateSize(cfg, nil, Policy{}, 32768, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The 1B row of the spec's KV table: 0.872 GB full, 0.146 GB windowed (bf16).
	if e.KVFullBytes != 26*32768*1024 || e.KVWindowBytes != 4*32768*1024+22*512*1024 {
		t.Errorf("KV = %d full, %d windowed", e.KVFullBytes, e.KVWindowBytes)
	}
	if e.GlobalLayers != 4 || e.LocalLayers != 22 {
		t.Errorf("layers %d global %d local", e.GlobalLayers, e.LocalLayers)
	}
}
