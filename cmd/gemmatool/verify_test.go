package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

// TestPerplexityGoldenA scores golden case a's input as a perplexity text (BOS + 31 tokens:
// one window of 32) and compares with exp(mean NLL) computed in float64 from the reference
// logits.
func TestPerplexityGoldenA(t *testing.T) {
	path := convertDir(t, goldenADir)
	f, err := format.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := runtime.Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := goldenIDs(t, goldenADir)
	want, shapes := readF32Safetensors(t, filepath.Join(goldenADir, "expected.safetensors"))
	v := int(shapes["logits"][1])
	var sum float64
	for p := 0; p+1 < len(ids); p++ {
		row := want["logits"][p*v : (p+1)*v]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = max(mx, float64(x))
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x) - mx)
		}
		sum += mx + math.Log(s) - float64(row[ids[p+1]])
	}
	n := len(ids) - 1
	wantPPL := math.Exp(sum / float64(n))
	res, err := verify.Perplexity(verify.NewModelScorer(m, len(ids), kernel.Exec{}), ids[1:], verify.PerplexityOptions{Ctx: len(ids), BOS: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ppl %.9g, reference %.9g, rel err %.3g", res.PPL, wantPPL, math.Abs(res.PPL/wantPPL-1))
	if res.Tokens != n || math.Abs(res.PPL/wantPPL-1) > 1e-5 {
		t.Errorf("ppl %v over %d tokens, want %v over %d", res.PPL, res.Tokens, wantPPL, n)
	}
	// Windowed: ctx 9, stride 4 over the same tokens must equal scoring each window by hand
	// with a fresh prefill.
	text := ids[1:]
	ws, err := verify.Windows(len(text), 9, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wsum float64
	var wn int
	for _, w := range ws {
		s := m.NewSession(nil)
		win := append([]int32{ids[0]}, text[w.Start:w.End]...)
		r, err := s.Forward(&runtime.Batch{Tokens: win, Logits: runtime.LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		for j := w.ScoreFrom; j < w.End; j++ {
			p := j - w.Start
			wsum += verify.LogSumExp(r.Logits[p*v:(p+1)*v]) - float64(r.Logits[p*v+int(text[j])])
			wn++
		}
	}
	res2, err := verify.Perplexity(verify.NewModelScorer(m, 9, kernel.Exec{}), text, verify.PerplexityOptions{Ctx: 9, Stride: 4, BOS: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	// The scorer's log-sum-exp goes through the vectorised float32 exp (≤ 2 ulp per term), the
	// hand computation through math.Exp: they agree to about 1e-7 nats.
	if res2.Tokens != wn || math.Abs(res2.NLLMean-wsum/float64(wn)) > 2e-7 {
		t.Errorf("strided: nll %v over %d tokens, want %v over %d", res2.NLLMean, res2.Tokens, wsum/float64(wn), wn)
	}
}

// TestPerplexityBrownTiny reproduces the reference perplexity of the trained tiny model:
// 626.99 on the first 100 windows of 256 of brown-val.txt.
func TestPerplexityBrownTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("about 25,600 positions over a 262,144-token head")
	}
	model := brownTiny(t)
	t0 := time.Now()
	stdout, stderr, code := cliRun(t, "", "verify", "perplexity", "--model", model, "--text", brownText, "--ctx", "256", "--chunks", "100", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Perplexity struct {
			PPL       float64 `json:"ppl"`
			PPLStderr float64 `json:"ppl_stderr"`
			NLLMean   float64 `json:"nll_mean"`
			Tokens    int     `json:"tokens"`
			TokS      float64 `json:"tok_s"`
		} `json:"perplexity"`
	}
	r := &doc.Perplexity
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	t.Logf("%s (%.1fs)", stdout, time.Since(t0).Seconds())
	const ref = 626.99
	if r.Tokens != 25500 {
		t.Errorf("tokens = %d, want 25500", r.Tokens)
	}
	if math.Abs(r.PPL/ref-1) > 2e-4 {
		t.Errorf("ppl = %.4f, want %.2f within 2e-4", r.PPL, ref)
	}
	if !(r.PPLStderr > 0) || !(r.TokS > 0) || math.Abs(math.Exp(r.NLLMean)-r.PPL) > 1e-9*r.PPL {
		t.Errorf("inconsistent report %+v", r)
	}
}
