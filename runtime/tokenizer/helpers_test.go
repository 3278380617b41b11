package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const testdataDir = "../../testdata"

// readZst returns the decompressed contents of a testdata file.
func readZst(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer dec.Close()
	out, err := dec.DecodeAll(b, nil)
	if err != nil {
		tb.Fatalf("decompress %s: %v", name, err)
	}
	return out
}

var gemma struct {
	once             sync.Once
	tokJSON, cfgJSON []byte
	tok              *Tokenizer
	err              error
}

// gemmaFiles returns the uncompressed Gemma 3 tokenizer.json and tokenizer_config.json.
func gemmaFiles(tb testing.TB) (tokJSON, cfgJSON []byte) {
	tb.Helper()
	gemmaTokenizer(tb)
	return gemma.tokJSON, gemma.cfgJSON
}

// gemmaTokenizer loads the Gemma 3 tokenizer once per test binary.
func gemmaTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	gemma.once.Do(func() {
		gemma.tokJSON = readZst(tb, "gemma3-tokenizer/tokenizer.json.zst")
		gemma.cfgJSON = readZst(tb, "gemma3-tokenizer/tokenizer_config.json.zst")
		gemma.tok, gemma.err = Load(gemma.tokJSON, gemma.cfgJSON)
	})
	if gemma.err != nil {
		tb.Fatalf("Load(gemma 3) = %v", gemma.err)
	}
	if gemma.tok == nil {
		tb.Fatal("gemma 3 tokenizer files could not be read")
	}
	return gemma.tok
}

type encodeCase struct {
	Category         string  `json:"category"`
	Text             string  `json:"text"`
	AddSpecialTokens bool    `json:"add_special_tokens"`
	IDs              []int32 `json:"ids"`
	Decoded          string  `json:"decoded"`
}

type chatCase struct {
	Messages            []Message `json:"messages"`
	AddGenerationPrompt bool      `json:"add_generation_prompt"`
	Text                string    `json:"text"`
	IDs                 []int32   `json:"ids"`
}

// readJSONL decodes every line of a testdata JSONL file.
func readJSONL[T any](tb testing.TB, name string) []T {
	tb.Helper()
	f, err := os.Open(filepath.Join(testdataDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s:%d: %v", name, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no cases", name)
	}
	return out
}
