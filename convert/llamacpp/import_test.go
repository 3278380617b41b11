package llamacpp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/format/gguf"
)

// goldenGGUF converts golden case a and exports it; it returns the GGUF's path.
func goldenGGUF(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	gmt := filepath.Join(dir, "a.gmt")
	if _, err := convert.Run(filepath.Join("..", "..", "testdata", "a_text_1b_like"), gmt, convert.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(gmt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(dir, "a.gguf")
	if _, err := Export(f, out, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// rewrite copies the GGUF at src to dst with its pairs and tensor list edited.
func rewrite(t testing.TB, src, dst string, editKV func([]gguf.KV) []gguf.KV, editT func([]gguf.TensorInfo) []gguf.TensorInfo) {
	t.Helper()
	f, err := gguf.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kvs := editKV(append([]gguf.KV(nil), f.KV...))
	infos := editT(append([]gguf.TensorInfo(nil), f.Tensors...))
	w, err := gguf.Create(dst, kvs, infos)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range w.Tensors() {
		orig, ok := f.Tensor(ti.Name)
		err := w.WriteTensor(ti.Name, func(d io.Writer) error {
			if ok && orig.Size == ti.Size {
				_, err := io.Copy(d, f.TensorReader(orig))
				return err
			}
			_, err := d.Write(make([]byte, ti.Size))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func setKV(kvs []gguf.KV, kv gguf.KV) []gguf.KV {
	for i := range kvs {
		if kvs[i].Key == kv.Key {
			kvs[i] = kv
			return kvs
		}
	}
	return append(kvs, kv)
}

func dropKV(kvs []gguf.KV, key string) []gguf.KV {
	var out []gguf.KV
	for _, kv := range kvs {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	return out
}

// TestImportRejects edits a valid export into files the importer must refuse with a one-line
// error, leaving no output file.
func TestImportRejects(t *testing.T) {
	src := goldenGGUF(t)
	same := func(k []gguf.KV) []gguf.KV { return k }
	sameT := func(ts []gguf.TensorInfo) []gguf.TensorInfo { return ts }
	retype := func(name string, typ gguf.Type) func([]gguf.TensorInfo) []gguf.TensorInfo {
		return func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			for i := range ts {
				if ts[i].Name == name {
					ts[i].Type = typ
				}
			}
			return ts
		}
	}
	cases := []struct {
		name  string
		kv    func([]gguf.KV) []gguf.KV
		ts    func([]gguf.TensorInfo) []gguf.TensorInfo
		wantS string
	}{
		{"llama architecture", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.String("general.architecture", "llama")) }, sameT, `"llama"`},
		{"no block_count", func(k []gguf.KV) []gguf.KV { return dropKV(k, "gemma3.block_count") }, sameT, "block_count"},
		{"huge block_count", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.Uint32("gemma3.block_count", 1<<30)) }, sameT, "block_count"},
		{"block_count as string", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.String("gemma3.block_count", "8")) }, sameT, "block_count"},
		{"more layers than tensors", func(k []gguf.KV) []gguf.KV {
			k = setKV(k, gguf.Uint32("gemma3.block_count", 9))
			return dropKV(k, "gemma3.attention.sliding_window_pattern")
		}, sameT, "blk.8"},
		{"pattern of wrong length", func(k []gguf.KV) []gguf.KV {
			return setKV(k, gguf.Bools("gemma3.attention.sliding_window_pattern", []bool{true}))
		}, sameT, "sliding_window_pattern"},
		{"NaN epsilon", func(k []gguf.KV) []gguf.KV {
			return setKV(k, gguf.Float32("gemma3.attention.layer_norm_rms_epsilon", float32(nan())))
		}, sameT, "epsilon"},
		{"yarn rope", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.String("gemma3.rope.scaling.type", "yarn")) }, sameT, "yarn"},
		{"gpt2 tokenizer", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.String("tokenizer.ggml.model", "gpt2")) }, sameT, "gpt2"},
		{"bos beyond the vocabulary", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.Uint32("tokenizer.ggml.bos_token_id", 1<<30)) }, sameT, "bos_token_id"},
		{"scores of another length", func(k []gguf.KV) []gguf.KV { return setKV(k, gguf.Float32s("tokenizer.ggml.scores", []float32{1})) }, sameT, "scores"},
		{"duplicate token", func(k []gguf.KV) []gguf.KV {
			toks := make([]string, 512)
			for i := range toks {
				toks[i] = "x"
			}
			return dropKV(setKV(k, gguf.Strings("tokenizer.ggml.tokens", toks)), keySynthetic)
		}, sameT, "repeats"},
		{"merge of unknown tokens", func(k []gguf.KV) []gguf.KV {
			return dropKV(setKV(k, gguf.Strings("tokenizer.ggml.merges", []string{"zz qq"})), keySynthetic)
		}, sameT, "tokenizer"},
		{"type not read yet", same, retype("blk.0.attn_q.weight", gguf.Q5_0), "Q5_0"},
		{"quantized norm", same, retype("blk.0.attn_norm.weight", gguf.Q8_0), "blk.0.attn_norm.weight"},
		{"missing tensor", same, func(ts []gguf.TensorInfo) []gguf.TensorInfo { return ts[1:] }, "missing"},
		{"wrong shape", same, func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			for i := range ts {
				if ts[i].Name == "blk.0.attn_k.weight" {
					ts[i].Ne = []uint64{64, 64}
				}
			}
			return ts
		}, "shape"},
		{"untied output", same, func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			return append(ts, gguf.TensorInfo{Name: "output.weight", Ne: []uint64{64, 512}, Type: gguf.F32})
		}, "untied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			bad, out := filepath.Join(dir, "bad.gguf"), filepath.Join(dir, "out.gmt")
			rewrite(t, src, bad, c.kv, c.ts)
			_, err := Import(bad, out, ImportOptions{})
			if err == nil {
				t.Fatal("Import succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, c.wantS) || !strings.Contains(msg, "bad.gguf") {
				t.Errorf("Import error %q: want one line naming the file and %q", msg, c.wantS)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output exists after a failed import")
			}
		})
	}
	// A clean copy imports (the edits above are what breaks each case).
	dir := t.TempDir()
	rewrite(t, src, filepath.Join(dir, "ok.gguf"), same, sameT)
	if _, err := Import(filepath.Join(dir, "ok.gguf"), filepath.Join(dir, "ok.gmt"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// FuzzImportHeader gives arbitrary bytes to the GGUF reader and to the importer's
// configuration and tokenizer steps: no panic, and the sentinel errors of the reader.
func FuzzImportHeader(f *testing.F) {
	// Seed: golden a's metadata with one small tensor (the payloads do not matter here).
	g0, err := gguf.Open(goldenGGUF(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	infos := []gguf.TensorInfo{{Name: "token_embd.weight", Ne: []uint64{32, 512}, Type: gguf.Q4_0}}
	if _, err := gguf.Layout(infos, gguf.DefaultAlignment); err != nil {
		f.Fatal(err)
	}
	b, err := gguf.AppendHeader(nil, g0.KV, infos)
	g0.Close()
	if err != nil {
		f.Fatal(err)
	}
	for len(b)%gguf.DefaultAlignment != 0 {
		b = append(b, 0)
	}
	f.Add(append(b, make([]byte, infos[0].Size)...))
	lim := &gguf.Limits{MaxKV: 256, MaxTensors: 1024, MaxString: 1 << 16, MaxArray: 1 << 16, MaxHeader: 1 << 22}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := gguf.Read(bytes.NewReader(b), int64(len(b)), "fuzz.gguf", lim)
		if err != nil {
			if !gguf.IsFormatError(err) {
				t.Fatalf("reader error %v is not a sentinel", err)
			}
			return
		}
		if _, err := configFromGGUF(g); err != nil {
			return
		}
		v, err := readVocab(g)
		if err != nil || v == nil {
			return
		}
		tokenizerFiles(v)
	})
}

func nan() float64 { var z float64; return z / z }
