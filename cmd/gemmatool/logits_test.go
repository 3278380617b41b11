package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// readF32Safetensors returns the F32 tensors of a safetensors file by name, with shapes.
func readF32Safetensors(t testing.TB, path string) (map[string][]float32, map[string][]uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	vals, shapes := map[string][]float32{}, map[string][]uint64{}
	for _, nt := range st.Tensors() {
		if nt.TensorView.DType() != safetensors.F32 {
			t.Fatalf("%s: %s is %v, want F32", path, nt.Name, nt.TensorView.DType())
		}
		d := nt.TensorView.Data()
		f := make([]float32, len(d)/4)
		for i := range f {
			f[i] = math.Float32frombits(uint32(d[4*i]) | uint32(d[4*i+1])<<8 | uint32(d[4*i+2])<<16 | uint32(d[4*i+3])<<24)
		}
		vals[nt.Name], shapes[nt.Name] = f, nt.TensorView.Shape()
	}
	return vals, shapes
}

func goldenIDs(t testing.TB, dir string) []int32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		IDs []int32 `json:"input_ids"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return in.IDs
}

// TestLogitsGoldenA converts golden case a from its HF directory, runs `gemmatool logits` on
// its input ids and compares every tensor with the float64 reference: norm_err =
// max|ours − ref| / max|ref| ≤ 3e-5, and the same top-1 token at every position.
func TestLogitsGoldenA(t *testing.T) {
	model := convertDir(t, goldenADir)
	ids := goldenIDs(t, goldenADir)
	idsFile := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(idsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.safetensors")
	if _, stderr, code := cliRun(t, "", "logits", "--model", model, "--ids-file", idsFile, "-o", out); code != 0 {
		t.Fatalf("logits: exit %d: %s", code, stderr)
	}
	got, gotShapes := readF32Safetensors(t, out)
	want, wantShapes := readF32Safetensors(t, filepath.Join(goldenADir, "expected.safetensors"))
	for _, name := range []string{"logits", "hidden_states", "final_hidden"} {
		if g, w := gotShapes[name], wantShapes[name]; !slices.Equal(g, w) {
			t.Errorf("%s: shape %v, want %v", name, g, w)
			continue
		}
		var md, mw float64
		for i, w := range want[name] {
			md = max(md, math.Abs(float64(got[name][i])-float64(w)))
			mw = max(mw, math.Abs(float64(w)))
		}
		e := md / mw
		t.Logf("%s: max|diff| %.3g, max|ref| %.3g, norm_err %.3g", name, md, mw, e)
		if !(e <= 3e-5) {
			t.Errorf("%s: norm_err = %.3g, want ≤ 3e-5", name, e)
		}
	}
	v := int(wantShapes["logits"][1])
	for p := range ids {
		g, w := got["logits"][p*v:(p+1)*v], want["logits"][p*v:(p+1)*v]
		if ag, aw := argmaxF(g), argmaxF(w); ag != aw {
			t.Errorf("position %d: top-1 %d, want %d", p, ag, aw)
		}
	}
	// --ids gives the same file content as --ids-file.
	out2 := filepath.Join(t.TempDir(), "out2.safetensors")
	if _, stderr, code := cliRun(t, "", "logits", "--model", model, "--ids", strings.Trim(string(b), "[]"), "-o", out2, "--no-hidden"); code != 0 {
		t.Fatalf("logits --ids: exit %d: %s", code, stderr)
	}
	got2, _ := readF32Safetensors(t, out2)
	if _, ok := got2["hidden_states"]; ok {
		t.Errorf("--no-hidden wrote hidden_states")
	}
	for i := range got2["logits"] {
		if got2["logits"][i] != got["logits"][i] {
			t.Fatalf("logits[%d] differs between --ids and --ids-file: %v vs %v", i, got2["logits"][i], got["logits"][i])
		}
	}
}

func argmaxF(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
