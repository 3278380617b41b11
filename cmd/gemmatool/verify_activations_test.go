package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
	"github.com/gemmatool/gemmatool/verify"
)

// TestVerifyActivationsAgainstHidden checks `verify activations` against the hidden states
// written by `logits` on the same ids: the residual site of layer l is hidden_states[l]
// (figures equal to 1e-12), and attn_in is its RMSNorm with the layer's attn_norm weight
// (recomputed here in float64: max |x| and RMS to 1e-5, the largest channel equal).
func TestVerifyActivationsAgainstHidden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model func(testing.TB) string
		ids   func(testing.TB) []int32
	}{
		{"golden_a", func(t testing.TB) string { return convertDir(t, goldenADir) }, func(t testing.TB) []int32 { return goldenIDs(t, goldenADir) }},
		{"brown", brownTiny, func(t testing.TB) []int32 {
			return []int32{2, 818, 5279, 529, 7001, 236764, 506, 1902, 691, 3822, 531, 506, 3707, 236761, 1030, 107, 818, 1036}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model, ids := tc.model(t), tc.ids(t)
			s := make([]string, len(ids))
			for i, x := range ids {
				s[i] = strconv.Itoa(int(x))
			}
			stdout, stderr, code := cliRun(t, "", "verify", "activations", "--model", model, "--ids", strings.Join(s, ","), "--json")
			if code != 0 {
				t.Fatalf("verify activations: exit %d: %s", code, stderr)
			}
			var doc struct {
				Activations *verify.ActivationReport `json:"activations"`
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "l.safetensors")
			if _, stderr, code := cliRun(t, "", "logits", "--model", model, "--ids", strings.Join(s, ","), "-o", out); code != 0 {
				t.Fatalf("logits: exit %d: %s", code, stderr)
			}
			vals, shapes := readF32Safetensors(t, out)
			hs, sh := vals["hidden_states"], shapes["hidden_states"]
			L, n, d := int(sh[0])-1, int(sh[1]), int(sh[2])
			f, err := format.Open(model, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			eps := f.Meta.Model.Text.RMSNormEps
			sites := map[string]verify.ActivationSite{}
			for _, st := range doc.Activations.Sites {
				sites[fmt.Sprintf("%d.%s", st.Layer, st.Site)] = st
			}
			if len(sites) != 5*L {
				t.Fatalf("%d sites, want %d", len(sites), 5*L)
			}
			for l := range L {
				x := hs[l*n*d : (l+1)*n*d]
				checkSite(t, sites[fmt.Sprintf("%d.residual", l)], x, d, 1e-12, true)
				w := make([]float32, d)
				if err := (quantize.FileSource{F: f}).ReadRows(fmt.Sprintf("text.blk.%d.attn_norm", l), 0, w); err != nil {
					t.Fatal(err)
				}
				normed := make([]float32, n*d)
				for r := range n {
					var ss float64
					for _, v := range x[r*d : (r+1)*d] {
						ss += float64(v) * float64(v)
					}
					inv := 1 / math.Sqrt(ss/float64(d)+eps)
					for c := range d {
						normed[r*d+c] = float32(float64(x[r*d+c]) * inv * (1 + float64(w[c])))
					}
				}
				checkSite(t, sites[fmt.Sprintf("%d.attn_in", l)], normed, d, 1e-5, false)
			}
		})
	}
}

// checkSite compares a site's figures with those computed from x (rows of width d).
func checkSite(t *testing.T, got verify.ActivationSite, x []float32, d int, tol float64, exact bool) {
	t.Helper()
	var mx, ss float64
	var over, below int64
	ch := make([]float64, d)
	for i, v := range x {
		a := math.Abs(float64(v))
		mx = max(mx, a)
		ss += a * a
		ch[i%d] = max(ch[i%d], a)
		if a > 65504 {
			over++
		} else if a != 0 && a < 6.103515625e-05 {
			below++
		}
	}
	top := 0
	for c := range ch {
		if ch[c] > ch[top] {
			top = c
		}
	}
	rms := math.Sqrt(ss / float64(len(x)))
	name := fmt.Sprintf("layer %d %s", got.Layer, got.Site)
	if got.Values != int64(len(x)) || got.Width != d {
		t.Errorf("%s: %d values of width %d, want %d of %d", name, got.Values, got.Width, len(x), d)
	}
	if math.Abs(got.MaxAbs-mx) > tol*mx || math.Abs(got.RMS-rms) > tol*rms {
		t.Errorf("%s: max |x| %.9g RMS %.9g, want %.9g %.9g", name, got.MaxAbs, got.RMS, mx, rms)
	}
	if len(got.TopChannels) == 0 || got.TopChannels[0].Index != top {
		t.Errorf("%s: top channels %v, want %d first (%.6g)", name, got.TopChannels, top, ch[top])
	}
	if exact && (got.OverF16 != over || got.BelowF16 != below) {
		t.Errorf("%s: beyond f16 %d, below f16 normal %d; want %d, %d", name, got.OverF16, got.BelowF16, over, below)
	}
}
