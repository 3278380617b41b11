package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareGoldenA checks golden case a without Python: gemmatool's logits against the
// reference pass at the fixtures' 3e-5, and against the Q4_0 reference they fail (exit 1) with
// the failing tensors named (defect 8).
func TestCompareGoldenA(t *testing.T) {
	model := goldenA(t)
	ids := goldenIDs(t, goldenADir)
	idsFile := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(idsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.safetensors")
	if _, stderr, code := mainRun(t, "", "logits", "-m", model, "--ids-file", idsFile, "-o", out); code != 0 {
		t.Fatalf("logits: %s", stderr)
	}
	stdout, stderr, code := mainRun(t, "", "compare", out, filepath.Join(goldenADir, "expected.safetensors"), "--max-norm-err", "3e-5", "--json")
	if code != 0 {
		t.Fatalf("compare with expected: exit %d: %s", code, stderr)
	}
	var res compareResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Tensors) != 3 {
		t.Fatalf("compare --json: %v, %d tensors: %s", err, len(res.Tensors), stdout)
	}
	for _, d := range res.Tensors {
		if !(d.NormErr > 0 && d.NormErr <= 3e-5) || !(d.RelL2 <= 3e-5) {
			t.Errorf("%s: norm_err %g, rel_l2 %g", d.Name, d.NormErr, d.RelL2)
		}
		if (d.Name == "logits") != (d.Top1 != nil) || (d.Top1 != nil && (*d.Top1 != 1 || d.Rows != len(ids))) {
			t.Errorf("%s: top1 %v over %d rows, want 1 over %d for logits only", d.Name, d.Top1, d.Rows, len(ids))
		}
	}
	_, stderr, code = mainRun(t, "", "compare", out, filepath.Join(goldenADir, "expected_q4_0.safetensors"), "--max-norm-err", "3e-5")
	if code != 1 || !strings.Contains(stderr, "final_hidden, logits above --max-norm-err") {
		t.Errorf("compare with the Q4_0 reference: exit %d, %q", code, stderr)
	}
	if _, _, code := mainRun(t, "", "compare", out); code != 2 {
		t.Errorf("compare with one file: exit %d, want 2", code)
	}
}

func TestFillDiff(t *testing.T) {
	d := tensorDiff{Shape: []uint64{2, 3}}
	fillDiff(&d, []float64{1, 2, 3, 0, 5, 1}, []float64{1, 2, 4, 0, 4, 6}, true)
	if d.MaxAbsErr != 5 || d.MaxAbsRef != 6 || d.NormErr != 5.0/6 || d.Top1 == nil || *d.Top1 != 0.5 || d.Rows != 2 {
		t.Errorf("fillDiff = %+v (top1 %v), want max_abs_err 5, max_abs_ref 6, norm_err 5/6, top1 0.5 of 2 rows", d, *d.Top1)
	}
}

// TestUnpackModel writes a bundled checkpoint as a complete HF directory that converts.
func TestUnpackModel(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := mainRun(t, "", "unpack-model", "gemma3-brown-tiny-qat-q4_0-unquantized", "-o", dir, "--testdata", "../../testdata")
	if code != 0 {
		t.Fatalf("unpack-model: exit %d: %s", code, stderr)
	}
	ck := filepath.Join(dir, "gemma3-brown-tiny-qat-q4_0-unquantized")
	for _, f := range []string{"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
		if st, err := os.Stat(filepath.Join(ck, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, stderr, code := mainRun(t, "", "estimate", ck); code != 0 {
		t.Errorf("estimate on the unpacked checkpoint: exit %d: %s", code, stderr)
	}
	if _, stderr, code := mainRun(t, "", "unpack-model", "gemma3-brown", "-o", dir, "--testdata", "../../testdata"); code != 2 || !strings.Contains(stderr, "did you mean gemma3-brown-tiny?") {
		t.Errorf("unpack-model gemma3-brown: exit %d, %q", code, stderr)
	}
}
