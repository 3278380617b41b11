package main

// Checks against llama.cpp itself: the prebuilt libllama (npm package @node-llama-cpp/linux-x64, unpacked) in
// /tmp/llama-peer (or $LLAMA_PEER_WORK). Every test here skips when it is absent, when gcc is
// missing, and in -short mode.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gemmatool/gemmatool/format/gguf"
)

func peerWork() string {
	if d := os.Getenv("LLAMA_PEER_WORK"); d != "" {
		return d
	}
	return "/tmp/llama-peer"
}

var peerBuild struct {
	once      sync.Once
	dir, path string
	skip      string
	err       error
}

// llamaPeer returns the path of llamacpp_peer (testdata/llamacpp_peer.c) built against the
// llama.cpp in peerWork(), or skips the test.
func llamaPeer(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("llama.cpp comparison")
	}
	peerBuild.once.Do(func() {
		w := peerWork()
		libs, _ := filepath.Glob(filepath.Join(w, "nlc-linux-x64-*", "package", "bins", "linux-x64", "libllama.v*.so"))
		srcs, _ := filepath.Glob(filepath.Join(w, "llama.cpp-src-*", "include", "llama.h"))
		gcc, gccErr := exec.LookPath("gcc")
		switch {
		case len(libs) == 0 || len(srcs) == 0:
			peerBuild.skip = "llama.cpp not set up in " + w + " (see the README, Interop with llama.cpp and ollama)"
			return
		case gccErr != nil:
			peerBuild.skip = "no gcc to build the llama.cpp driver"
			return
		}
		libdir := filepath.Dir(libs[0])
		src := filepath.Dir(filepath.Dir(srcs[0]))
		ggml, _ := filepath.Glob(filepath.Join(libdir, "libggml.v*.so"))
		if len(ggml) == 0 {
			peerBuild.skip = "no libggml in " + libdir
			return
		}
		if peerBuild.dir, peerBuild.err = os.MkdirTemp("", "gemmatool-peer-*"); peerBuild.err != nil {
			return
		}
		peerBuild.path = filepath.Join(peerBuild.dir, "llamacpp_peer")
		cmd := exec.Command(gcc, "-O2", "-Wall", "-o", peerBuild.path, "testdata/llamacpp_peer.c",
			"-I", filepath.Join(src, "include"), "-I", filepath.Join(src, "ggml", "include"),
			libs[0], ggml[0], filepath.Join(libdir, "libggml-base.so"), "-ldl", "-lm", "-Wl,-rpath,"+libdir)
		if out, err := cmd.CombinedOutput(); err != nil {
			peerBuild.err = fmt.Errorf("building llamacpp_peer: %v\n%s", err, out)
		}
	})
	if peerBuild.skip != "" {
		t.Skip(peerBuild.skip)
	}
	if peerBuild.err != nil {
		t.Fatal(peerBuild.err)
	}
	return peerBuild.path
}

func runPeer(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return string(out)
}

