package vision

import (
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/internal/testutil"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// TestGoldenB runs the tower and projector of golden case b on its reference pixel values and
// compares every intermediate the fixture records.
func TestGoldenB(t *testing.T) {
	dir := testutil.Testdata("b_mm_4b_like")
	tw, err := Load(testutil.ConvertOpen(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	px := testutil.ReadSafetensors(t, filepath.Join(dir, "pixel_values.safetensors"))["pixel_values"]
	exp := testutil.ReadSafetensors(t, filepath.Join(dir, "expected.safetensors"))
	o, err := tw.Encode(kernel.Exec{}, px.Data, int(px.Shape[0]), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"vision_last_hidden_state", o.LastHidden}, {"mm_pooled", o.Pooled}, {"image_features", o.Features}} {
		e := testutil.NormErr(t, c.name, c.got, exp[c.name].Data)
		t.Logf("%s: norm err %.2e", c.name, e)
		if e > 3e-5 {
			t.Errorf("%s: norm err %.3g, want ≤ 3e-5", c.name, e)
		}
	}
}
