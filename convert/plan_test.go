package convert

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

func goldenConfig(t testing.TB, name string) *format.ModelConfig {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	return &c.Model
}

// headersFor lays out the expected tensors of m (one file, BF16) after applying edit, which
// may change, drop (return false) or add tensors.
func headersFor(m *format.ModelConfig, edit func(ts []stTensor) []stTensor) []shardHeader {
	var ts []stTensor
	for _, e := range ExpectedTensors(m) {
		ts = append(ts, stTensor{Name: e.Source, DType: "BF16", Shape: e.SrcShape})
	}
	if edit != nil {
		ts = edit(ts)
	}
	var off int64 = 64
	for i := range ts {
		n := int64(stDTypes[ts[i].DType])
		for _, d := range ts[i].Shape {
			n *= d
		}
		ts[i].Begin, ts[i].End = off, off+n
		off += n
	}
	return []shardHeader{{File: "model.safetensors", Path: "ck/model.safetensors", Header: &stHeader{Tensors: ts}}}
}

func rename(from, to string) func([]stTensor) []stTensor {
	return func(ts []stTensor) []stTensor {
		for i := range ts {
			if ts[i].Name == from {
				ts[i].Name = to
			}
		}
		return ts
	}
}

func TestBuildPlan(t *testing.T) {
	a, b := goldenConfig(t, "a_text_1b_like"), goldenConfig(t, "b_mm_4b_like")
	p, err := buildPlan("ck", a, headersFor(a, nil), "keep")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2+13*8 || p.Scheme != "text-only" {
		t.Fatalf("plan(a) has %d entries, scheme %q; want %d, text-only", len(p.Entries), p.Scheme, 2+13*8)
	}
	want := []struct{ name, source string }{
		{"text.embed", "model.embed_tokens.weight"},
		{"text.blk.0.attn_norm", "model.layers.0.input_layernorm.weight"},
		{"text.blk.0.attn_q", "model.layers.0.self_attn.q_proj.weight"},
		{"text.blk.0.ffn_norm", "model.layers.0.pre_feedforward_layernorm.weight"},
		{"text.blk.0.post_ffn_norm", "model.layers.0.post_feedforward_layernorm.weight"},
		{"text.blk.1.attn_norm", "model.layers.1.input_layernorm.weight"},
		{"text.output_norm", "model.norm.weight"},
	}
	for _, w := range want {
		e, ok := p.Entry(w.name)
		if !ok || e.Source != w.source || e.DType != format.BF16 || e.SrcDType != format.BF16 {
			t.Errorf("plan(a).Entry(%s) = %+v, want source %s bf16", w.name, e, w.source)
		}
	}
	if e := p.Entries[1]; e.Name != "text.blk.0.attn_norm" {
		t.Errorf("entry 1 = %s, want text.blk.0.attn_norm (layer-major order)", e.Name)
	}
	q, _ := p.Entry("text.blk.3.attn_q")
	if q.Rows() != 64 || q.Cols() != 64 || q.Length != 64*64*2 {
		t.Errorf("attn_q rows %d cols %d length %d", q.Rows(), q.Cols(), q.Length)
	}

	pb, err := buildPlan("ck", b, headersFor(b, nil), "keep")
	if err != nil {
		t.Fatal(err)
	}
	proj, ok := pb.Entry("mm.input_proj")
	if !ok || !proj.Transpose || proj.Source != "multi_modal_projector.mm_input_projection_weight" ||
		shapeString(proj.SrcShape) != "[48, 64]" || shapeString(proj.Shape) != "[64, 48]" {
		t.Errorf("mm.input_proj = %+v", proj)
	}
	if pe, _ := pb.Entry("vision.patch_embd"); shapeString(pe.Shape) != "[48, 3, 14, 14]" || pe.Rows() != 48 || pe.Cols() != 588 {
		t.Errorf("vision.patch_embd = %+v", pe)
	}
	if pe, _ := pb.Entry("vision.pos_embd"); shapeString(pe.Shape) != "[16, 48]" {
		t.Errorf("vision.pos_embd = %+v", pe)
	}
	if e, _ := pb.Entry("vision.blk.1.ffn_down"); e.Source != "vision_tower.vision_model.encoder.layers.1.mlp.fc2.weight" || shapeString(e.Shape) != "[48, 96]" {
		t.Errorf("vision.blk.1.ffn_down = %+v", e)
	}

	// transformers v5 names.
	v5 := headersFor(b, func(ts []stTensor) []stTensor {
		for i := range ts {
			n := ts[i].Name
			for _, pre := range [][2]string{{"language_model.model.", "model.language_model."}, {"vision_tower.", "model.vision_tower."}, {"multi_modal_projector.", "model.multi_modal_projector."}} {
				if strings.HasPrefix(n, pre[0]) {
					ts[i].Name = pre[1] + strings.TrimPrefix(n, pre[0])
				}
			}
		}
		return ts
	})
	if p5, err := buildPlan("ck", b, v5, "keep"); err != nil || p5.Scheme != "multimodal (transformers v5)" || len(p5.Entries) != len(pb.Entries) {
		t.Errorf("plan(v5 names) = %v, %v", p5, err)
	}
}

