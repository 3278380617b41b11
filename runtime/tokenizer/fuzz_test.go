package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks, for any input: no panic; ids name tokens; <bos> handling; agreement with
// the naive reference for short inputs; Decode(Encode(s)) == s with U+2581 as a space when s is
// valid UTF-8 (every code point is a vocabulary symbol, an added token or byte tokens, and the
// byte tokens of whole code points always form valid runs); streaming decode equals Decode.
func FuzzEncode(f *testing.F) {
	for _, c := range readJSONL[encodeCase](f, "tokenizer/encode.jsonl") {
		f.Add(c.Text)
	}
	for _, c := range readJSONL[chatCase](f, "tokenizer/chat.jsonl") {
		f.Add(c.Text)
	}
	for _, s := range randomTexts(5, 20, 30) {
		f.Add(s)
	}
	f.Add("a\xffb\xc3")
	tok := gemmaTokenizer(f)
	ref := gemmaReference(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s, false)
		for _, id := range ids {
			if _, ok := tok.Token(id); !ok {
				t.Fatalf("Encode(%q) = %v has unknown id %d", s, ids, id)
			}
		}
		if got := tok.Encode(s, true); len(got) != len(ids)+1 || got[0] != tok.BOS() || !slices.Equal(got[1:], ids) {
			t.Fatalf("Encode(%q, true) = %v, want <bos> + %v", s, got, ids)
		}
		if len(s) <= 512 {
			if want := ref.encode(s); !slices.Equal(ids, want) {
				t.Fatalf("Encode(%q) = %v, reference %v", s, ids, want)
			}
		}
		d := tok.Decode(ids, false)
		if !utf8.ValidString(d) {
			t.Fatalf("Decode(Encode(%q)) = %q is not valid UTF-8", s, d)
		}
		if utf8.ValidString(s) {
			if want := strings.ReplaceAll(s, "▁", " "); d != want {
				t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, d, want)
			}
		}
		for _, skip := range []bool{false, true} {
			if got, want := streamDecode(tok, ids, skip), tok.Decode(ids, skip); got != want {
				t.Fatalf("StreamDecoder(Encode(%q), %v) = %q, Decode = %q", s, skip, got, want)
			}
		}
	})
}

// FuzzDecode checks that any id sequence decodes to valid UTF-8, the same streamed or not.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xc3 + 238 - 256, 0, 0, 0}, false)
	f.Add([]byte{2, 0, 0, 0, 0x6a, 0x01, 0, 0}, true)
	tok := gemmaTokenizer(f)
	f.Fuzz(func(t *testing.T, b []byte, skip bool) {
		ids := make([]int32, len(b)/4)
		for i := range ids {
			v := binary.LittleEndian.Uint32(b[4*i:])
			// Favour byte tokens and specials, keep some arbitrary ids.
			switch v >> 30 {
			case 0:
				ids[i] = 238 + int32(v&0xff)
			case 1:
				ids[i] = tok.SpecialIDs()[int(v&0xffff)%len(tok.SpecialIDs())]
			default:
				ids[i] = int32(v)
			}
		}
		d := tok.Decode(ids, skip)
		if !utf8.ValidString(d) {
			t.Fatalf("Decode(%v) = %q is not valid UTF-8", ids, d)
		}
		if got := streamDecode(tok, ids, skip); got != d {
			t.Fatalf("StreamDecoder(%v, %v) = %q, Decode = %q", ids, skip, got, d)
		}
	})
}

// FuzzLoad checks that Load never panics on small tokenizer files, that every error unwraps
// to a sentinel, and that a loaded tokenizer encodes and decodes without panicking.
func FuzzLoad(f *testing.F) {
	f.Add(synth{vocab: []string{"a", "b", "ab", "▁", "▁a"}, merges: [][2]string{{"a", "b"}, {"▁", "a"}}, added: []string{"<x>", "\n"}}.json(f), []byte(nil))
	f.Add(synth{vocab: []string{"a", "b", "ab"}, merges: [][2]string{{"a", "b"}}, stringMerges: true}.json(f), []byte(`{"eos_token":"<eos>","chat_template":"x"}`))
	f.Add([]byte(`{"model":{"type":"BPE","byte_fallback":true,"vocab":{},"merges":[]}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, tokJSON, cfgJSON []byte) {
		tok, err := Load(tokJSON, cfgJSON)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Load error %v matches no sentinel", err)
			}
			return
		}
		for _, s := range []string{"", "a b", "ab<x>\n\n", "\xff", "日本", "<bos>"} {
			ids := tok.Encode(s, true)
			tok.Decode(ids, false)
			streamDecode(tok, ids, true)
		}
		for id := int32(-1); id <= int32(tok.VocabSize()); id++ {
			tok.Decode([]int32{id}, false)
		}
		// The tables a model file stores give the same tokenizer.
		again, err := FromTables(tok.Tables())
		if err != nil {
			t.Fatalf("FromTables(Tables()) = %v", err)
		}
		for _, s := range []string{"", "a b", "ab<x>\n\n", "\xff", "日本", "<bos>"} {
			if got, want := again.Encode(s, true), tok.Encode(s, true); !slices.Equal(got, want) {
				t.Fatalf("tables tokenizer: Encode(%q) = %v, want %v", s, got, want)
			}
		}
	})
}

// FuzzRenderChat checks that any JSON message list renders or fails without panicking.
func FuzzRenderChat(f *testing.F) {
	for _, c := range readJSONL[chatCase](f, "tokenizer/chat.jsonl") {
		b, err := json.Marshal(c.Messages)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, c.AddGenerationPrompt)
	}
	f.Fuzz(func(t *testing.T, b []byte, gen bool) {
		var msgs []Message
		if json.Unmarshal(b, &msgs) != nil {
			return
		}
		text, err := RenderChat(msgs, gen)
		if err == nil && !strings.HasPrefix(text, "<bos>") {
			t.Fatalf("RenderChat = %q, want a <bos> prefix", text)
		}
	})
}
