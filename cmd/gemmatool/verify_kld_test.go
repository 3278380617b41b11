package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gemmatool/gemmatool/verify"
)

var brownQ4 struct {
	once sync.Once
	path string
	err  error
}

// brownTinyQ4 returns the bundled model quantized to Q4_0 (from brownTiny's file), built once.
func brownTinyQ4(t testing.TB) string {
	t.Helper()
	bf16 := brownTiny(t)
	brownQ4.once.Do(func() {
		brownQ4.path = filepath.Join(filepath.Dir(bf16), "brown-q4_0.gmt")
		_, stderr, code := cliRun(t, "", "quantize", bf16, "-o", brownQ4.path, "--type", "q4_0", "-q")
		if code != 0 {
			brownQ4.err = fmt.Errorf("quantize: exit %d: %s", code, stderr)
		}
	})
	if brownQ4.err != nil {
		t.Fatal(brownQ4.err)
	}
	return brownQ4.path
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// kldDoc is the part of the verify JSON document the tests read.
type kldDoc struct {
	Schema  string            `json:"schema"`
	Verb    string            `json:"verb"`
	Command string            `json:"command"`
	KLD     *verify.KLDResult `json:"kld"`
}

// TestKLDAgainstLogits compares every statistic of `verify kld` (bundled model, Q4_0 against
// BF16) with an independent float64 computation from both models' full logits written by
// `gemmatool logits` over the same windows, to 1e-9 relative. CI runs 2 windows of 48;
// GEMMATOOL_KLD_WINDOWS=20 GEMMATOOL_KLD_CTX=256 runs the full check.
func TestKLDAgainstLogits(t *testing.T) {
	windows, ctx := envInt("GEMMATOOL_KLD_WINDOWS", 2), envInt("GEMMATOOL_KLD_CTX", 48)
	bf16, q4 := brownTiny(t), brownTinyQ4(t)
	dir := t.TempDir()
	// A text of the needed length: the start of the held-out Brown text.
	all, err := os.ReadFile(brownText)
	if err != nil {
		t.Fatal(err)
	}
	textPath := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(textPath, all[:min(len(all), windows*ctx*8)], 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliRun(t, "", "verify", "kld", "--model", q4, "--reference", bf16, "--text", textPath,
		"--ctx", strconv.Itoa(ctx), "--chunks", strconv.Itoa(windows), "--json")
	if code != 0 {
		t.Fatalf("verify kld: exit %d: %s", code, stderr)
	}
	var doc kldDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != verify.Schema || doc.Verb != "kld" || doc.KLD == nil || !strings.HasPrefix(doc.Command, "gemmatool verify kld --model ") {
		t.Fatalf("document %q %q %q, kld %v", doc.Schema, doc.Verb, doc.Command, doc.KLD != nil)
	}
	got := doc.KLD

	// Independent: the same windows through `gemmatool logits`, statistics in float64.
	lm, err := openModel(bf16, false, true, false, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ids := lm.tok.Encode(string(all[:min(len(all), windows*ctx*8)]), false)
	bos := lm.tok.BOS()
	lm.Close()
	var kl, dp, nr, nt []float64
	same := 0
	for w := range windows {
		win := append([]int32{bos}, ids[w*(ctx-1):(w+1)*(ctx-1)]...)
		var rows [2][]float32
		var v int
		for k, m := range []string{bf16, q4} {
			out := filepath.Join(dir, fmt.Sprintf("l%d.safetensors", k))
			s := make([]string, len(win))
			for i, x := range win {
				s[i] = strconv.Itoa(int(x))
			}
			if _, stderr, code := cliRun(t, "", "logits", "--model", m, "--ids", strings.Join(s, ","), "--no-hidden", "-o", out); code != 0 {
				t.Fatalf("logits: exit %d: %s", code, stderr)
			}
			vals, shapes := readF32Safetensors(t, out)
			rows[k], v = vals["logits"], int(shapes["logits"][1])
			os.Remove(out)
		}
		for p := 0; p+1 < len(win); p++ {
			P, Q := rows[0][p*v:(p+1)*v], rows[1][p*v:(p+1)*v]
			lse := func(z []float32) (float64, int) {
				a := 0
				for i := range z {
					if z[i] > z[a] {
						a = i
					}
				}
				var s float64
				for _, x := range z {
					s += math.Exp(float64(x) - float64(z[a]))
				}
				return float64(z[a]) + math.Log(s), a
			}
			lp, ap := lse(P)
			lq, aq := lse(Q)
			var d float64
			for i := range P {
				a := float64(P[i]) - lp
				d += math.Exp(a) * (a - (float64(Q[i]) - lq))
			}
			kl = append(kl, d)
			dp = append(dp, math.Exp(float64(Q[ap])-lq)-math.Exp(float64(P[ap])-lp))
			nr = append(nr, lp-float64(P[win[p+1]]))
			nt = append(nt, lq-float64(Q[win[p+1]]))
			if ap == aq {
				same++
			}
		}
	}
	n := float64(len(kl))
	mean := func(x []float64) float64 {
		var s float64
		for _, v := range x {
			s += v
		}
		return s / n
	}
	cov := func(x, y []float64) float64 {
		mx, my := mean(x), mean(y)
		var s float64
		for i := range x {
			s += (x[i] - mx) * (y[i] - my)
		}
		return s / (n - 1)
	}
	sorted := slices.Clone(kl)
	slices.Sort(sorted)
	q := func(f float64) float64 { // linear interpolation at rank f·(n−1)
		r := f * (n - 1)
		i := int(r)
		if i+1 >= len(sorted) {
			return sorted[len(sorted)-1]
		}
		return sorted[i] + (r-float64(i))*(sorted[i+1]-sorted[i])
	}
	diff := make([]float64, len(kl))
	dp2 := make([]float64, len(kl))
	for i := range kl {
		diff[i], dp2[i] = nt[i]-nr[i], dp[i]*dp[i]
	}
	pr, pt := math.Exp(mean(nr)), math.Exp(mean(nt))
	if got.Tokens != len(kl) {
		t.Fatalf("tokens %d, want %d", got.Tokens, len(kl))
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"kld_mean", got.KLDMean, mean(kl)},
		{"kld_stderr", got.KLDStderr, math.Sqrt(cov(kl, kl) / n)},
		{"kld min", got.KLD.Min, sorted[0]},
		{"kld median", got.KLD.P50, q(0.5)},
		{"kld p90", got.KLD.P90, q(0.9)},
		{"kld p95", got.KLD.P95, q(0.95)},
		{"kld p99", got.KLD.P99, q(0.99)},
		{"kld p99.9", got.KLD.P999, q(0.999)},
		{"kld max", got.KLD.Max, sorted[len(sorted)-1]},
		{"delta_p_mean", got.DeltaPMean, mean(dp)},
		{"delta_p_rms", got.DeltaPRMS, math.Sqrt(mean(dp2))},
		{"delta_p_rms_stderr", got.DeltaPRMSStderr, math.Sqrt(cov(dp2, dp2)/n) / (2 * math.Sqrt(mean(dp2)))},
		{"same_top", got.SameTop, float64(same) / n},
		{"same_top_stderr", got.SameTopStderr, math.Sqrt(float64(same) / n * (1 - float64(same)/n) / (n - 1))},
		{"ppl_ref", got.PPLRef, pr},
		{"ppl_test", got.PPLTest, pt},
		{"ppl_ref_stderr", got.PPLRefStderr, pr * math.Sqrt(cov(nr, nr)/n)},
		{"ppl_ratio", got.PPLRatio, math.Exp(mean(diff))},
		{"ppl_ratio_stderr", got.PPLRatioStderr, math.Exp(mean(diff)) * math.Sqrt(cov(diff, diff)/n)},
		{"ppl_diff_stderr", got.PPLDiffStderr, math.Sqrt((pt*pt*cov(nt, nt) + pr*pr*cov(nr, nr) - 2*pt*pr*cov(nr, nt)) / n)},
		{"nll_correlation", got.NLLCorrelation, cov(nr, nt) / math.Sqrt(cov(nr, nr)*cov(nt, nt))},
	} {
		rel := math.Abs(c.got-c.want) / math.Abs(c.want)
		if !(rel <= 1e-9) {
			t.Errorf("%s = %.15g, want %.15g (relative error %.2g)", c.name, c.got, c.want, rel)
		}
	}
	t.Logf("%d windows of %d: %d tokens, KL %.6g ± %.3g, same top %.4f, PPL %.4f / %.4f", windows, ctx, len(kl), got.KLDMean, got.KLDStderr, got.SameTop, pt, pr)
}

// TestKLDReferenceKinds gives the same reference as a gemmatool file, as its GGUF export and
// as a saved reference, and through the model's provenance (no --reference): the statistics
// agree (the GGUF's imported norms are folded as 1+w, so to 1e-6), and the saved reference's
// KL lies within its stated bound.
func TestKLDReferenceKinds(t *testing.T) {
	bf16, q4 := brownTiny(t), brownTinyQ4(t)
	dir := t.TempDir()
	all, err := os.ReadFile(brownText)
	if err != nil {
		t.Fatal(err)
	}
	textPath := filepath.Join(dir, "text.txt")
	os.WriteFile(textPath, all[:2000], 0o644)
	gguf := filepath.Join(dir, "ref.gguf")
	if _, stderr, code := cliRun(t, "", "export", "gguf", bf16, "-o", gguf); code != 0 {
		t.Fatalf("export gguf: %s", stderr)
	}
	saved := filepath.Join(dir, "ref.kldref")
	win := []string{"--text", textPath, "--ctx", "16", "--chunks", "2"}
	kld := func(args ...string) *verify.KLDResult {
		t.Helper()
		stdout, stderr, code := cliRun(t, "", append(append([]string{"verify", "kld", "--json"}, args...), win...)...)
		if code != 0 {
			t.Fatalf("verify kld %v: exit %d: %s", args, code, stderr)
		}
		var doc kldDoc
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.KLD
	}
	full := kld("--model", q4, "--reference", bf16)
	prov := kld("--model", q4)
	fromGGUF := kld("--model", q4, "--reference", gguf)
	if _, stderr, code := cliRun(t, "", append([]string{"verify", "kld", "--reference", bf16, "--save-reference", saved}, win...)...); code != 0 {
		t.Fatalf("save reference: %s", stderr)
	}
	fromSaved := kld("--model", q4, "--reference", saved)
	if prov.KLDMean != full.KLDMean || prov.PPLRef != full.PPLRef {
		t.Errorf("provenance reference: kld %v ppl %v, want %v %v", prov.KLDMean, prov.PPLRef, full.KLDMean, full.PPLRef)
	}
	if math.Abs(fromGGUF.KLDMean/full.KLDMean-1) > 1e-3 || math.Abs(fromGGUF.PPLRef/full.PPLRef-1) > 1e-6 {
		t.Errorf("GGUF reference: kld %v ppl %v, want %v %v", fromGGUF.KLDMean, fromGGUF.PPLRef, full.KLDMean, full.PPLRef)
	}
	if fromSaved.SameTop != full.SameTop || math.Abs(fromSaved.PPLRef/full.PPLRef-1) > 1e-12 || fromSaved.PPLTest != full.PPLTest ||
		fromSaved.KLDMean > full.KLDMean*(1+1e-12) || full.KLDMean > fromSaved.KLDMean+fromSaved.KLBoundMean {
		t.Errorf("saved reference: kld %v + bound %v, same top %v, ppl %v; full: kld %v, same top %v, ppl %v",
			fromSaved.KLDMean, fromSaved.KLBoundMean, fromSaved.SameTop, fromSaved.PPLRef, full.KLDMean, full.SameTop, full.PPLRef)
	}
	t.Logf("kld: file %.6g, GGUF %.6g, saved %.6g + bound %.3g", full.KLDMean, fromGGUF.KLDMean, fromSaved.KLDMean, fromSaved.KLBoundMean)
}
