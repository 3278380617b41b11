package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// sampleTables is a small valid tokenizer: special tokens, a free id, an added token outside
// the vocabulary, one merge and a template.
func sampleTables() *TokenizerTables {
	return &TokenizerTables{
		Tokens: []string{"<pad>", "<eos>", "<bos>", "a", "b", "ab", "", "<x>", "▁"},
		Flags: []uint8{TokenVocab | TokenAdded | TokenSpecial, TokenVocab | TokenAdded | TokenSpecial,
			TokenVocab | TokenAdded | TokenSpecial, TokenVocab, TokenVocab, TokenVocab, 0, TokenAdded, TokenVocab},
		Merges:       []TokenMerge{{3, 4, 5}},
		Prefix:       []int32{2},
		BOS:          2,
		EOS:          1,
		EOT:          1,
		ChatTemplate: "{{ bos_token }}",
	}
}

// writeTokSample writes the sample file of writeSample with tokenizer tables.
func writeTokSample(t testing.TB, dir string, tables *TokenizerTables) string {
	t.Helper()
	path := filepath.Join(dir, "tok.gmt")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.SetMetadata(testMeta())
	f32 := []float32{1, -2, 3.5, 4, 5, 6}
	if err := w.WriteTensor("a", F32, []int64{2, 3}, 1, func(w io.Writer) error { _, err := w.Write(Float32Bytes(f32)); return err }); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFile("tokenizer.json", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTokenizer(tables); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokenizerRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := sampleTables()
	f, err := Open(writeTokSample(t, dir, want), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Major != 1 || f.Minor != 2 {
		t.Errorf("version %d.%d, want 1.2", f.Major, f.Minor)
	}
	got, err := f.Tokenizer()
	if err != nil || got == nil || !got.Equal(want) {
		t.Fatalf("Tokenizer() = %+v, %v; want %+v", got, err, want)
	}
	if err := f.VerifyChecksums(nil); err != nil {
		t.Error(err)
	}
	// A file without the section has no tables.
	g, err := Open(writeSample(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if tb, err := g.Tokenizer(); tb != nil || err != nil {
		t.Errorf("Tokenizer() of a file without the section = %v, %v; want nil, nil", tb, err)
	}
}

// TestUnknownSectionSkipped: a reader skips a section of a kind it does not know unless it is
// required; this is what lets a minor-version-1 reader open files with the tokenizer section.
func TestUnknownSectionSkipped(t *testing.T) {
	path := writeTokSample(t, t.TempDir(), sampleTables())
	for _, c := range []struct {
		flags uint32
		want  error
	}{{0, nil}, {sectionZstd, nil}, {sectionRequired, ErrUnsupported}} {
		p := corrupt(t, path, func(b []byte) []byte {
			return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
				if s.Kind == SectionTokenizer {
					s.Kind, s.Flags, s.Name = 99, c.flags, "future"
				}
				return stored
			})
		})
		f, err := Open(p, nil)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("section of kind 99, flags %#x: Open = %v, want %v", c.flags, err, c.want)
			continue
		}
		if f != nil {
			if tb, err := f.Tokenizer(); tb != nil || err != nil {
				t.Errorf("kind 99: Tokenizer() = %v, %v; want none", tb, err)
			}
			f.Close()
		}
	}
}

// tokEdit returns a corruption that rewrites the tokenizer section's bytes (checksums
// recomputed).
func tokEdit(fn func(b []byte) []byte) func(b []byte) []byte {
	return func(b []byte) []byte {
		return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
			if s.Kind != SectionTokenizer {
				return stored
			}
			out := fn(stored)
			s.Raw = int64(len(out))
			return out
		})
	}
}