func TestBuildPlanProblems(t *testing.T) {
	a := goldenConfig(t, "a_text_1b_like")
	tests := []struct {
		name     string
		edit     func([]stTensor) []stTensor
		sentinel error
		want     []string
	}{
		{"missing", func(ts []stTensor) []stTensor { return ts[1:] }, ErrCheckpoint,
			[]string{`tensor "model.embed_tokens.weight": missing (it would become text.embed [512, 64])`}},
		{"unexpected layer", func(ts []stTensor) []stTensor {
			return append(ts, stTensor{Name: "model.layers.8.mlp.up_proj.weight", DType: "BF16", Shape: []int64{384, 64}})
		}, ErrCheckpoint, []string{`tensor "model.layers.8.mlp.up_proj.weight": unexpected: layer 8, but num_hidden_layers is 8`}},
		{"unexpected vision", func(ts []stTensor) []stTensor {
			return append(ts, stTensor{Name: "vision_tower.vision_model.post_layernorm.weight", DType: "BF16", Shape: []int64{4}})
		}, ErrCheckpoint, []string{"a vision tensor in a text-only"}},
		{"wrong shape", func(ts []stTensor) []stTensor {
			for i := range ts {
				if ts[i].Name == "model.layers.2.self_attn.k_proj.weight" {
					ts[i].Shape = []int64{64, 64}
				}
			}
			return ts
		}, ErrCheckpoint, []string{`model.safetensors: tensor "model.layers.2.self_attn.k_proj.weight": shape [64, 64], want [32, 64] (K*hd=32 × d=64 from config.json)`}},
		{"wrong dtype", func(ts []stTensor) []stTensor {
			ts[3].DType = "F64"
			return ts
		}, ErrUnsupported, []string{"dtype F64, want BF16, F16 or F32"}},
		{"several", func(ts []stTensor) []stTensor {
			ts[3].DType = "F64"
			return ts[:len(ts)-1]
		}, ErrCheckpoint, []string{"2 tensor problems", "missing", "dtype F64"}},
		{"gptq", func(ts []stTensor) []stTensor {
			return append(ts, stTensor{Name: "model.layers.0.mlp.up_proj.qweight", DType: "I32", Shape: []int64{8, 384}})
		}, ErrUnsupported, []string{"int32 data (packed 4-bit weights of a GPTQ/AWQ checkpoint)"}},
		{"awq scales", func(ts []stTensor) []stTensor {
			return append(ts, stTensor{Name: "model.layers.0.mlp.up_proj.scales", DType: "F16", Shape: []int64{1, 384}})
		}, ErrUnsupported, []string{"GPTQ/AWQ scales"}},
		{"fp8", func(ts []stTensor) []stTensor {
			ts[2].DType = "F8_E4M3"
			return ts
		}, ErrUnsupported, []string{"FP8 E4M3 weights"}},
		{"bitsandbytes int8", func(ts []stTensor) []stTensor {
			ts[2].DType = "I8"
			return append(ts, stTensor{Name: ts[2].Name[:len(ts[2].Name)-len("weight")] + "SCB", DType: "F32", Shape: []int64{64}})
		}, ErrUnsupported, []string{"bitsandbytes int8"}},
		{"untied head", nil, ErrUnsupported, []string{`"lm_head.weight": missing: tie_word_embeddings is false`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := *a
			if tt.edit == nil {
				cfg.Text.TieEmbeddings = false
			}
			_, err := buildPlan("ck", &cfg, headersFor(&cfg, tt.edit), "keep")
			if err == nil || !errors.Is(err, tt.sentinel) {
				t.Fatalf("buildPlan = %v, want %v", err, tt.sentinel)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("buildPlan = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
}

func TestBuildPlanTiedHead(t *testing.T) {
	a := goldenConfig(t, "a_text_1b_like")
	p, err := buildPlan("ck", a, headersFor(a, func(ts []stTensor) []stTensor {
		return append(ts, stTensor{Name: "lm_head.weight", DType: "BF16", Shape: []int64{512, 64}})
	}), "keep")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Tied) != 1 || p.Tied[0].Name != "text.embed" || p.Tied[0].Source != "lm_head.weight" || len(p.Warnings) != 1 {
		t.Errorf("tied = %+v, warnings %q", p.Tied, p.Warnings)
	}
	// A misshaped head is a problem like any other.
	_, err = buildPlan("ck", a, headersFor(a, func(ts []stTensor) []stTensor {
		return append(ts, stTensor{Name: "lm_head.weight", DType: "BF16", Shape: []int64{511, 64}})
	}), "keep")
	if !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "lm_head.weight") {
		t.Errorf("misshaped head: %v", err)
	}
}

func TestOutType(t *testing.T) {
	tests := []struct {
		src    format.DType
		target Target
		keep   bool
		want   format.DType
	}{
		{format.BF16, "keep", false, format.BF16},
		{format.F32, "keep", true, format.F32},
		{format.BF16, "f32", false, format.F32},
		{format.BF16, "f32", true, format.F32},
		{format.F32, "bf16", false, format.BF16},
		{format.F32, "bf16", true, format.F32},
		{format.F32, "f16", true, format.F32},
		{format.BF16, "f16", true, format.F16},
		{format.F16, "bf16", false, format.BF16},
	}
	for _, tt := range tests {
		tgt, err := tt.target.dtype()
		if err != nil {
			t.Fatal(err)
		}
		if got := outType(tt.src, tgt, tt.keep); got != tt.want {
			t.Errorf("outType(%v, %s, keep=%v) = %v, want %v", tt.src, tt.target, tt.keep, got, tt.want)
		}
	}
	if _, err := Target("q4").dtype(); err == nil {
		t.Error(`Target("q4").dtype() succeeded`)
	}
}

func TestSetTarget(t *testing.T) {
	a := goldenConfig(t, "a_text_1b_like")
	p, err := buildPlan("ck", a, headersFor(a, func(ts []stTensor) []stTensor {
		for i := range ts {
			ts[i].DType = "F32"
		}
		return ts
	}), "keep")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTarget("bf16"); err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Entries {
		want := format.BF16
		if strings.HasSuffix(e.Name, "norm") {
			want = format.F32
		}
		if e.DType != want {
			t.Errorf("%s: dtype %v, want %v", e.Name, e.DType, want)
		}
	}
}

func TestComponent(t *testing.T) {
	for name, want := range map[string]string{"text.embed": "text embedding", "text.blk.3.attn_q": "text decoder",
		"text.output_norm": "text decoder", "vision.pos_embd": "vision", "mm.input_proj": "projector", "x": "other"} {
		if got := Component(name); got != want {
			t.Errorf("Component(%q) = %q, want %q", name, got, want)
		}
	}
}
