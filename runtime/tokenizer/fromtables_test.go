package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestMain removes the model file gemmaModelFile writes.
func TestMain(m *testing.M) {
	code := m.Run()
	if gemmaFile.dir != "" {
		os.RemoveAll(gemmaFile.dir)
	}
	os.Exit(code)
}

var gemmaFile struct {
	once     sync.Once
	dir      string
	path     string // the tables only
	withJSON string // the tables and the JSON files
	err      error
}

// gemmaModelFile writes, once per test binary, a model file without tensors that stores the
// Gemma 3 tokenizer's tables, and (when withJSON) one that also embeds its JSON files.
func gemmaModelFile(tb testing.TB, withJSON bool) string {
	tb.Helper()
	tok := gemmaTokenizer(tb)
	gemmaFile.once.Do(func() {
		gemmaFile.dir, gemmaFile.err = os.MkdirTemp("", "gemmatool-tokenizer-test")
		if gemmaFile.err == nil {
			gemmaFile.path = filepath.Join(gemmaFile.dir, "tok.gmt")
			gemmaFile.err = writeTokenizerFile(gemmaFile.path, nil, nil, tok.Tables())
		}
	})
	if gemmaFile.err != nil {
		tb.Fatal(gemmaFile.err)
	}
	if !withJSON {
		return gemmaFile.path
	}
	if gemmaFile.withJSON == "" {
		p := filepath.Join(gemmaFile.dir, "tok-json.gmt")
		if err := writeTokenizerFile(p, gemma.tokJSON, gemma.cfgJSON, tok.Tables()); err != nil {
			tb.Fatal(err)
		}
		gemmaFile.withJSON = p
	}
	return gemmaFile.withJSON
}

// writeTokenizerFile writes a model file without tensors holding tables and, when tokJSON is
// not nil, the tokenizer files.
func writeTokenizerFile(path string, tokJSON, cfgJSON []byte, tables *format.TokenizerTables) error {
	w, err := format.Create(path)
	if err != nil {
		return err
	}
	w.SetMetadata(&format.Metadata{})
	if tokJSON != nil {
		if err := errors.Join(w.AddFile("tokenizer.json", tokJSON), w.AddFile("tokenizer_config.json", cfgJSON)); err != nil {
			w.Abort()
			return err
		}
	}
	if err := w.SetTokenizer(tables); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// tablesTokenizer loads the tokenizer of the Gemma 3 model file from its tables.
func tablesTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	f, err := format.Open(gemmaModelFile(tb, false), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tables, err := f.Tokenizer()
	if err != nil || tables == nil {
		tb.Fatalf("Tokenizer() = %v, %v; want the stored tables", tables, err)
	}
	tok, err := FromTables(tables)
	if err != nil {
		tb.Fatalf("FromTables = %v", err)
	}
	return tok
}

// TestTablesMatchJSON: the Gemma 3 tokenizer built from a model file's tables encodes and
// decodes the golden cases and a long text exactly as the one parsed from tokenizer.json, and
// agrees on every id, flag, special token and the chat template.
func TestTablesMatchJSON(t *testing.T) {
	ref := gemmaTokenizer(t)
	tok := tablesTokenizer(t)
	if tok.VocabSize() != 262145 || tok.VocabSize() != ref.VocabSize() {
		t.Fatalf("VocabSize() = %d, JSON tokenizer %d, want 262145", tok.VocabSize(), ref.VocabSize())
	}
	for id := int32(-1); id <= int32(ref.VocabSize()); id++ {
		s1, ok1 := tok.Token(id)
		s2, ok2 := ref.Token(id)
		if s1 != s2 || ok1 != ok2 || tok.IsSpecial(id) != ref.IsSpecial(id) {
			t.Fatalf("id %d: Token = %q, %v, special %v; JSON tokenizer %q, %v, %v", id, s1, ok1, tok.IsSpecial(id), s2, ok2, ref.IsSpecial(id))
		}
		if ok2 {
			if got, ok := tok.ID(s2); !ok || got != id {
				t.Fatalf("ID(%q) = %d, %v, want %d", s2, got, ok, id)
			}
		}
	}
	if !slices.Equal(tok.SpecialIDs(), ref.SpecialIDs()) || !slices.Equal(tok.StopIDs(), ref.StopIDs()) ||
		tok.BOS() != ref.BOS() || tok.EOS() != ref.EOS() || tok.EndOfTurn() != ref.EndOfTurn() {
		t.Errorf("special ids %v stop %v bos %d eos %d eot %d; JSON tokenizer %v %v %d %d %d", tok.SpecialIDs(), tok.StopIDs(),
			tok.BOS(), tok.EOS(), tok.EndOfTurn(), ref.SpecialIDs(), ref.StopIDs(), ref.BOS(), ref.EOS(), ref.EndOfTurn())
	}
	if tok.ChatTemplate() != ref.ChatTemplate() || !tok.HasGemma3Template() {
		t.Errorf("chat template differs or is not recognised (HasGemma3Template %v)", tok.HasGemma3Template())
	}
	if tok.wordSplit != ref.wordSplit || !slices.Equal(tok.crossing, ref.crossing) || len(tok.runes) != len(ref.runes) {
		t.Errorf("word split %v %v, runes %d; JSON tokenizer %v %v, %d", tok.wordSplit, tok.crossing, len(tok.runes), ref.wordSplit, ref.crossing, len(ref.runes))
	}
	for i, c := range readJSONL[encodeCase](t, "tokenizer/encode.jsonl") {
		if got := tok.Encode(c.Text, c.AddSpecialTokens); !slices.Equal(got, c.IDs) {
			t.Errorf("case %d: Encode(%q, %v) = %v, want %v", i, c.Text, c.AddSpecialTokens, got, c.IDs)
		}
		for _, skip := range []bool{false, true} {
			if got, want := tok.Decode(c.IDs, skip), ref.Decode(c.IDs, skip); got != want {
				t.Errorf("case %d: Decode(%v, %v) = %q, want %q", i, c.IDs, skip, got, want)
			}
		}
	}
	for i, c := range readJSONL[chatCase](t, "tokenizer/chat.jsonl") {
		if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) {
			t.Errorf("chat case %d: Encode = %v, want %v", i, got, c.IDs)
		}
	}
	text := brownText(t)
	want := ref.Encode(text, true)
	if got := tok.Encode(text, true); !slices.Equal(got, want) {
		t.Errorf("Encode(Brown validation text) differs from the JSON tokenizer's (%d vs %d ids)", len(got), len(want))
	}
	if got, want := tok.Decode(want, false), ref.Decode(want, false); got != want {
		t.Error("Decode(Brown validation ids) differs from the JSON tokenizer's")
	}
	if !tok.Tables().Equal(ref.Tables()) {
		t.Error("Tables() of the loaded tables differ from the JSON tokenizer's")
	}
}

