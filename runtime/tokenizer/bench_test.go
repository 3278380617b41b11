package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkLoad(b *testing.B) {
	tokJSON, cfgJSON := gemmaFiles(b)
	b.SetBytes(int64(len(tokJSON)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(tokJSON, cfgJSON); err != nil {
			b.Fatal(err)
		}
	}
}

func brownText(tb testing.TB) string {
	tb.Helper()
	text, err := os.ReadFile(filepath.Join(testdataDir, "models/brown-val.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	return string(text)
}

// BenchmarkEncode reports bytes/s and tokens/s over the Brown validation text.
func BenchmarkEncode(b *testing.B) {
	tok := gemmaTokenizer(b)
	text := brownText(b)
	n := len(tok.Encode(text, false))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(text, false)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkDecode(b *testing.B) {
	tok := gemmaTokenizer(b)
	text := brownText(b)
	ids := tok.Encode(text, false)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		tok.Decode(ids, false)
	}
	b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
