package quantize

import (
	"fmt"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestMixPresets: the per-layer types of llama.cpp's mixes on a 26-layer model (Gemma 3 1B),
// written out by hand from llama_tensor_get_type's rules.
func TestMixPresets(t *testing.T) {
	more := map[int]bool{0: true, 1: true, 2: true, 5: true, 8: true, 11: true, 14: true, 17: true, 20: true, 22: true, 23: true, 24: true, 25: true}
	shape := []int64{1024, 1024}
	for _, mix := range []string{"q4_k_m", "q5_k_m", "q4_k_s"} {
		base, ok := MixPreset(mix)
		if !ok {
			t.Fatal(mix)
		}
		p := Policy{Preset: base, Mix: mix, Layers: 26}
		for i := range 26 {
			for _, s := range format.TextLinear {
				got, _, err := p.Decide(fmt.Sprintf("text.blk.%d.%s", i, s), format.BF16, shape)
				if err != nil {
					t.Fatal(err)
				}
				want := base
				switch {
				case mix != "q4_k_s" && (s == "attn_v" || s == "ffn_down") && more[i]:
					want = format.Q6_K
				case mix == "q4_k_s" && s == "attn_v" && i < 4, mix == "q4_k_s" && s == "ffn_down" && i < 3:
					want = format.Q5_K
				}
				if got != want {
					t.Errorf("%s layer %d %s: %v, want %v", mix, i, s, got, want)
				}
			}
		}
		if e, _, _ := p.Decide("text.embed", format.BF16, []int64{262144, 1152}); e != format.Q8_0 {
			t.Errorf("%s: embedding of width 1152 is %v, want q8_0 (llama.cpp's fallback)", mix, e)
		}
		if e, _, _ := p.Decide("text.embed", format.BF16, []int64{262144, 2560}); e != format.Q6_K {
			t.Errorf("%s: embedding of width 2560 is %v, want q6_k", mix, e)
		}
		// Gemma 3 1B's rows of 1152 do not hold whole super-blocks: a 32-block type instead.
		if got, _, _ := p.Decide("text.blk.3.attn_q", format.BF16, []int64{1024, 1152}); got != format.IQ4_NL && got != format.Q8_0 {
			t.Errorf("%s: 1152-wide attn_q is %v", mix, got)
		}
	}
}
