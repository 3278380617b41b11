package quantize

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
)

// TestSmoothPreservesFunction applies a smoothing plan with random power-of-two exponents at
// every place of every layer of golden case a, writes the result unquantized (BF16 linears,
// F32 norms), and checks that the logits equal the original model's: the transform is exact.
// It also runs the search (PlanSmooth) and checks its error ratios.
func TestSmoothPreservesFunction(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "a.gmt")
	if _, err := convert.Run("../testdata/a_text_1b_like", orig, convert.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := runtime.Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{2, 75, 456, 334, 46, 440, 375, 62, 235, 348, 291, 481, 133, 470, 409, 422, 299, 444, 153, 20}
	im, err := Calibrate(m, [][]int32{ids}, CalibrateOptions{ChunkSize: len(ids)})
	if err != nil {
		t.Fatal(err)
	}
	src := FileSource{F: f}
	plan, err := PlanSmooth(src, im, f.Meta.Transforms.NormPlusOneFolded, func(string, []int64) format.DType { return format.Q4_0 })
	if err != nil {
		t.Fatal(err)
	}
	for l, ly := range plan.Layers {
		for _, g := range []float64{ly.GainAttn, ly.GainFFN, ly.GainDown, ly.GainV} {
			if !(g > 0 && g <= 1) {
				t.Errorf("layer %d: error ratio %v, want (0, 1]", l, g)
			}
		}
	}
	// Random exponents everywhere, so that every transform is exercised.
	rng := rand.New(rand.NewPCG(1, 2))
	randExp := func(n int) []int8 {
		e := make([]int8, n)
		for i := range e {
			e[i] = int8(rng.IntN(7) - 3)
		}
		return e
	}
	d, I := m.Hidden(), m.Config.IntermediateSize
	for l := range plan.Layers {
		plan.Layers[l] = SmoothLayer{Attn: randExp(d), FFN: randExp(d), Down: randExp(I), V: randExp(plan.KVHeads * plan.HeadDim)}
	}
	job := Job{Src: SmoothSource{Src: src, Plan: plan}, Meta: f.Meta, Files: map[string][]byte{}, Preset: "bf16",
		Policy: Policy{Preset: format.BF16, Embed: format.BF16, Overrides: []Override{{"text.blk.*.attn_norm", format.F32}, {"text.blk.*.ffn_norm", format.F32}}}}
	for _, n := range f.FileNames() {
		b, _, _ := f.EmbeddedFile(n)
		job.Files[n] = b
	}
	out := filepath.Join(dir, "smoothed.gmt")
	if _, err := Run(out, job); err != nil {
		t.Fatal(err)
	}
	g, err := format.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ms, err := runtime.Load(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	logits := func(m *runtime.Model) []float32 {
		r, err := m.NewSession(nil).Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		return r.Logits
	}
	a, b := logits(m), logits(ms)
	var worst, top float64
	for i := range a {
		worst = max(worst, math.Abs(float64(a[i])-float64(b[i])))
		top = max(top, math.Abs(float64(a[i])))
	}
	if worst > 1e-6*top {
		t.Fatalf("smoothed model's logits differ by %g (max %g)", worst, top)
	}
	t.Logf("max |Δlogit| = %g of %g", worst, top)
	// The transformed tensors really changed.
	w0, _ := f.Tensor("text.blk.0.attn_q")
	w1, _ := g.Tensor("text.blk.0.attn_q")
	if string(w0.Data) == string(w1.Data) {
		t.Fatal("attn_q unchanged: the plan was not applied")
	}
}
