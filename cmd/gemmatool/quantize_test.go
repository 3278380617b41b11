package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestQuantizeGoldenA quantizes golden case a's decoder linears with each type (embedding
// kept in bf16), runs `gemmatool logits`, and compares with the reference logits computed
// from the same weights quantized by the reference definitions: this holds to 3e-5 only if
// every block is rounded exactly as specified.
func TestQuantizeGoldenA(t *testing.T) {
	ids := goldenIDs(t, goldenADir)
	idsFile := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(idsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := readF32Safetensors(t, filepath.Join(goldenADir, "expected.safetensors"))
	for _, typ := range []string{"q4_0", "q8_0", "fp8", "sfp8"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join(dir, "a.gmt")
			if _, stderr, code := cliRun(t, "", "quantize", goldenADir, "-o", model, "--type", typ, "--embed", "bf16", "--json"); code != 0 {
				t.Fatalf("quantize: exit %d: %s", code, stderr)
			}
			out := filepath.Join(dir, "logits.safetensors")
			if _, stderr, code := cliRun(t, "", "logits", "--model", model, "--ids-file", idsFile, "-o", out); code != 0 {
				t.Fatalf("logits: exit %d: %s", code, stderr)
			}
			got, _ := readF32Safetensors(t, out)
			want, shapes := readF32Safetensors(t, filepath.Join(goldenADir, "expected_"+typ+".safetensors"))
			for _, name := range []string{"logits", "final_hidden"} {
				var md, mw float64
				for i, w := range want[name] {
					md = max(md, math.Abs(float64(got[name][i])-float64(w)))
					mw = max(mw, math.Abs(float64(w)))
				}
				if e := md / mw; !(e <= 3e-5) {
					t.Errorf("%s vs expected_%s: norm_err %.3g, want ≤ 3e-5", name, typ, e)
				} else {
					t.Logf("%s vs expected_%s: norm_err %.3g", name, typ, e)
				}
			}
			v := int(shapes["logits"][1])
			agree, agreeBase := 0, 0
			var maxBase float64
			for p := range ids {
				g := got["logits"][p*v : (p+1)*v]
				if argmaxF(g) == argmaxF(want["logits"][p*v:(p+1)*v]) {
					agree++
				}
				if argmaxF(g) == argmaxF(base["logits"][p*v:(p+1)*v]) {
					agreeBase++
				}
				for i, x := range g {
					maxBase = max(maxBase, math.Abs(float64(x)-float64(base["logits"][p*v+i])))
				}
			}
			if agree != len(ids) {
				t.Errorf("top-1 agreement with expected_%s: %d/%d", typ, agree, len(ids))
			}
			t.Logf("%s against the unquantized reference: max |Δlogit| %.3g, top-1 agreement %d/%d", typ, maxBase, agreeBase, len(ids))
		})
	}
}

// unpackModel assembles a bundled trained model's checkpoint directory under parent.
func unpackModel(parent, name string) (string, error) {
	return unpackBundled("../../testdata", name, parent)
}

func mustUnpack(t testing.TB, name string) string {
	t.Helper()
	dir, err := unpackModel(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestQuantizeQAT checks QAT awareness on the trained tiny models: --type auto picks q4_0 for
// the Q4_0-QAT checkpoint and q8_0 for the base one; the QAT checkpoint quantized to Q4_0
// reaches the reference perplexity 643.34, below its own BF16 647.47.
func TestQuantizeQAT(t *testing.T) {
	if testing.Short() {
		t.Skip("perplexity over 25,500 tokens")
	}
	qatDir := mustUnpack(t, "gemma3-brown-tiny-qat-q4_0-unquantized")
	out := filepath.Join(t.TempDir(), "qat.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", qatDir, "-o", out, "--type", "auto", "--embed", "bf16", "-q"); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	f, err := format.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := f.Meta.Quantization
	typ := ""
	if tn, ok := f.Tensor("text.blk.0.attn_q"); ok {
		typ = tn.DType.String()
	}
	f.Close()
	if q == nil || q.QAT != "q4_0" || typ != "q4_0" {
		t.Fatalf("auto on the QAT checkpoint: QAT %+v, attn_q type %s; want q4_0", q, typ)
	}
	stdout, stderr, code := cliRun(t, "", "verify", "perplexity", "--model", out, "--text", brownText, "--ctx", "256", "--chunks", "100", "--json")
	if code != 0 {
		t.Fatalf("perplexity: exit %d: %s", code, stderr)
	}
	var doc struct {
		Perplexity struct {
			PPL float64 `json:"ppl"`
		} `json:"perplexity"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	r := doc.Perplexity
	t.Logf("QAT checkpoint as q4_0: ppl %.4f (reference 643.34; its BF16: 647.47)", r.PPL)
	if math.Abs(r.PPL/643.34-1) > 2e-4 {
		t.Errorf("ppl %.4f, want 643.34 within 2e-4", r.PPL)
	}

	// The base checkpoint: auto means q8_0, and an explicit q4_0 gets no QAT warning.
	baseDir := mustUnpack(t, "gemma3-brown-tiny")
	out2 := filepath.Join(t.TempDir(), "base.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", baseDir, "-o", out2, "--type", "auto", "-q"); code != 0 {
		t.Fatalf("quantize base: exit %d: %s", code, stderr)
	}
	g, err := format.Open(out2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if tn, _ := g.Tensor("text.blk.0.ffn_up"); tn.DType != format.Q8_0 || g.Meta.Quantization.QAT != "" {
		t.Errorf("auto on the base checkpoint: ffn_up %v, QAT %q; want q8_0 and none", tn.DType, g.Meta.Quantization.QAT)
	}
	// Contradicting the QAT target warns.
	_, stderr, code = cliRun(t, "", "quantize", qatDir, "-o", filepath.Join(t.TempDir(), "x.gmt"), "--type", "q8_0", "-q")
	if code != 0 || !strings.Contains(stderr, "trained for q4_0") {
		t.Errorf("explicit q8_0 on a q4_0-QAT checkpoint: exit %d, stderr %q; want a warning", code, stderr)
	}
}

// TestQuantizeRefusesRequantize checks that a quantized file is not quantized again by default.
func TestQuantizeRefusesRequantize(t *testing.T) {
	dir := t.TempDir()
	q := filepath.Join(dir, "q.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", goldenADir, "-o", q, "--type", "q8_0", "-q"); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	out := filepath.Join(dir, "r.gmt")
	_, stderr, code := cliRun(t, "", "quantize", q, "-o", out, "--type", "q4_0", "-q")
	if code == 0 || !strings.Contains(stderr, "already quantized") {
		t.Errorf("requantize: exit %d, %q; want a refusal", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an output file was left behind")
	}
	if _, stderr, code := cliRun(t, "", "quantize", q, "-o", out, "--type", "q4_0", "--allow-requantize", "-q"); code != 0 {
		t.Errorf("--allow-requantize: exit %d: %s", code, stderr)
	}
}
