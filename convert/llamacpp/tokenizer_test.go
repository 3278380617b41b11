package llamacpp

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

func readZst(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type encodeCase struct {
	Text string  `json:"text"`
	Add  bool    `json:"add_special_tokens"`
	IDs  []int32 `json:"ids"`
}

func encodeCases(t testing.TB) []encodeCase {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "tokenizer", "encode.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []encodeCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var c encodeCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestTokenizerWithoutMerges rebuilds the Gemma 3 tokenizer from tokens, scores and types
// alone, as for a GGUF written by another tool (no tokenizer.ggml.merges): merges derived
// from the scores that Export writes reproduce the BPE on every golden case.
func TestTokenizerWithoutMerges(t *testing.T) {
	if testing.Short() {
		t.Skip("derives 514,906 merges")
	}
	td := filepath.Join("..", "..", "testdata", "gemma3-tokenizer")
	tj := readZst(t, filepath.Join(td, "tokenizer.json.zst"))
	tc := readZst(t, filepath.Join(td, "tokenizer_config.json.zst"))
	v, err := vocabFromTokenizer(tj, tc, 262144, 2, []int32{1, 106}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, withMerges := range []bool{true, false} {
		w := *v
		if !withMerges {
			w.merges = nil
		}
		j, c, err := tokenizerFiles(&w)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokenizer.Load(j, c)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for _, e := range encodeCases(t) {
			if got := tok.Encode(e.Text, e.Add); !slices.Equal(got, e.IDs) {
				bad++
				t.Errorf("merges %v: Encode(%q) = %v, want %v", withMerges, e.Text, got, e.IDs)
			}
		}
		if !tok.HasGemma3Template() {
			t.Errorf("merges %v: chat template lost", withMerges)
		}
		t.Logf("merges from the file %v: %d mismatches", withMerges, bad)
	}
}
