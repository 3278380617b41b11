package convert

import (
	"slices"
	"testing"
)

// TestExpectedShapesAgree checks that every tensor the table expects has the shape
// format.ModelConfig.ExpectedShape (what the reader checks at open) gives it, for both
// golden configurations, and that a layer index past the count is flagged.
func TestExpectedShapesAgree(t *testing.T) {
	for _, name := range []string{"a_text_1b_like", "b_mm_4b_like"} {
		m := goldenConfig(t, name)
		for _, e := range ExpectedTensors(m) {
			want, ok := m.ExpectedShape(e.Name)
			if !ok || !slices.Equal(want, e.Shape) {
				t.Errorf("%s: %s has shape %v in the table, format expects %v (known %v)", name, e.Name, e.Shape, want, ok)
			}
		}
		if s, ok := m.ExpectedShape("text.blk.999.attn_q"); !ok || s != nil {
			t.Errorf("%s: layer 999 = %v, %v; want nil, true", name, s, ok)
		}
	}
}
