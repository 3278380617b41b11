package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
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
// with --dtype for f32/f16/bf16, quantize --type for the quantized types.
func ggufModel(t testing.TB, dir, typ, out string) {
	t.Helper()
	args := []string{"convert", dir, "-o", out, "--dtype", typ, "-q"}
	if typ != "f32" && typ != "f16" && typ != "bf16" {
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
		for _, typ := range []string{"f32", "f16", "bf16", "q8_0", "q4_0", "iq4_nl"} {
			t.Run(filepath.Base(dir)+"/"+typ, func(t *testing.T) {
				model := filepath.Join(t.TempDir(), "m.gmt")
				ggufModel(t, dir, typ, model)
				g, back := exportImport(t, model)
				checkRoundTrip(t, model, back)
				if dir == goldenADir {
					checkSameLogits(t, model, g)
				}
			})
		}
	}
}

// checkSameLogits runs `logits` on the gemmatool file and on its GGUF export (read through
// the importer) and requires bit-identical results: the folded norms are the very float32
// values the runtime computes from centred ones.
func checkSameLogits(t testing.TB, model, ggufPath string) {
	t.Helper()
	dir := t.TempDir()
	idsFile := filepath.Join(dir, "ids.json")
	b, _ := json.Marshal(goldenIDs(t, goldenADir))
	if err := os.WriteFile(idsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var outs [2][]byte
	for i, m := range []string{model, ggufPath} {
		out := filepath.Join(dir, fmt.Sprintf("out%d.safetensors", i))
		if _, stderr, code := cliRun(t, "", "logits", "--model", m, "--ids-file", idsFile, "-o", out); code != 0 {
			t.Fatalf("logits --model %s: exit %d: %s", m, code, stderr)
		}
		var err error
		if outs[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("logits of the GGUF differ from the gemmatool file's")
	}
	stdout, stderr, code := cliRun(t, "", "inspect", "--json", ggufPath)
	var rep struct {
		Format  string `json:"format"`
		Tensors []struct {
			Name string `json:"name"`
		} `json:"tensors"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Format != "gguf" || len(rep.Tensors) != 106 {
		t.Errorf("inspect --json %s: exit %d, %d tensors, format %q (%s)", ggufPath, code, len(rep.Tensors), rep.Format, stderr)
	}
}

// TestGGUFRoundTripBrown does the same for the bundled trained model (real tokenizer) in its
// BF16, Q8_0, Q4_0 and Q4_K (rows of 256: a k-quant applies; the golden cases' rows are too
// short), and checks that the tokenizer rebuilt from the GGUF's
// tokenizer.ggml.* keys encodes every golden tokenizer case exactly.
func TestGGUFRoundTripBrown(t *testing.T) {
	if testing.Short() {
		t.Skip("exports gemma3-brown-tiny three times")
	}
	ck := mustUnpack(t, "gemma3-brown-tiny")
	for _, typ := range []string{"bf16", "q8_0", "q4_0", "q4_k"} {
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

// TestGGUFMMProjGoldenB exports golden case b with its vision tower and projector as a
// llama.cpp mmproj file and imports both back: the image logits are bit-identical, every
// tensor's values are kept (matrices byte for byte; 1-D tensors, embeddings and the
// projector as the F32 llama.cpp wants), and a second export reproduces both files.
func TestGGUFMMProjGoldenB(t *testing.T) {
	for _, typ := range []string{"bf16", "f32"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join(dir, "b.gmt")
			ggufModel(t, goldenBDir, typ, model)
			g, mm, back := filepath.Join(dir, "b.gguf"), filepath.Join(dir, "b-mmproj.gguf"), filepath.Join(dir, "back.gmt")
			g2, mm2 := filepath.Join(dir, "again.gguf"), filepath.Join(dir, "again-mmproj.gguf")
			gt1(t, "export", "gguf", model, "-o", g, "--mmproj", mm, "-q")
			gt1(t, "import", "gguf", g, "--mmproj", mm, "-o", back, "-q")
			gt1(t, "export", "gguf", back, "-o", g2, "--mmproj", mm2, "-q")
			for _, p := range [][2]string{{g, g2}, {mm, mm2}} {
				a, _ := os.ReadFile(p[0])
				b, _ := os.ReadFile(p[1])
				if len(a) == 0 || !bytes.Equal(a, b) {
					t.Errorf("%s and %s differ", filepath.Base(p[0]), filepath.Base(p[1]))
				}
			}
			checkVisionValues(t, model, back)
			ids := filepath.Join(dir, "ids.json")
			b, _ := json.Marshal(goldenIDs(t, goldenBDir))
			os.WriteFile(ids, b, 0o644)
			var outs [2][]byte
			for i, m := range []string{model, back} {
				out := filepath.Join(dir, fmt.Sprintf("logits%d.safetensors", i))
				gt1(t, "logits", "--model", m, "--ids-file", ids, "--image", filepath.Join(goldenBDir, "image0.png"), "-o", out)
				outs[i], _ = os.ReadFile(out)
			}
			if len(outs[0]) == 0 || !bytes.Equal(outs[0], outs[1]) {
				t.Errorf("image logits of the imported model differ from the original's")
			}
		})
	}
	_, stderr, code := cliRun(t, "", "export", "gguf", convertDir(t, goldenADir), "-o", filepath.Join(t.TempDir(), "a.gguf"), "--mmproj", filepath.Join(t.TempDir(), "m.gguf"))
	if code != 1 || !strings.Contains(stderr, "no vision tower") {
		t.Errorf("--mmproj on a text model: exit %d, %q", code, stderr)
	}
}

// checkVisionValues compares the vision and projector tensors of two files by value (the
// projector's RMSNorm as 1+w when only the second is folded), and by bytes when both
// have the same type.
func checkVisionValues(t testing.TB, origPath, backPath string) {
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
	if !reflect.DeepEqual(orig.Meta.Model.Vision, back.Meta.Model.Vision) || !reflect.DeepEqual(orig.Meta.Model.MM, back.Meta.Model.MM) {
		t.Errorf("vision config %+v %+v, want %+v %+v", back.Meta.Model.Vision, back.Meta.Model.MM, orig.Meta.Model.Vision, orig.Meta.Model.MM)
	}
	n := 0
	for _, o := range orig.Tensors() {
		if strings.HasPrefix(o.Name, "text.") {
			continue
		}
		n++
		b, ok := back.Tensor(o.Name)
		if !ok || !slices.Equal(o.Shape, b.Shape) {
			t.Errorf("tensor %q missing or reshaped after the round trip", o.Name)
			continue
		}
		if o.DType == b.DType && o.Name != "mm.soft_emb_norm" {
			if !bytes.Equal(o.Data, b.Data) {
				t.Errorf("tensor %q: bytes differ", o.Name)
			}
			continue
		}
		ne, _ := format.NumElements(o.Shape)
		x, y := make([]float32, ne), make([]float32, ne)
		format.Dequantize(x, o.DType, o.Shape, o.Data, o.Scale)
		format.Dequantize(y, b.DType, b.Shape, b.Data, b.Scale)
		for i := range x {
			w := x[i]
			if o.Name == "mm.soft_emb_norm" {
				w = 1 + w
			}
			if math.Float32bits(w) != math.Float32bits(y[i]) {
				t.Errorf("tensor %q[%d] = %g (%v), want %g (%v)", o.Name, i, y[i], b.DType, w, o.DType)
				break
			}
		}
	}
	if n == 0 {
		t.Error("no vision tensors")
	}
}

// TestGGUFQueryScaleFold gives golden case a a query_pre_attn_scalar other than its head_dim
// (which llama.cpp would ignore): the export folds the ratio into attn_q_norm, the import
// records the scalar llama.cpp uses, and the imported model's logits equal the original's
// to float32 rounding.
func TestGGUFQueryScaleFold(t *testing.T) {
	dir := t.TempDir()
	src, err := format.Open(convertDir(t, goldenADir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	meta := src.Meta
	meta.Model.Text.QueryPreAttnScalar = 50 // head_dim is 32
	model := filepath.Join(dir, "qpas.gmt")
	w, err := format.Create(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range src.Tensors() {
		err := w.WriteTensor(ts.Name, ts.DType, ts.Shape, ts.Scale, func(d io.Writer) error { _, err := d.Write(ts.Data); return err })
		if err != nil {
			t.Fatal(err)
		}
	}
	w.SetMetadata(&meta)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	g, back := filepath.Join(dir, "q.gguf"), filepath.Join(dir, "back.gmt")
	stdout := gt1(t, "export", "gguf", model, "-o", g, "--json")
	var rep struct {
		Fold float64 `json:"query_scale_folded"`
	}
	json.Unmarshal([]byte(stdout), &rep)
	if want := math.Sqrt(32.0 / 50); math.Abs(rep.Fold-want) > 1e-12 {
		t.Errorf("folded query scale %v, want sqrt(32/50) = %v", rep.Fold, want)
	}
	gt1(t, "import", "gguf", g, "-o", back, "-q")
	bf, err := format.Open(back, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := bf.Meta.Model.Text.QueryPreAttnScalar; q != 32 {
		t.Errorf("imported query_pre_attn_scalar %v, want 32 (llama.cpp's head_dim)", q)
	}
	bf.Close()
	ids := filepath.Join(dir, "ids.json")
	b, _ := json.Marshal(goldenIDs(t, goldenADir))
	os.WriteFile(ids, b, 0o644)
	var logits [2][]float32
	for i, m := range []string{model, back} {
		out := filepath.Join(dir, fmt.Sprintf("l%d.safetensors", i))
		gt1(t, "logits", "--model", m, "--ids-file", ids, "-o", out)
		v, _ := readF32Safetensors(t, out)
		logits[i] = v["logits"]
	}
	var md, mw float64
	for i, w := range logits[0] {
		md = max(md, math.Abs(float64(logits[1][i])-float64(w)))
		mw = max(mw, math.Abs(float64(w)))
	}
	t.Logf("logits after the fold: max diff / max |logit| = %.3g", md/mw)
	if md == 0 || !(md/mw <= 1e-5) {
		t.Errorf("logits after the fold: norm_err %.3g, want in (0, 1e-5]", md/mw)
	}
}
