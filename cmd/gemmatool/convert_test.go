package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden")

// gt runs the gemmatool CLI as main does and returns stdout, stderr and the exit status.
func gt(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"gemmatool"}, args...), &out, &errb)
	if strings.Contains(errb.String(), "goroutine ") || strings.Contains(errb.String(), "panic:") {
		t.Fatalf("gemmatool %q panicked:\n%s", args, errb.String())
	}
	return out.String(), errb.String(), code
}

const goldenBDir = "../../testdata/b_mm_4b_like"

func TestConvertInspect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b.gmt")
	stdout, stderr, code := gt(t, "convert", goldenBDir, "-o", out)
	if code != 0 || !strings.Contains(stdout, "wrote "+out+": 132 tensors (keep)") || !strings.Contains(stderr, "warning: no tokenizer.json") {
		t.Fatalf("convert = %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}

	// Text output against a golden (paths and version normalised).
	stdout, stderr, code = gt(t, "inspect", "--verify-checksums", out)
	if code != 0 {
		t.Fatalf("inspect = %d: %s", code, stderr)
	}
	got := strings.ReplaceAll(strings.ReplaceAll(stdout, out, "OUT"), version, "VERSION")
	golden := filepath.Join("testdata", "inspect_b.golden")
	if *updateGolden {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("inspect output differs from %s (go test -update if intended):\n%s", golden, got)
	}

	// JSON: totals add up.
	stdout, _, code = gt(t, "inspect", out, "--json")
	var rep inspectReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil {
		t.Fatalf("inspect --json = %d, %q", code, stdout)
	}
	var sum int64
	for _, ct := range rep.Totals {
		sum += ct.Bytes
	}
	if len(rep.Tensors) != 132 || sum != rep.Total.Bytes || len(rep.Totals) != 4 || rep.Meta.Model.Vision == nil || rep.Checksums != "not checked" {
		t.Errorf("inspect --json: %d tensors, totals %+v, total %+v", len(rep.Tensors), rep.Totals, rep.Total)
	}

	// --dtype f32 --json.
	out32 := filepath.Join(t.TempDir(), "b32.gmt")
	stdout, _, code = gt(t, "convert", "--dtype", "f32", "--json", goldenBDir, "-o", out32)
	if code != 0 || !strings.Contains(stdout, `"dtype": "f32"`) {
		t.Fatalf("convert --dtype f32 --json = %d, %s", code, stdout)
	}
}

// TestInspectFlippedByte: a flipped payload byte passes a plain inspect (opening checks
// structure, not payloads) and fails inspect --verify-checksums with a one-line error naming
// the file and the tensor.
func TestInspectFlippedByte(t *testing.T) {
	out := filepath.Join(t.TempDir(), "a.gmt")
	if _, stderr, code := gt(t, "convert", "-q", "../../testdata/a_text_1b_like", "-o", out); code != 0 {
		t.Fatal(stderr)
	}
	f, err := format.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.Tensor("text.blk.3.attn_q")
	off := q.Offset + 100
	f.Close()
	b, _ := os.ReadFile(out)
	b[off] ^= 0x01
	os.WriteFile(out, b, 0o644)
	if _, stderr, code := gt(t, "inspect", out); code != 0 {
		t.Fatalf("inspect = %d: %s", code, stderr)
	}
	stdout, stderr, code := gt(t, "inspect", "--verify-checksums", out)
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "gemmatool: format: "+out) ||
		!strings.Contains(stderr, `tensor "text.blk.3.attn_q"`) || !strings.Contains(stderr, "CRC-32C") {
		t.Errorf("inspect --verify-checksums = %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}

func TestConvertCLIErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad")
	if err := testutil.CopyDir(bad, "../../testdata/a_text_1b_like"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bad, "config.json"), []byte("not json"), 0o644)
	outDir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"config not json", []string{"convert", bad, "-o", filepath.Join(outDir, "x.gmt")}, 1, bad + "/config.json: not JSON"},
		{"no such dir", []string{"convert", "/nonexistent/ck", "-o", filepath.Join(outDir, "x.gmt")}, 1, "/nonexistent/ck: no such file or directory"},
		{"missing -o", []string{"convert", goldenBDir}, 2, "missing -o FILE"},
		{"bad dtype", []string{"convert", goldenBDir, "-o", "x", "--dtype", "q4_0"}, 2, `--dtype "q4_0"`},
		{"two dirs", []string{"convert", goldenBDir, goldenBDir, "-o", "x"}, 2, "want one checkpoint directory, got 2"},
		{"inspect missing", []string{"inspect", filepath.Join(outDir, "none.gmt")}, 1, "no such file or directory"},
		{"inspect not gmtf", []string{"inspect", "../../testdata/a_text_1b_like/config.json"}, 1, "bad magic"},
		{"synth size", []string{"synth", "--size", "2b", "-o", outDir}, 2, `--size "2b"`},
		{"synth no output", []string{"synth", "--size", "1b"}, 2, "--size and -o DIR are required"},
		{"synth shard size", []string{"synth", "--size", "1b", "-o", outDir, "--shard-size", "lots"}, 2, "not a byte size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := gt(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "gemmatool: ") {
				t.Errorf("gemmatool %q = %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
			}
		})
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"convert", "inspect", "synth"} {
		stdout, _, code := gt(t, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "Example:") || !strings.Contains(stdout, "gemmatool "+cmd) {
			t.Errorf("%s --help = %d:\n%s", cmd, code, stdout)
		}
	}
}

// TestSynthSharded writes a 1-layer 270M checkpoint in 2 shards and converts it.
func TestSynthSharded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 350 MB checkpoint")
	}
	dir := filepath.Join(t.TempDir(), "s270m")
	stdout, stderr, code := gt(t, "synth", "--size", "270m", "--layers", "1", "--seed", "3", "--shard-size", "150MB", "-o", dir)
	if code != 0 || !strings.Contains(stdout, "Gemma 3 270m, 1 text layers, 15 tensors") {
		t.Fatalf("synth = %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
		"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if !bytes.Contains(cfg, []byte(`"_sliding_window_pattern": 6`)) || !bytes.Contains(cfg, []byte(`"layer_types": [`)) {
		t.Errorf("270m config.json lacks layer_types/_sliding_window_pattern:\n%s", cfg)
	}
	out := filepath.Join(t.TempDir(), "s.gmt")
	if stdout, stderr, code := gt(t, "convert", dir, "-o", out, "--dtype", "bf16"); code != 0 || stderr != "" {
		t.Fatalf("convert = %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, _ = gt(t, "inspect", out)
	if !strings.Contains(stdout, "tokenizer.json") || !strings.Contains(stdout, "text.blk.0.post_ffn_norm") {
		t.Errorf("inspect:\n%s", stdout)
	}
}
