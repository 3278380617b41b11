package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
)

// TestImatrixQuantize measures an imatrix with the CLI (both file formats), quantizes with it,
// and checks what the file records: the imatrix and one weighted error per weighted tensor.
func TestImatrixQuantize(t *testing.T) {
	if testing.Short() {
		t.Skip("converts gemma3-brown-tiny")
	}
	model := brownTiny(t)
	dir := t.TempDir()
	text := filepath.Join("..", "..", "testdata", "models", "brown-val.txt")
	outs := map[string]string{}
	for _, name := range []string{"m.imatrix", "m-imatrix.gguf"} {
		p := filepath.Join(dir, name)
		stdout, stderr, code := cliRun(t, "", "imatrix", "--model", model, "--text", text, "-o", p, "--ctx", "64", "--chunks", "2", "--json")
		if code != 0 {
			t.Fatalf("imatrix: exit %d: %s", code, stderr)
		}
		var rep struct {
			Entries, Tokens int
			Format          string
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Entries != 42 || rep.Tokens != 128 {
			t.Fatalf("imatrix report %q: %v", stdout, err)
		}
		im, err := quantize.ReadImatrix(p)
		if err != nil || len(im.Entries) != 42 || im.Datasets[0] != "brown-val.txt" {
			t.Fatalf("read %s: %v", p, err)
		}
		for _, typ := range []string{"q4_0", "i4"} {
			if typ == "i4" && strings.HasSuffix(name, ".gguf") {
				continue // one type is enough to read the other format
			}
			q := filepath.Join(dir, name+"."+typ+".gmt")
			if _, stderr, code := cliRun(t, "", "quantize", model, "-o", q, "--type", typ, "--embed", "bf16", "--imatrix", p, "-q"); code != 0 {
				t.Fatalf("quantize --imatrix: exit %d: %s", code, stderr)
			}
			outs[name+typ] = q
		}
	}
	for _, k := range []string{"m.imatrixq4_0", "m.imatrixi4", "m-imatrix.ggufq4_0"} {
		typ := k
		f, err := format.Open(outs[k], nil)
		if err != nil {
			t.Fatal(err)
		}
		q := f.Meta.Quantization
		f.Close()
		if q.Imatrix == nil || q.Imatrix.Weighted != 42 || q.Imatrix.Chunks != 2 {
			t.Fatalf("%s: imatrix not recorded: %+v", typ, q.Imatrix)
		}
		for _, te := range q.Tensors {
			if strings.HasPrefix(te.Name, "text.blk.") && !(te.WRelL2 > 0 && te.WRelL2 < 1) {
				t.Errorf("%s: %s: weighted error %v", typ, te.Name, te.WRelL2)
			}
		}
	}
	// --smooth records its plan; without --imatrix it is refused.
	sm := filepath.Join(dir, "smooth.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", model, "-o", sm, "--type", "q4_0", "--embed", "bf16", "--imatrix", filepath.Join(dir, "m.imatrix"), "--smooth", "-q"); code != 0 {
		t.Fatalf("quantize --smooth: exit %d: %s", code, stderr)
	}
	f, err := format.Open(sm, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := f.Meta.Quantization; q.Smooth == nil || len(q.Smooth.Groups) != 4*6 {
		t.Errorf("smoothing not recorded: %+v", q.Smooth)
	}
	if n, _ := f.Tensor("text.blk.0.attn_norm"); n.DType != format.F32 {
		t.Errorf("transformed norm stored as %v, want f32", n.DType)
	}
	f.Close()
	if _, _, code := cliRun(t, "", "quantize", model, "-o", sm+"2", "--type", "q4_0", "--smooth", "-q"); code != 2 {
		t.Errorf("--smooth without --imatrix: exit %d, want 2", code)
	}
	// A file that is not an imatrix is refused with its name.
	bad := filepath.Join(dir, "bad.imatrix")
	os.WriteFile(bad, []byte("GMTIMTX1 but not really"), 0o644)
	if _, stderr, code := cliRun(t, "", "quantize", model, "-o", filepath.Join(dir, "x.gmt"), "--type", "q4_0", "--imatrix", bad, "-q"); code == 0 || !strings.Contains(stderr, "bad.imatrix") {
		t.Errorf("bad imatrix: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gmt")); err == nil {
		t.Error("a failed quantize left its output file")
	}
}

// TestImatrixFull collects full second moments with the CLI and quantizes with GPTQ: the file
// records which q4_0 weights got error feedback; a dimension cap leaves the wider input out
// (said on stderr) and its weight falls back to the diagonal search; the GGUF format refuses
// --full.
func TestImatrixFull(t *testing.T) {
	if testing.Short() {
		t.Skip("converts gemma3-brown-tiny")
	}
	model := brownTiny(t)
	dir := t.TempDir()
	text := filepath.Join("..", "..", "testdata", "models", "brown-val.txt")
	p := filepath.Join(dir, "full.imatrix")
	stdout, stderr, code := cliRun(t, "", "imatrix", "--model", model, "--text", text, "-o", p, "--ctx", "32", "--chunks", "1", "--full", "--full-max-dim", "512", "--json")
	if code != 0 {
		t.Fatalf("imatrix --full: exit %d: %s", code, stderr)
	}
	var rep struct {
		Groups int `json:"moment_groups"`
	}
	// 6 layers × (q/k/v, o, gate/up); down reads 1024 columns, over the cap.
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Groups != 18 || !strings.Contains(stderr, "text.blk.0.ffn_down: input of 1024 columns exceeds --full-max-dim 512") {
		t.Fatalf("imatrix --full report %q, stderr %q: %v", stdout, stderr, err)
	}
	// (--smooth with moments: quantize's TestSmoothMoments.)
	q := filepath.Join(dir, "q.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", model, "-o", q, "--type", "q4_0", "--embed", "bf16", "--imatrix", p, "-q"); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	f, err := format.Open(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	im := f.Meta.Quantization.Imatrix
	f.Close()
	if im == nil || im.GPTQ != 36 || im.Weighted != 42 {
		t.Errorf("imatrix record %+v, want 36 GPTQ tensors of 42 weighted", im)
	}
	if _, _, code := cliRun(t, "", "imatrix", "--model", model, "--text", text, "-o", filepath.Join(dir, "x.gguf"), "--ctx", "32", "--chunks", "1", "--full"); code != 2 {
		t.Errorf("--full with GGUF output: exit %d, want 2", code)
	}
}
