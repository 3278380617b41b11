package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// ggufModel makes a gemmatool file of the given type from a checkpoint directory: convert
// with --dtype for f32/f16/bf16, quantize --type for q8_0/q4_0.
func ggufModel(t testing.TB, dir, typ, out string) {
	t.Helper()
	args := []string{"convert", dir, "-o", out, "--dtype", typ, "-q"}
	if strings.HasPrefix(typ, "q") {
		args = []string{"quantize", dir, "-o", out, "--type", typ, "-q"}
	}
	if _, stderr, code := cliRun(t, "", args...); code != 0 {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
}

// exportImport runs export gguf, import gguf and export gguf again, and checks that the two
// GGUFs are byte-identical. It returns the first GGUF and the imported file.
func exportImport(t testing.TB, model string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	g1, back, g2 := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "back.gmt"), filepath.Join(dir, "again.gguf")
	for _, args := range [][]string{
		{"export", "gguf", model, "-o", g1, "-q"},
		{"import", "gguf", g1, "-o", back, "-q"},
		{"export", "gguf", back, "-o", g2, "-q"},
	} {
		if _, stderr, code := cliRun(t, "", args...); code != 0 {
			t.Fatalf("gemmatool %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	a, err := os.ReadFile(g1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(g2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("export(import(export(m))) differs from export(m) (%d vs %d bytes)", len(b), len(a))
	}
	return g1, back
}

// checkRoundTrip compares every text tensor of orig with the imported file: matrices byte
// for byte with the same type and shape; RMSNorm weights, which GGUF holds as 1+w, as the
// float32 values 1+w (bit for bit) that gemmatool's runtime computes from the original.
func checkRoundTrip(t testing.TB, origPath, backPath string) {
	t.Helper()
	orig, err := format.Open(origPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	back, err := format.Open(backPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if !back.Meta.Transforms.NormPlusOneFolded {
		t.Errorf("imported file does not record folded norms")
	}
	n := 0
	for _, o := range orig.Tensors() {
		if !strings.HasPrefix(o.Name, "text.") {
			continue
		}
		n++
		b, ok := back.Tensor(o.Name)
		if !ok {
			t.Errorf("tensor %q missing after the round trip", o.Name)
			continue
		}
		if !slices.Equal(o.Shape, b.Shape) {
			t.Errorf("tensor %q: shape %v, want %v", o.Name, b.Shape, o.Shape)
			continue
		}
		if !strings.HasSuffix(o.Name, "norm") {
			if o.DType != b.DType || !bytes.Equal(o.Data, b.Data) {
				t.Errorf("tensor %q: %v payload differs after the round trip (was %v)", o.Name, b.DType, o.DType)
			}
			continue
		}
		want := make([]float32, o.Shape[0])
		if err := format.Dequantize(want, o.DType, o.Shape, o.Data, o.Scale); err != nil {
			t.Fatal(err)
		}
		if b.DType != format.F32 {
			t.Errorf("norm %q imported as %v, want F32", o.Name, b.DType)
			continue
		}
		for i, w := range want {
			if !orig.Meta.Transforms.NormPlusOneFolded {
				w = 1 + w
			}
			if g := binary.LittleEndian.Uint32(b.Data[4*i:]); g != math.Float32bits(w) {
				t.Errorf("norm %q[%d] = %g, want 1+w = %g", o.Name, i, math.Float32frombits(g), w)
				break
			}
		}
	}
	if n == 0 || len(back.Tensors()) != n {
		t.Errorf("imported %d tensors, the original has %d text tensors", len(back.Tensors()), n)
	}
	ot, bt := orig.Meta.Model.Text, back.Meta.Model.Text
	if !reflect.DeepEqual(ot, bt) {
		t.Errorf("text config after the round trip:\n got %+v\nwant %+v", bt, ot)
	}
	if len(back.Meta.Source.Files) != 1 || len(back.Meta.Source.Files[0].SHA256) != 64 {
		t.Errorf("provenance %+v, want the GGUF with its SHA-256", back.Meta.Source)
	}
}

// TestGGUFRoundTripGolden exports golden cases a (text) and b (multimodal: its text model)
// in every mappable type and imports them back.
func TestGGUFRoundTripGolden(t *testing.T) {
	for _, dir := range []string{goldenADir, "../../testdata/b_mm_4b_like"} {
		for _, typ := range []string{"f32", "f16", "bf16", "q8_0", "q4_0"} {
			t.Run(filepath.Base(dir)+"/"+typ, func(t *testing.T) {
				model := filepath.Join(t.TempDir(), "m.gmt")
				ggufModel(t, dir, typ, model)
				_, back := exportImport(t, model)
				checkRoundTrip(t, model, back)
			})
		}
	}
}

// TestGGUFRoundTripBrown does the same for the bundled trained model (real tokenizer) in its
// BF16 and both quantized types, and checks that the tokenizer rebuilt from the GGUF's
// tokenizer.ggml.* keys encodes every golden tokenizer case exactly.
func TestGGUFRoundTripBrown(t *testing.T) {
	if testing.Short() {
		t.Skip("exports gemma3-brown-tiny three times")
	}
	ck := mustUnpack(t, "gemma3-brown-tiny")
	for _, typ := range []string{"bf16", "q8_0", "q4_0"} {
		t.Run(typ, func(t *testing.T) {
			model := filepath.Join(t.TempDir(), "m.gmt")
			ggufModel(t, ck, typ, model)
			_, back := exportImport(t, model)
			checkRoundTrip(t, model, back)
			if typ == "bf16" {
				checkTokenizerCases(t, back)
			}
		})
	}
}

// checkTokenizerCases encodes testdata/tokenizer's cases with the tokenizer embedded in model.
func checkTokenizerCases(t testing.TB, model string) {
	t.Helper()
	f, err := format.Open(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tj, _, err := f.EmbeddedFile("tokenizer.json")
	if err != nil || tj == nil {
		t.Fatalf("no tokenizer.json in %s (%v)", model, err)
	}
	tc, _, _ := f.EmbeddedFile("tokenizer_config.json")
	tok, err := tokenizer.Load(tj, tc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range readJSONL(t, "../../testdata/tokenizer/encode.jsonl") {
		var e struct {
			Text string  `json:"text"`
			Add  bool    `json:"add_special_tokens"`
			IDs  []int32 `json:"ids"`
		}
		if err := json.Unmarshal(c, &e); err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode(e.Text, e.Add); !slices.Equal(got, e.IDs) {
			t.Errorf("Encode(%q, %v) = %v, want %v", e.Text, e.Add, got, e.IDs)
		}
		n++
	}
	for _, c := range readJSONL(t, "../../testdata/tokenizer/chat.jsonl") {
		var e struct {
			Messages []tokenizer.Message `json:"messages"`
			Gen      bool                `json:"add_generation_prompt"`
			Text     string              `json:"text"`
			IDs      []int32             `json:"ids"`
		}
		if err := json.Unmarshal(c, &e); err != nil {
			t.Fatal(err)
		}
		text, err := tokenizer.RenderChat(e.Messages, e.Gen)
		if err != nil || text != e.Text || !tok.HasGemma3Template() {
			t.Errorf("chat: rendered %q (%v, Gemma 3 template %v), want %q", text, err, tok.HasGemma3Template(), e.Text)
		}
		if got := tok.Encode(e.Text, false); !slices.Equal(got, e.IDs) {
			t.Errorf("Encode(chat %q) = %v, want %v", e.Text, got, e.IDs)
		}
		n++
	}
	t.Logf("%d tokenizer cases encode exactly", n)
}

func readJSONL(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		out = append(out, l)
	}
	return out
}

// TestGGUFExportErrors checks the refusals: a type GGUF cannot hold names the tensor and the
// --requantize choices, and --requantize makes the export go through.
func TestGGUFExportErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "i4.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", goldenADir, "-o", model, "--type", "i4", "-q"); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "x.gguf")
	_, stderr, code := cliRun(t, "", "export", "gguf", model, "-o", out)
	if code != 1 || !strings.Contains(stderr, `"text.blk.0.attn_q"`) || !strings.Contains(stderr, "--requantize q8_0, q4_0 or bf16") {
		t.Errorf("export of i4: exit %d, %q; want 1 naming the tensor and the choices", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists after a failed export")
	}
	for _, rq := range []string{"q8_0", "q4_0", "bf16"} {
		if _, stderr, code := cliRun(t, "", "export", "gguf", model, "-o", out, "--requantize", rq, "-q"); code != 0 {
			t.Errorf("export --requantize %s: exit %d: %s", rq, code, stderr)
		}
	}
	if _, _, code := cliRun(t, "", "export", "gguf", model, "-o", out, "--requantize", "q5_k"); code != 2 {
		t.Errorf("--requantize q5_k: exit %d, want 2", code)
	}
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f"), 0o644)
	_, stderr, code = cliRun(t, "", "import", "gguf", bad, "-o", filepath.Join(dir, "bad.gmt"))
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "bad.gguf") {
		t.Errorf("import of a corrupt GGUF: exit %d, %q; want 1 and one line naming the file", code, stderr)
	}
}
