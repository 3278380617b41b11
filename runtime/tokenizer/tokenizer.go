package tokenizer

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Limits applied by [Load] before allocating. The Gemma 3 files are far below them
// (33 MB, 262144 vocab entries, 514906 merges, 6415 added tokens, tokens of at most 93 bytes).
const (
	// MaxFileBytes caps the size of tokenizer.json and of tokenizer_config.json.
	MaxFileBytes = 512 << 20
	// MaxVocab caps the number of vocabulary entries and hence the largest token id.
	MaxVocab = 1 << 22
	// MaxMerges caps the number of BPE merges.
	MaxMerges = 1 << 23
	// MaxAddedTokens caps the number of added tokens.
	MaxAddedTokens = 1 << 20
	// MaxTokenBytes caps the length of one token string.
	MaxTokenBytes = 4096
)

// Per-id flags.
const (
	flagValid   uint8 = 1 << iota // the id names a token
	flagSpecial                   // removed by skip_special_tokens
	flagByte                      // a byte-fallback token <0xXX>
	flagAdded                     // an added token (split out before BPE)
	flagVocab                     // an entry of model.vocab
)

// Tokenizer is a Gemma 3 BPE tokenizer loaded from tokenizer.json. It is safe for concurrent
// use.
type Tokenizer struct {
	tokens []string // id → token string
	flags  []uint8  // id → flag bits
	ids    *strTable

	// BPE tables.
	ascii   [128]int32 // id of each ASCII code point after normalisation, -1 if none
	runes   map[rune]int32
	byteID  [256]int32 // id of <0xXX>
	merges  mergeTable
	added   trie
	prefix  []int32 // ids the post-processor puts before the text
	suffix  []int32 // and after it
	special []int32

	// wordSplit allows cutting segments before spaces (see encodeSegment); crossing lists the
	// vocabulary tokens that span such a cut, split there.
	wordSplit bool
	crossing  []crossToken

	bos, eos, eot int32
	template      string // chat_template from tokenizer_config.json, "" if none
	gemma3Chat    bool   // template is the one RenderChat implements
}

// VocabSize returns the number of token ids, the model vocabulary plus added tokens outside it
// (262145 for Gemma 3).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the string of token id, as stored in tokenizer.json (spaces appear as U+2581).
func (t *Tokenizer) Token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.tokens) || t.flags[id]&flagValid == 0 {
		return "", false
	}
	return t.tokens[id], true
}

// ID returns the id of a token string (vocabulary entry or added token).
func (t *Tokenizer) ID(token string) (int32, bool) {
	id, ok := t.ids.get(token)
	return id, ok
}

// IsSpecial reports whether id is a special token, one that Decode drops when asked to skip
// special tokens (for Gemma 3: <pad>, <eos>, <bos>, <unk>, <start_of_turn>, <end_of_turn>,
// <start_of_image>, <end_of_image>, <image_soft_token>).
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.flags) && t.flags[id]&flagSpecial != 0
}

// SpecialIDs returns the ids of the special tokens in increasing order.
func (t *Tokenizer) SpecialIDs() []int32 { return append([]int32(nil), t.special...) }

// BOS returns the id of <bos> (2), which Encode prepends when asked to add special tokens.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the id of <eos> (1), the pre-trained models' end of sequence.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EndOfTurn returns the id of the eos_token of tokenizer_config.json (<end_of_turn>, 106,
// which ends a chat turn), or EOS when the tokenizer was loaded without a config.
func (t *Tokenizer) EndOfTurn() int32 { return t.eot }

// StopIDs returns the ids that end generation: EOS and, when different, EndOfTurn. This is
// the eos_token_id list of the instruction-tuned Gemma 3 configs ([1, 106]).
func (t *Tokenizer) StopIDs() []int32 {
	if t.eot == t.eos {
		return []int32{t.eos}
	}
	return []int32{t.eos, t.eot}
}

// ChatTemplate returns the Jinja chat template of tokenizer_config.json, or "" if the
// tokenizer was loaded without one.
func (t *Tokenizer) ChatTemplate() string { return t.template }

// HasGemma3Template reports whether the config's chat template is the one [RenderChat]
// implements.
func (t *Tokenizer) HasGemma3Template() bool { return t.gemma3Chat }

// Load builds a tokenizer from the bytes of tokenizer.json and tokenizer_config.json. The
// config may be nil; then ChatTemplate is empty and EndOfTurn equals EOS, and encoding and
// decoding work as usual. Errors unwrap to [ErrFormat] or [ErrUnsupported].
func Load(tokenizerJSON, tokenizerConfigJSON []byte) (*Tokenizer, error) {
	if len(tokenizerJSON) > MaxFileBytes {
		return nil, formatErr(fileTokenizer, -1, "file has %d bytes, more than the limit %d", len(tokenizerJSON), MaxFileBytes)
	}
	if len(tokenizerConfigJSON) > MaxFileBytes {
		return nil, formatErr(fileConfig, -1, "file has %d bytes, more than the limit %d", len(tokenizerConfigJSON), MaxFileBytes)
	}
	f, err := parseTokenizerJSON(tokenizerJSON)
	if err != nil {
		return nil, err
	}
	t, err := f.build()
	if err != nil {
		return nil, err
	}
	t.eot = t.eos
	if tokenizerConfigJSON != nil {
		if err := t.applyConfig(tokenizerConfigJSON); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// configJSON holds the members of tokenizer_config.json this package uses.
type configJSON struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	EOSToken     json.RawMessage `json:"eos_token"`
}

func (t *Tokenizer) applyConfig(b []byte) error {
	if !utf8.Valid(b) {
		return formatErr(fileConfig, invalidUTF8(b), "not valid UTF-8")
	}
	var c configJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return jsonErr(fileConfig, 0, err)
	}
	if tmpl, err := chatTemplate(c.ChatTemplate); err != nil {
		return err
	} else {
		t.template = tmpl
		t.gemma3Chat = isGemma3Template(tmpl)
	}
	if len(c.EOSToken) > 0 && !bytes.Equal(c.EOSToken, []byte("null")) {
		name, err := tokenName(c.EOSToken)
		if err != nil {
			return err
		}
		id, ok := t.ids.get(name)
		if !ok {
			return formatErr(fileConfig, -1, "eos_token %q is not a token of tokenizer.json", name)
		}
		t.eot = id
	}
	return nil
}

// chatTemplate accepts a template string, or the list form [{"name": ..., "template": ...}]
// from which it takes the "default" entry.
func chatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", formatErr(fileConfig, -1, "chat_template is neither a string nor a list of named templates")
	}
	for _, e := range list {
		if e.Name == "default" {
			return e.Template, nil
		}
	}
	return "", nil
}

// tokenName accepts "<tok>" or the AddedToken form {"content": "<tok>", ...}.
func tokenName(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", formatErr(fileConfig, -1, "eos_token is neither a string nor an object with content")
	}
	return *obj.Content, nil
}
