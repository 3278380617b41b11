package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/verify"
)

// TestKLDImageSet measures golden case b's answer tokens with the vision tower in q8_0 and
// compares with the KL computed here from the logits of the exact file and of a file
// quantized with --vision q8_0.
func TestKLDImageSet(t *testing.T) {
	dir := t.TempDir()
	ids := goldenIDs(t, goldenBDir)
	prompt, answer := ids[:len(ids)-4], ids[len(ids)-4:]
	set := filepath.Join(dir, "set")
	if err := os.MkdirAll(set, 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(filepath.Join(goldenBDir, "image0.png"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(set, "cat.png"), img, 0o644)
	man, _ := json.Marshal(map[string]any{"items": []any{map[string]any{"image": "cat.png", "ids": prompt, "answer_ids": answer}}})
	os.WriteFile(filepath.Join(set, "manifest.json"), man, 0o644)
	model := convertDir(t, goldenBDir)
	stdout, stderr, code := cliRun(t, "", "verify", "kld", "--model", model, "--image-set", set, "--vision", "q8_0", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Verb   string              `json:"verb"`
		Images *verify.ImageReport `json:"images"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	r := doc.Images
	if doc.Verb != "images" || r == nil || len(r.Items) != 1 || r.Tokens != len(answer) {
		t.Fatalf("document %s", stdout)
	}

	// Independent: logits of both files over the full sequence, KL at the answer positions.
	q8 := filepath.Join(dir, "q8.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", model, "-o", q8, "--type", "keep", "--embed", "keep", "--vision", "q8_0", "--allow-requantize", "-q"); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	idsFile := filepath.Join(dir, "ids.json")
	b, _ := json.Marshal(ids)
	os.WriteFile(idsFile, b, 0o644)
	var rows [2][]float32
	var v int
	for k, m := range []string{model, q8} {
		out := filepath.Join(dir, "l.safetensors")
		if _, stderr, code := cliRun(t, "", "logits", "--model", m, "--ids-file", idsFile, "--image", filepath.Join(goldenBDir, "image0.png"), "--no-hidden", "-o", out); code != 0 {
			t.Fatalf("logits: %s", stderr)
		}
		vals, shapes := readF32Safetensors(t, out)
		rows[k], v = vals["logits"], int(shapes["logits"][1])
	}
	var sum float64
	for p := len(prompt) - 1; p < len(ids)-1; p++ {
		P, Q := rows[0][p*v:(p+1)*v], rows[1][p*v:(p+1)*v]
		lp, lq := verify.LogSumExp(P), verify.LogSumExp(Q)
		for i := range P {
			a := float64(P[i]) - lp
			sum += math.Exp(a) * (a - (float64(Q[i]) - lq))
		}
	}
	want := sum / float64(len(answer))
	t.Logf("q8_0 vision tower: answer-token KL %.6g, independent %.6g", r.KLDMean, want)
	if !(want > 0) || math.Abs(r.KLDMean-want) > 1e-6*want {
		t.Errorf("kld_mean %.9g, want %.9g", r.KLDMean, want)
	}
}