// TestTablesSynth: small tokenizers (merges, added tokens inside and outside the vocabulary,
// special tokens, no config) survive Tables → FromTables.
func TestTablesSynth(t *testing.T) {
	s := synth{vocab: []string{"a", "b", "ab", "▁", "▁a", "abab", "c>", ">▁</"}, merges: [][2]string{{"a", "b"}, {"▁", "a"}, {"ab", "ab"}},
		added: []string{"<x>", "\n\n"}, special: []string{"c>"}}
	ref := s.load(t)
	tok, err := FromTables(ref.Tables())
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"", "a b abab", "ab<x>\n\n\nc>", "\xff日本", "<bos>x", ">  </ab"} {
		for _, special := range []bool{false, true} {
			got, want := tok.Encode(text, special), ref.Encode(text, special)
			if !slices.Equal(got, want) {
				t.Errorf("Encode(%q, %v) = %v, want %v", text, special, got, want)
			}
			if g, w := tok.Decode(want, true), ref.Decode(want, true); g != w {
				t.Errorf("Decode(%v, true) = %q, want %q", want, g, w)
			}
		}
	}
	if tok.EndOfTurn() != tok.EOS() || tok.ChatTemplate() != "" {
		t.Errorf("EndOfTurn %d EOS %d template %q: want EOS and no template without a config", tok.EndOfTurn(), tok.EOS(), tok.ChatTemplate())
	}
}

// TestFromTablesRejects: what the file format cannot check is an error, not a wrong tokenizer.
func TestFromTablesRejects(t *testing.T) {
	base := synth{vocab: []string{"a", "b", "ab"}, merges: [][2]string{{"a", "b"}}}.load(t).Tables()
	cases := []struct {
		name string
		edit func(tb *format.TokenizerTables)
		want string
	}{
		{"duplicate token", func(tb *format.TokenizerTables) { tb.Tokens[261] = tb.Tokens[260] }, "appears twice"},
		{"no byte token", func(tb *format.TokenizerTables) { tb.Tokens[4] = "<0xGG>" }, "byte fallback token <0x00>"},
		{"merge of a free id", func(tb *format.TokenizerTables) {
			tb.Tokens = append(tb.Tokens, "")
			tb.Flags = append(tb.Flags, 0)
			tb.Merges[0].Merged = int32(len(tb.Tokens) - 1)
		}, "names an id"},
		{"token without flags", func(tb *format.TokenizerTables) { tb.Flags[260] = 0 }, "no flags"},
		{"bos out of range", func(tb *format.TokenizerTables) { tb.BOS = 1 << 30 }, "is no token"},
		{"flags length", func(tb *format.TokenizerTables) { tb.Flags = tb.Flags[:1] }, "flags"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := *base
			tb.Tokens, tb.Flags, tb.Merges = slices.Clone(base.Tokens), slices.Clone(base.Flags), slices.Clone(base.Merges)
			c.edit(&tb)
			_, err := FromTables(&tb)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("FromTables = %v, want ErrFormat containing %q", err, c.want)
			}
		})
	}
}

// BenchmarkLoadModelFile loads the Gemma 3 tokenizer from a model file: "json" decompresses
// and parses the embedded tokenizer.json and tokenizer_config.json (files without the
// tokenizer section), "tables" reads the section. Both include opening the file.
func BenchmarkLoadModelFile(b *testing.B) {
	path := gemmaModelFile(b, true)
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := format.Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			tj, _, err := f.EmbeddedFile("tokenizer.json")
			if err != nil {
				b.Fatal(err)
			}
			tc, _, err := f.EmbeddedFile("tokenizer_config.json")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Load(tj, tc); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("tables", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := format.Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			tables, err := f.Tokenizer()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := FromTables(tables); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