func gt1(t testing.TB, args ...string) string {
	t.Helper()
	stdout, stderr, code := cliRun(t, "", args...)
	if code != 0 {
		t.Fatalf("gemmatool %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// TestLlamaCppTokenize loads the exported vocabulary in llama.cpp and tokenizes every case
// of testdata/tokenizer (special tokens parsed, as Hugging Face splits added tokens): the ids
// must equal the golden ones, except for the one case that uses <image_soft_token>, an id
// (262144) beyond a text-only model's 262,144 embedding rows that llama.cpp cannot hold.
func TestLlamaCppTokenize(t *testing.T) {
	peer := llamaPeer(t)
	dir := t.TempDir()
	g := filepath.Join(dir, "brown.gguf")
	gt1(t, "export", "gguf", brownTiny(t), "-o", g, "-q")
	type tc struct {
		text string
		add  bool
		ids  []int32
	}
	var cases []tc
	for _, l := range readJSONL(t, "../../testdata/tokenizer/encode.jsonl") {
		var e struct {
			Text string  `json:"text"`
			Add  bool    `json:"add_special_tokens"`
			IDs  []int32 `json:"ids"`
		}
		json.Unmarshal(l, &e)
		cases = append(cases, tc{e.Text, e.Add, e.IDs})
	}
	for _, l := range readJSONL(t, "../../testdata/tokenizer/chat.jsonl") {
		var e struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		}
		json.Unmarshal(l, &e)
		cases = append(cases, tc{e.Text, false, e.IDs})
	}
	var in bytes.Buffer
	for _, c := range cases {
		binary.Write(&in, binary.LittleEndian, uint32(len(c.text)))
		in.WriteString(c.text)
		if c.add {
			in.WriteByte(1)
		} else {
			in.WriteByte(0)
		}
	}
	inPath := filepath.Join(dir, "cases.bin")
	if err := os.WriteFile(inPath, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(runPeer(t, peer, "tokenize", g, inPath), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("llama.cpp tokenized %d cases, want %d", len(lines), len(cases))
	}
	same, beyond := 0, 0
	for i, c := range cases {
		if slices.ContainsFunc(c.ids, func(id int32) bool { return id >= 262144 }) {
			beyond++
			continue
		}
		var got []int32
		for _, f := range strings.Fields(lines[i]) {
			v, _ := strconv.Atoi(f)
			got = append(got, int32(v))
		}
		if !slices.Equal(got, c.ids) {
			t.Errorf("llama.cpp tokenize(%q, bos %v) = %v, want %v", c.text, c.add, got, c.ids)
			continue
		}
		same++
	}
	t.Logf("llama.cpp: %d of %d cases identical, %d skipped (ids beyond the vocabulary)", same, len(cases), beyond)
	if beyond != 1 {
		t.Errorf("%d cases use ids beyond the vocabulary, want 1", beyond)
	}
}

// TestLlamaCppQuantizeIdentical checks that gemmatool's Q4_0 and Q8_0 (and with
// GEMMATOOL_PEER_FULL, Q4_K and Q6_K), exported, hold the very bytes llama.cpp's quantizer
// writes from an F16 export of the same weights: --pure (every matrix, the embedding
// included, in the type) except for Q8_0, whose default mix is all Q8_0.
func TestLlamaCppQuantizeIdentical(t *testing.T) {
	llamaPeer(t)
	bin := filepath.Join(peerWork(), "bin", "llama_peer")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no " + bin)
	}
	dir := t.TempDir()
	ck := mustUnpack(t, "gemma3-brown-tiny")
	f16 := filepath.Join(dir, "f16.gmt")
	gt1(t, "convert", ck, "-o", f16, "--dtype", "f16", "-q")
	f16g := filepath.Join(dir, "f16.gguf")
	gt1(t, "export", "gguf", f16, "-o", f16g, "-q")
	for _, c := range []struct {
		typ   string
		flags []string
		peer  []string
	}{
		{"q4_0", []string{"--embed", "q4_0"}, []string{"Q4_0", "--pure"}},
		{"q8_0", nil, []string{"Q8_0"}},
		{"q4_k", []string{"--embed", "q4_k"}, []string{"Q4_K_M", "--pure"}},
		{"q6_k", []string{"--embed", "q6_k"}, []string{"Q6_K", "--pure"}},
	} {
		if strings.HasSuffix(c.typ, "_k") && os.Getenv("GEMMATOOL_PEER_FULL") == "" {
			continue // llama.cpp's k-quant search takes half a minute a type; GEMMATOOL_PEER_FULL=1 runs it
		}
		t.Run(c.typ, func(t *testing.T) {
			ours, oursG, theirs := filepath.Join(dir, c.typ+".gmt"), filepath.Join(dir, c.typ+".gguf"), filepath.Join(dir, c.typ+"-llama.gguf")
			gt1(t, append([]string{"quantize", f16, "-o", ours, "--type", c.typ, "-q"}, c.flags...)...)
			gt1(t, "export", "gguf", ours, "-o", oursG, "-q")
			runPeer(t, append(append([]string{bin, "quantize", f16g, theirs}, c.peer...), "-t", "2", "--quiet")...)
			n, quant := compareGGUFTensors(t, oursG, theirs)
			t.Logf("%s: %d tensors byte-identical (%d quantized)", c.typ, n, quant)
			if quant != 43 {
				t.Errorf("%d quantized tensors compared, want 43 (6 layers × 7 matrices + the embedding)", quant)
			}
		})
	}
}

// compareGGUFTensors requires the same tensors with the same type, dimensions and bytes in
// both files; it returns how many were compared and how many of them were quantized.
func compareGGUFTensors(t testing.TB, a, b string) (n, quant int) {
	t.Helper()
	fa, err := gguf.Open(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := gguf.Open(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if len(fa.Tensors) != len(fb.Tensors) {
		t.Errorf("%d tensors vs %d", len(fa.Tensors), len(fb.Tensors))
	}
	for _, ta := range fa.Tensors {
		tb, ok := fb.Tensor(ta.Name)
		if !ok {
			t.Errorf("tensor %q missing from llama.cpp's file", ta.Name)
			continue
		}
		if ta.Type != tb.Type || !slices.Equal(ta.Ne, tb.Ne) {
			t.Errorf("tensor %q: ours %v %v, llama.cpp's %v %v", ta.Name, ta.Type, ta.Ne, tb.Type, tb.Ne)
			continue
		}
		x, _ := io.ReadAll(fa.TensorReader(ta))
		y, _ := io.ReadAll(fb.TensorReader(tb))
		if !bytes.Equal(x, y) {
			diff := 0
			for i := range x {
				if x[i] != y[i] {
					diff++
				}
			}
			t.Errorf("tensor %q (%v): %d of %d bytes differ", ta.Name, ta.Type, diff, len(x))
			continue
		}
		n++
		if ta.Type != gguf.F32 && ta.Type != gguf.F16 && ta.Type != gguf.BF16 {
			quant++
		}
	}
	return n, quant
}

// peerChunks is the number of perplexity windows compared with llama.cpp (each BOS + 255
// tokens of brown-val.txt): 2 by default, to keep the test suite short on a shared 2-core
// machine; GEMMATOOL_PEER_CHUNKS=N sets another count (the README quotes 20).
func peerChunks() int {
	if n, err := strconv.Atoi(os.Getenv("GEMMATOOL_PEER_CHUNKS")); err == nil && n > 0 {
		return n
	}
	return 2
}

// TestLlamaCppPerplexity loads the bundled model's BF16, Q8_0 and Q4_0 exports in llama.cpp
// and compares its perplexity over the first windows of brown-val.txt (ctx 256) with
// gemmatool's on the same GGUF (through the importer): within 1e-3 relative.
func TestLlamaCppPerplexity(t *testing.T) {
	peer := llamaPeer(t)
	dir := t.TempDir()
	ck := mustUnpack(t, "gemma3-brown-tiny")
	ids := filepath.Join(dir, "brown.ids")
	text, err := os.ReadFile(brownText)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliRun(t, string(text), "tokenize", "--model", brownTiny(t), "--no-bos", "-")
	if code != 0 {
		t.Fatalf("tokenize: %s", stderr)
	}
	if err := os.WriteFile(ids, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"bf16", "q8_0", "q4_0"} {
		t.Run(typ, func(t *testing.T) {
			model := filepath.Join(dir, typ+".gmt")
			ggufModel(t, ck, typ, model)
			g := filepath.Join(dir, typ+".gguf")
			gt1(t, "export", "gguf", model, "-o", g, "-q")
			var doc struct {
				Perplexity struct {
					PPL    float64 `json:"ppl"`
					Tokens int     `json:"tokens"`
				} `json:"perplexity"`
			}
			out := gt1(t, "verify", "perplexity", "--model", g, "--text", brownText, "--ctx", "256", "--chunks", strconv.Itoa(peerChunks()), "--json")
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("verify perplexity: %v: %s", err, out)
			}
			ours := doc.Perplexity
			var theirs struct {
				N   int     `json:"n"`
				PPL float64 `json:"ppl"`
			}
			out = runPeer(t, peer, "ppl", g, ids, "256", strconv.Itoa(peerChunks()))
			if err := json.Unmarshal([]byte(out), &theirs); err != nil {
				t.Fatalf("llamacpp_peer ppl: %v: %s", err, out)
			}
			rel := math.Abs(ours.PPL-theirs.PPL) / theirs.PPL
			t.Logf("%s: perplexity gemmatool %.4f, llama.cpp %.4f over %d tokens: relative difference %.2e", typ, ours.PPL, theirs.PPL, theirs.N, rel)
			if ours.Tokens != theirs.N || !(rel <= 1e-3) {
				t.Errorf("%s: gemmatool %.6f over %d tokens, llama.cpp %.6f over %d: relative %.3g, want ≤ 1e-3", typ, ours.PPL, ours.Tokens, theirs.PPL, theirs.N, rel)
			}
		})
	}
}

// TestLlamaCppMMProj loads golden case b's exported projector file with llama.cpp's own clip
// loader and encodes the reference pixel values: the image embeddings must match gemmatool's
// (the `image_features` of `logits`). The prebuilt llama.cpp has no multimodal library, so the
// driver (testdata/llamacpp_clip.cpp) is built from the llama.cpp sources by hand and named by
// GEMMATOOL_LLAMACPP_CLIP; the README gives the commands. Skipped without it.
func TestLlamaCppMMProj(t *testing.T) {
	drv := os.Getenv("GEMMATOOL_LLAMACPP_CLIP")
	if drv == "" || testing.Short() {
		t.Skip("GEMMATOOL_LLAMACPP_CLIP names no llama.cpp clip driver")
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "b.gmt")
	ggufModel(t, goldenBDir, "bf16", model)
	mm := filepath.Join(dir, "mmproj.gguf")
	gt1(t, "export", "gguf", model, "-o", filepath.Join(dir, "b.gguf"), "--mmproj", mm, "-q")
	pv, shapes := readF32Safetensors(t, filepath.Join(goldenBDir, "pixel_values.safetensors"))
	px := pv["pixel_values"]
	size := int(shapes["pixel_values"][3])
	var raw bytes.Buffer
	binary.Write(&raw, binary.LittleEndian, px)
	pxPath, outPath := filepath.Join(dir, "px.f32"), filepath.Join(dir, "emb.f32")
	os.WriteFile(pxPath, raw.Bytes(), 0o644)
	runPeer(t, drv, mm, pxPath, strconv.Itoa(size), outPath)
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	theirs := make([]float32, len(b)/4)
	binary.Read(bytes.NewReader(b), binary.LittleEndian, theirs)
	ids := filepath.Join(dir, "ids.json")
	j, _ := json.Marshal(goldenIDs(t, goldenBDir))
	os.WriteFile(ids, j, 0o644)
	lo := filepath.Join(dir, "logits.safetensors")
	gt1(t, "logits", "--model", model, "--ids-file", ids, "--pixel-values", filepath.Join(goldenBDir, "pixel_values.safetensors"), "-o", lo)
	got, _ := readF32Safetensors(t, lo)
	ours := got["image_features"]
	if len(ours) != len(theirs) {
		t.Fatalf("llama.cpp gives %d embedding values, gemmatool %d", len(theirs), len(ours))
	}
	var md, mw float64
	for i := range ours {
		md = max(md, math.Abs(float64(ours[i])-float64(theirs[i])))
		mw = max(mw, math.Abs(float64(ours[i])))
	}
	t.Logf("image embeddings: max |gemmatool − llama.cpp| / max |gemmatool| = %.3g over %d values", md/mw, len(ours))
	if !(md/mw <= 5e-3) {
		t.Errorf("image embeddings differ: norm_err %.3g, want ≤ 5e-3 (llama.cpp evaluates GELU through an f16 table)", md/mw)
	}
}
