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

// TestImatrixImageSet: --image-set calibrates the vision weights and the projector of golden
// case b (no tokenizer: images only) from a directory and from a list file, and quantize weighs
// the vision weights by it; a text-only model and an empty set are refused.
func TestImatrixImageSet(t *testing.T) {
	model := convertDir(t, goldenBDir)
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	os.Mkdir(imgs, 0o755)
	png0, err := os.ReadFile(filepath.Join(goldenBDir, "image0.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.png", "b.PNG"} {
		writeFile(t, filepath.Join(imgs, n), png0)
	}
	writeFile(t, filepath.Join(imgs, "notes.txt"), []byte("not an image"))
	list := writeFile(t, filepath.Join(dir, "list.txt"), []byte("# calibration images\nimgs/a.png\n\n"+filepath.Join(imgs, "b.PNG")+"\n"))
	man := filepath.Join(dir, "man")
	writeFile(t, filepath.Join(man, "x.png"), png0)
	writeFile(t, filepath.Join(man, "manifest.json"), []byte(`{"items": [{"image": "x.png", "prompt": "<start_of_image>What?"}, {"image": "x.png", "ids": [2]}]}`))
	const visionEntries = 2 + 6*2 // patch embedding, projector, 6 per block
	for _, c := range []struct {
		name    string
		args    []string
		entries int
	}{
		{"dir", []string{"--image-set", imgs}, visionEntries},
		{"list", []string{"--image-set", list}, visionEntries},
		{"manifest", []string{"--image-set", man}, visionEntries},
	} {
		p := filepath.Join(dir, c.name+".imatrix")
		stdout, stderr, code := cliRun(t, "", append([]string{"imatrix", "--model", model, "-o", p, "--json"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, stderr)
		}
		var rep struct{ Entries, Images int }
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Entries != c.entries || rep.Images != 2 {
			t.Fatalf("%s: report %q: %v", c.name, stdout, err)
		}
		im, err := quantize.ReadImatrix(p)
		if err != nil || len(im.Entries) != c.entries {
			t.Fatalf("%s: read: %v", c.name, err)
		}
		if e := im.Entries["vision.blk.1.ffn_down"]; e == nil || e.Count != 2*16 {
			t.Fatalf("%s: vision.blk.1.ffn_down: %+v", c.name, e)
		}
	}
	q := filepath.Join(dir, "q.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", model, "-o", q, "--type", "q4_0", "--vision", "q4_0", "--embed", "bf16", "--imatrix", filepath.Join(dir, "dir.imatrix"), "-q"); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	f, err := format.Open(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	weighted := 0
	for _, te := range f.Meta.Quantization.Tensors {
		if strings.HasPrefix(te.Name, "vision.blk.") && te.WRelL2 > 0 {
			weighted++
		}
	}
	f.Close()
	if weighted != 12 {
		t.Errorf("%d vision weights quantized with importance, want 12", weighted)
	}
	if _, stderr, code := cliRun(t, "", "imatrix", "--model", brownTiny(t), "-o", filepath.Join(dir, "x"), "--image-set", imgs); code != 2 || !strings.Contains(stderr, "text-only") {
		t.Errorf("text-only model: exit %d: %s", code, stderr)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if _, stderr, code := cliRun(t, "", "imatrix", "--model", model, "-o", filepath.Join(dir, "y"), "--image-set", empty); code != 2 || !strings.Contains(stderr, "no images") {
		t.Errorf("empty set: exit %d: %s", code, stderr)
	}
	if _, _, code := cliRun(t, "", "imatrix", "--model", model, "-o", filepath.Join(dir, "z")); code != 2 {
		t.Errorf("neither --text nor --image-set: exit %d, want 2", code)
	}
}
