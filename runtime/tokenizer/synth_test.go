package tokenizer

import (
	"encoding/json"
	"fmt"
	"testing"
)

// synth describes a small tokenizer.json for tests. The vocabulary always starts with <pad>,
// <eos>, <bos>, <unk> and the 256 byte tokens (ids 4…259), followed by vocab.
type synth struct {
	vocab        []string
	merges       [][2]string
	stringMerges bool     // write merges as "a b" strings
	added        []string // added tokens outside the vocabulary, ids after it
	special      []string // vocabulary entries also listed as special added tokens
}

const synthFirst = 260 // id of synth.vocab[0]

func (s synth) json(tb testing.TB) []byte {
	tb.Helper()
	vocab := map[string]int{"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
	for b := range 256 {
		vocab[fmt.Sprintf("<0x%02X>", b)] = 4 + b
	}
	for i, v := range s.vocab {
		vocab[v] = synthFirst + i
	}
	var merges []any
	for _, m := range s.merges {
		if s.stringMerges {
			merges = append(merges, m[0]+" "+m[1])
		} else {
			merges = append(merges, []string{m[0], m[1]})
		}
	}
	if merges == nil {
		merges = []any{}
	}
	added := []map[string]any{}
	tok := func(id int, content string, special bool) {
		added = append(added, map[string]any{"id": id, "content": content, "special": special,
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
	}
	for _, sp := range append([]string{"<pad>", "<eos>", "<bos>", "<unk>"}, s.special...) {
		tok(vocab[sp], sp, true)
	}
	for i, a := range s.added {
		tok(synthFirst+len(s.vocab)+i, a, false)
	}
	doc := map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer":   map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"String": " "},
			"behavior": "MergedWithPrevious", "invert": false},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<bos>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<bos>": map[string]any{"id": "<bos>", "ids": []int{2}, "tokens": []string{"<bos>"}}}},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"}}},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>", "fuse_unk": true,
			"byte_fallback": true, "ignore_merges": false, "vocab": vocab, "merges": merges},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (s synth) load(tb testing.TB) *Tokenizer {
	tb.Helper()
	tok, err := Load(s.json(tb), nil)
	if err != nil {
		tb.Fatalf("Load(synthetic) = %v", err)
	}
	return tok
}

// ids maps token strings of a synth tokenizer to ids.
func ids(tb testing.TB, tok *Tokenizer, tokens ...string) []int32 {
	tb.Helper()
	out := []int32{}
	for _, s := range tokens {
		id, ok := tok.ID(s)
		if !ok {
			tb.Fatalf("ID(%q) not found", s)
		}
		out = append(out, id)
	}
	return out
}
