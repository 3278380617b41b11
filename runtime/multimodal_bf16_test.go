package runtime

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/internal/testutil"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// TestGoldenBVisionBF16 measures the bf16 vision path (kernel.ModeBF16 for the tower and
// projector, the text model exact) against the exact path on golden case b: the cosine of
// the image features, the KL divergence of the next-token distributions (exact ‖ bf16, nats)
// at every position, and top-1 agreement. The README quotes the logged numbers.
func TestGoldenBVisionBF16(t *testing.T) {
	if !kernel.HasBF16() {
		t.Skip("no AVX-512 BF16 on this CPU/build: ModeBF16 computes exactly")
	}
	dir := testutil.Testdata("b_mm_4b_like")
	f, m, tw := loadGoldenB(t, dir)
	px := testutil.ReadSafetensors(t, filepath.Join(dir, "pixel_values.safetensors"))["pixel_values"]
	ids := goldenInputs(t, dir)
	mm := f.Meta.Model.MM
	run := func(mode kernel.ActivationMode) ([]float32, []float32) {
		vo, err := EncodeImages(kernel.Exec{Mode: mode}, tw, []*Image{{Pixels: [][]float32{px.Data}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := MultimodalBatch(ids, int32(mm.ImageToken), vo.Features, mm.TokensPerImage, m.Hidden())
		if err != nil {
			t.Fatal(err)
		}
		b.Logits = LogitsAll
		res, err := m.NewSession(nil).Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		return vo.Features, res.Logits
	}
	fe, le := run(kernel.ModeExact)
	fb, lb := run(kernel.ModeBF16)
	var dot, ne, nb float64
	for i := range fe {
		dot += float64(fe[i]) * float64(fb[i])
		ne += float64(fe[i]) * float64(fe[i])
		nb += float64(fb[i]) * float64(fb[i])
	}
	cos := dot / math.Sqrt(ne*nb)
	v := m.VocabRows()
	var klMean, klMax float64
	agree := 0
	for p := range ids {
		kl := klLogits(le[p*v:(p+1)*v], lb[p*v:(p+1)*v])
		klMean += kl / float64(len(ids))
		klMax = max(klMax, kl)
		if argmax(le[p*v:(p+1)*v]) == argmax(lb[p*v:(p+1)*v]) {
			agree++
		}
	}
	last := len(ids) - 1
	klLast := klLogits(le[last*v:(last+1)*v], lb[last*v:(last+1)*v])
	t.Logf("bf16 vs exact: image features cosine %.6f (1 − cos = %.2e); next-token KL last position %.2e nats, mean %.2e, max %.2e over %d positions; top-1 agrees at %d/%d",
		cos, 1-cos, klLast, klMean, klMax, len(ids), agree, len(ids))
	if cos == 1 {
		t.Error("image features identical: the bf16 path did not run")
	}
	if cos < 0.999 || klMax > 1e-3 || agree != len(ids) {
		t.Errorf("bf16 vision path too far from exact: cosine %.6f (want ≥ 0.999), max KL %.3g (want ≤ 1e-3), top-1 %d/%d", cos, klMax, agree, len(ids))
	}
}

// klLogits is KL(softmax(p) ‖ softmax(q)) in nats, in float64.
func klLogits(p, q []float32) float64 {
	lse := func(x []float32) float64 {
		m := math.Inf(-1)
		for _, v := range x {
			m = max(m, float64(v))
		}
		var s float64
		for _, v := range x {
			s += math.Exp(float64(v) - m)
		}
		return m + math.Log(s)
	}
	lp, lq := lse(p), lse(q)
	var kl float64
	for i := range p {
		a := float64(p[i]) - lp
		kl += math.Exp(a) * (a - (float64(q[i]) - lq))
	}
	return max(kl, 0)
}