func TestTokenizerSectionRejects(t *testing.T) {
	path := writeTokSample(t, t.TempDir(), sampleTables())
	le := binary.LittleEndian
	l, err := checkTokenizer(mustEncode(t, sampleTables()), func(off int64, f string, a ...any) error { return errors.New(f) })
	if err != nil {
		t.Fatal(err)
	}
	put32 := func(off int, v uint32) func(b []byte) []byte {
		return tokEdit(func(b []byte) []byte { le.PutUint32(b[off:], v); return b })
	}
	setByte := func(off int, v byte) func(b []byte) []byte {
		return tokEdit(func(b []byte) []byte { b[off] = v; return b })
	}
	cases := []struct {
		name, want string
		sentinel   error
		edit       func(b []byte) []byte
	}{
		{"flags", "section flags 0x1", ErrFormat, put32(0, 1)},
		{"no ids", "has 0 ids", ErrFormat, put32(4, 0)},
		{"2^31 ids", "ids, want 1..", ErrFormat, put32(4, 1<<31)},
		{"2^32-1 merges", "above the limit", ErrFormat, put32(8, 1<<32-1)},
		{"more merges than bytes", "need", ErrFormat, put32(8, 2)},
		{"prefix 17", "prefix", ErrFormat, tokEdit(func(b []byte) []byte { le.PutUint16(b[12:], 17); return b })},
		{"template 2^31", "chat template of", ErrFormat, put32(28, 1<<31)},
		{"token bytes 2^60", "token bytes for", ErrFormat, tokEdit(func(b []byte) []byte { le.PutUint64(b[32:], 1<<60); return b })},
		{"truncated", "need", ErrFormat, tokEdit(func(b []byte) []byte { return b[:len(b)-1] })},
		{"short header", "shorter than", ErrFormat, tokEdit(func(b []byte) []byte { return b[:12] })},
		{"first offset", "start at", ErrFormat, put32(l.offs, 1)},
		{"offsets decrease", "token 1 ends at", ErrFormat, put32(l.offs+8, 0)},
		{"unknown token flag", "unknown flags", ErrFormat, setByte(l.flagsOff+3, 0x80)},
		{"special not added", "special but not", ErrFormat, setByte(l.flagsOff+3, TokenVocab|TokenSpecial)},
		{"free id with flags", "non-empty exactly when", ErrFormat, setByte(l.flagsOff+6, TokenVocab)},
		{"token without flags", "non-empty exactly when", ErrFormat, setByte(l.flagsOff+3, 0)},
		{"token not UTF-8", "not UTF-8", ErrFormat, setByte(l.arenaOff, 0xff)},
		{"merge id out of range", "merge 0 names id", ErrFormat, put32(l.mergeOff, 1<<30)},
		{"merge of a free id", "merge 0 names id 6", ErrFormat, put32(l.mergeOff+8, 6)},
		{"negative merge id", "names id -1", ErrFormat, put32(l.mergeOff+4, 1<<32-1)},
		{"prefix id", "post-processor id", ErrFormat, put32(l.affixOff, 9)},
		{"bos", "bos id", ErrFormat, put32(16, 6)},
		{"end of turn", "end-of-turn id", ErrFormat, put32(24, 1<<31)},
		{"template not UTF-8", "chat template is not UTF-8", ErrFormat, setByte(l.tmplOff, 0xc0)},
		{"compressed", "want name", ErrFormat, func(b []byte) []byte {
			return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
				if s.Kind == SectionTokenizer {
					s.Flags = sectionZstd
				}
				return stored
			})
		}},
		{"required", "want name", ErrFormat, func(b []byte) []byte {
			return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
				if s.Kind == SectionTokenizer {
					s.Flags = sectionRequired
				}
				return stored
			})
		}},
		{"renamed", "want name", ErrFormat, func(b []byte) []byte {
			return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
				if s.Kind == SectionTokenizer {
					s.Name = "tok"
				}
				return stored
			})
		}},
		{"two sections", "two tokenizer sections", ErrFormat, func(b []byte) []byte {
			return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
				if s.Name == "tokenizer.json" {
					s.Kind, s.Flags, s.Name, s.Raw = SectionTokenizer, 0, "tokenizer", int64(len(stored))
				}
				return stored
			})
		}},
		{"checksum", "checksum mismatch", ErrChecksum, func(b []byte) []byte {
			return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
				if s.Kind == SectionTokenizer {
					s.CRC = 1
				}
				return stored
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(corrupt(t, path, c.edit), nil)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want %v containing %q", c.sentinel, c.want)
			}
			var fe *Error
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) || !errors.As(err, &fe) || fe.Offset <= 0 {
				t.Errorf("Open = %v, want %v containing %q with an offset", err, c.sentinel, c.want)
			}
		})
	}
}

func mustEncode(t testing.TB, tb *TokenizerTables) []byte {
	t.Helper()
	b, err := encodeTokenizer(tb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSetTokenizerRejects: the writer refuses tables the reader would refuse.
func TestSetTokenizerRejects(t *testing.T) {
	cases := map[string]func(tb *TokenizerTables){
		"flags length":      func(tb *TokenizerTables) { tb.Flags = tb.Flags[:2] },
		"no tokens":         func(tb *TokenizerTables) { tb.Tokens, tb.Flags = nil, nil },
		"merge of free id":  func(tb *TokenizerTables) { tb.Merges[0].Merged = 6 },
		"eos out of range":  func(tb *TokenizerTables) { tb.EOS = 100 },
		"token of 4097":     func(tb *TokenizerTables) { tb.Tokens[3] = strings.Repeat("a", 4097) },
		"17 suffix ids":     func(tb *TokenizerTables) { tb.Suffix = make([]int32, 17) },
		"invalid template":  func(tb *TokenizerTables) { tb.ChatTemplate = "\xff" },
		"empty valid token": func(tb *TokenizerTables) { tb.Tokens[4] = "" },
	}
	for name, edit := range cases {
		tb := sampleTables()
		edit(tb)
		w := &Writer{}
		if err := w.SetTokenizer(tb); err == nil {
			t.Errorf("%s: SetTokenizer succeeded, want an error", name)
		}
	}
}

// FuzzTokenizerSection: any section bytes are refused with an error or decode to tables that
// encode back to the same bytes.
func FuzzTokenizerSection(f *testing.F) {
	f.Add(mustEncode(f, sampleTables()))
	tb := sampleTables()
	tb.Suffix, tb.ChatTemplate = []int32{1}, ""
	f.Add(mustEncode(f, tb))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := checkTokenizer(b, func(off int64, format string, args ...any) error {
			if off < 0 || off > int64(len(b)) {
				t.Fatalf("error offset %d outside the %d-byte section", off, len(b))
			}
			return errors.New(format)
		})
		if err != nil {
			return
		}
		tables := decodeTokenizer(b, l)
		again, err := encodeTokenizer(tables)
		if err != nil {
			t.Fatalf("tables that parsed do not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("tables that parsed encode to different bytes")
		}
	})
}
