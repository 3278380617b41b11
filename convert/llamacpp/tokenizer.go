package llamacpp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/format/gguf"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// vocab is a tokenizer in llama.cpp's terms: one entry per id.
type vocab struct {
	tokens []string
	scores []float32
	types  []int32
	// merges are the BPE merges in rank order ("left right"); nil when the source has none.
	merges []string
	// extra are tokens beyond the embedding rows (Gemma 3's <image_soft_token> of a text-only
	// model), ids rows, rows+1, …; GGUF's token list must have exactly one entry per row.
	extra      []string
	extraTypes []int32
	bos, eos   int32
	eot        int32 // -1 when none
	unk, pad   int32
	addBOS     bool
	template   string
}

// tokenizerJSON is the part of a Hugging Face tokenizer.json the mapping reads.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PostProcessor *struct {
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		} `json:"single"`
	} `json:"post_processor"`
	Model struct {
		Type     string           `json:"type"`
		Vocab    map[string]int64 `json:"vocab"`
		Merges   json.RawMessage  `json:"merges"`
		UnkToken *string          `json:"unk_token"`
	} `json:"model"`
}

func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err == nil {
		return pairs, nil
	}
	var flat []string
	if err := json.Unmarshal(raw, &flat); err != nil {
		return nil, err
	}
	pairs = make([][2]string, len(flat))
	for i, m := range flat {
		l, r, ok := strings.Cut(m, " ")
		if !ok {
			return nil, fmt.Errorf("merge %d %q has no space", i, m)
		}
		pairs[i] = [2]string{l, r}
	}
	return pairs, nil
}

// vocabFromTokenizer derives llama.cpp's vocabulary of rows entries from tokenizer.json:
// byte-fallback tokens <0xXX> are BYTE, special added tokens CONTROL (the unknown token
// UNKNOWN), other added tokens USER_DEFINED (llama.cpp splits them out of the text before
// SentencePiece, as Hugging Face does with added tokens), the rest NORMAL. A token made by
// merges scores minus the rank of its first merge, so SentencePiece's "merge the adjacent
// pair whose result scores highest" follows the BPE merge order; other tokens score
// −(merges+id). The merges themselves travel in tokenizer.ggml.merges (llama.cpp ignores the
// key for this tokenizer model; [Import] uses it to rebuild the exact BPE).
func vocabFromTokenizer(tokJSON, cfgJSON []byte, rows int, bos int32, eos []int32, pad int32) (*vocab, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(tokJSON, &tj); err != nil {
		return nil, errorf("tokenizer.json: %v", err)
	}
	if tj.Model.Type != "BPE" {
		return nil, errorf("tokenizer.json: model type %q, want BPE", tj.Model.Type)
	}
	pairs, err := parseMerges(tj.Model.Merges)
	if err != nil {
		return nil, errorf("tokenizer.json merges: %v", err)
	}
	n := rows
	for _, id := range tj.Model.Vocab {
		if id < 0 || id >= tokenizer.MaxVocab {
			return nil, errorf("tokenizer.json: vocab id %d outside [0, %d)", id, tokenizer.MaxVocab)
		}
		n = max(n, int(id)+1)
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 || a.ID >= tokenizer.MaxVocab {
			return nil, errorf("tokenizer.json: added token id %d outside [0, %d)", a.ID, tokenizer.MaxVocab)
		}
		n = max(n, int(a.ID)+1)
	}
	toks := make([]string, n)
	have := make([]bool, n)
	types := make([]int32, n)
	for s, id := range tj.Model.Vocab {
		toks[id], have[id], types[id] = s, true, tokNormal
		if len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' {
			types[id] = tokByte
		}
	}
	unk := int32(-1)
	if tj.Model.UnkToken != nil {
		if id, ok := tj.Model.Vocab[*tj.Model.UnkToken]; ok {
			unk = int32(id)
		}
	}
	for _, a := range tj.AddedTokens {
		toks[a.ID], have[a.ID] = a.Content, true
		switch {
		case int32(a.ID) == unk:
			types[a.ID] = tokUnknown
		case a.Special:
			types[a.ID] = tokControl
		default:
			types[a.ID] = tokUserDefined
		}
	}
	for i := range toks {
		if !have[i] {
			toks[i], types[i] = fmt.Sprintf("[PAD%d]", i), tokUnused
		}
	}
	first := make(map[string]int, len(pairs))
	merges := make([]string, 0, len(pairs))
	for r, p := range pairs {
		s := p[0] + p[1]
		if _, ok := first[s]; !ok {
			first[s] = r
		}
		if strings.Contains(p[0], " ") || strings.Contains(p[1], " ") {
			merges = nil // "left right" would be ambiguous; fall back to the scores
			pairs = nil
		}
		if pairs != nil {
			merges = append(merges, p[0]+" "+p[1])
		}
	}
	scores := make([]float32, n)
	for i, s := range toks {
		if r, ok := first[s]; ok {
			scores[i] = -float32(r)
		} else {
			scores[i] = -float32(len(first) + i)
		}
	}
	v := &vocab{tokens: toks[:rows], scores: scores[:rows], types: types[:rows], merges: merges,
		bos: bos, eos: eos[0], eot: -1, unk: unk, pad: pad}
	if n > rows {
		v.extra, v.extraTypes = toks[rows:], types[rows:]
	}
	if len(eos) > 1 {
		v.eot = eos[1]
	}
	if v.unk < 0 {
		v.unk = pad
	}
	if pp := tj.PostProcessor; pp != nil {
		for _, it := range pp.Single {
			if it.SpecialToken != nil && it.SpecialToken.ID == toks[bos] {
				v.addBOS = true
			}
		}
	}
	if len(cfgJSON) > 0 {
		var c struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if json.Unmarshal(cfgJSON, &c) == nil {
			var s string
			if json.Unmarshal(c.ChatTemplate, &s) == nil {
				v.template = s
			}
		}
	}
	return v, nil
}

// syntheticVocab is the vocabulary written for a model without a tokenizer (test models):
// the special tokens at the configured ids, byte tokens, then placeholders, so that llama.cpp
// can load the file and be fed token ids directly.
func syntheticVocab(rows int, bos int32, eos []int32, pad int32) *vocab {
	v := &vocab{tokens: make([]string, rows), scores: make([]float32, rows), types: make([]int32, rows),
		bos: bos, eos: eos[0], eot: -1, pad: pad, unk: -1, addBOS: true}
	if len(eos) > 1 && int(eos[1]) < rows {
		v.eot = eos[1]
	}
	special := map[int32]string{pad: "<pad>", eos[0]: "<eos>", bos: "<bos>"}
	for u := int32(0); int(u) < rows; u++ {
		if _, taken := special[u]; !taken {
			v.unk = u
			special[u] = "<unk>"
			break
		}
	}
	b := 0
	for i := range v.tokens {
		v.scores[i] = -float32(i)
		if s, ok := special[int32(i)]; ok {
			v.tokens[i], v.types[i] = s, tokControl
			if int32(i) == v.unk {
				v.types[i] = tokUnknown
			}
			continue
		}
		if b < 256 && rows >= 256+len(special) {
			v.tokens[i], v.types[i] = fmt.Sprintf("<0x%02X>", b), tokByte
			b++
			continue
		}
		v.tokens[i], v.types[i] = fmt.Sprintf("[TOKEN%d]", i), tokNormal
	}
	return v
}

// keys returns the tokenizer.* metadata of v.
func (v *vocab) keys(synthetic bool) []gguf.KV {
	kvs := []gguf.KV{
		gguf.String("tokenizer.ggml.model", "llama"),
		gguf.String("tokenizer.ggml.pre", "default"),
		gguf.Strings("tokenizer.ggml.tokens", v.tokens),
		gguf.Float32s("tokenizer.ggml.scores", v.scores),
		gguf.Int32s("tokenizer.ggml.token_type", v.types),
	}
	if v.merges != nil {
		kvs = append(kvs, gguf.Strings("tokenizer.ggml.merges", v.merges))
	}
	kvs = append(kvs,
		gguf.Uint32("tokenizer.ggml.bos_token_id", uint32(v.bos)),
		gguf.Uint32("tokenizer.ggml.eos_token_id", uint32(v.eos)))
	if v.eot >= 0 {
		kvs = append(kvs, gguf.Uint32("tokenizer.ggml.eot_token_id", uint32(v.eot)))
	}
	if v.unk >= 0 {
		kvs = append(kvs, gguf.Uint32("tokenizer.ggml.unknown_token_id", uint32(v.unk)))
	}
	kvs = append(kvs,
		gguf.Uint32("tokenizer.ggml.padding_token_id", uint32(v.pad)),
		gguf.Bool("tokenizer.ggml.add_bos_token", v.addBOS),
		gguf.Bool("tokenizer.ggml.add_eos_token", false),
		gguf.Bool("tokenizer.ggml.add_space_prefix", false))
	if v.template != "" {
		kvs = append(kvs, gguf.String("tokenizer.chat_template", v.template))
	}
	if len(v.extra) > 0 {
		kvs = append(kvs, gguf.Strings(keyExtraTokens, v.extra), gguf.Int32s(keyExtraTypes, v.extraTypes))
	}
	if synthetic {
		kvs = append(kvs, gguf.Bool(keySynthetic, true))
	}
	return kvs
}

// gemmatool's own keys: what GGUF has no key for.
const (
	keyExtraTokens = "gemmatool.tokenizer.extra_tokens"
	keyExtraTypes  = "gemmatool.tokenizer.extra_token_type"
	keySynthetic   = "gemmatool.tokenizer.synthetic"
)

// readVocab reads the tokenizer keys of a GGUF; nil when it has no token list.
func readVocab(f *gguf.File) (*vocab, error) {
	toks, ok := stringsKey(f, "tokenizer.ggml.tokens")
	if !ok {
		return nil, nil
	}
	model, _ := stringKey(f, "tokenizer.ggml.model")
	if model != "llama" {
		return nil, errorf("%s: tokenizer.ggml.model %q, want \"llama\" (Gemma's SentencePiece vocabulary)", f.Path, model)
	}
	if b, ok := boolKey(f, "tokenizer.ggml.add_space_prefix"); ok && b {
		return nil, errorf("%s: tokenizer.ggml.add_space_prefix is true; Gemma 3's tokenizer adds no space prefix", f.Path)
	}
	v := &vocab{tokens: toks, eot: -1, unk: -1, addBOS: true}
	n := len(toks)
	if s, ok := float32sKey(f, "tokenizer.ggml.scores"); ok {
		if len(s) != n {
			return nil, errorf("%s: %d scores for %d tokens", f.Path, len(s), n)
		}
		v.scores = s
	} else {
		v.scores = make([]float32, n)
	}
	if t, ok := int32sKey(f, "tokenizer.ggml.token_type"); ok {
		if len(t) != n {
			return nil, errorf("%s: %d token types for %d tokens", f.Path, len(t), n)
		}
		v.types = t
	} else {
		v.types = make([]int32, n)
		for i := range v.types {
			v.types[i] = tokNormal
		}
	}
	if m, ok := stringsKey(f, "tokenizer.ggml.merges"); ok {
		v.merges = m
	}
	if e, ok := stringsKey(f, keyExtraTokens); ok {
		et, ok := int32sKey(f, keyExtraTypes)
		if !ok || len(et) != len(e) {
			return nil, errorf("%s: %s without one %s per token", f.Path, keyExtraTokens, keyExtraTypes)
		}
		v.extra, v.extraTypes = e, et
	}
	total := int64(n + len(v.extra))
	id := func(key string, def int32) (int32, error) {
		u, ok := uintKey(f, key)
		if !ok {
			return def, nil
		}
		if int64(u) >= total {
			return 0, errorf("%s: %s = %d, outside the %d tokens", f.Path, key, u, total)
		}
		return int32(u), nil
	}
	var err error
	if v.bos, err = id("tokenizer.ggml.bos_token_id", 2); err != nil {
		return nil, err
	}
	if v.eos, err = id("tokenizer.ggml.eos_token_id", 1); err != nil {
		return nil, err
	}
	if v.eot, err = id("tokenizer.ggml.eot_token_id", -1); err != nil {
		return nil, err
	}
	if v.unk, err = id("tokenizer.ggml.unknown_token_id", -1); err != nil {
		return nil, err
	}
	if v.pad, err = id("tokenizer.ggml.padding_token_id", 0); err != nil {
		return nil, err
	}
	if b, ok := boolKey(f, "tokenizer.ggml.add_bos_token"); ok {
		v.addBOS = b
	}
	v.template, _ = stringKey(f, "tokenizer.chat_template")
	return v, nil
}

// tokenizerFiles rebuilds tokenizer.json (a byte-fallback BPE with Gemma 3's normalizer and
// decoder) and tokenizer_config.json from v. The merges are v's when the GGUF carries them;
// otherwise they are derived from the scores as Hugging Face derives them from a SentencePiece
// model: every split of a token into two vocabulary tokens is a merge, merges of a
// higher-scoring token first, ties in id order and, within a token, by the ids of the parts.
func tokenizerFiles(v *vocab) (tokJSON, cfgJSON []byte, err error) {
	all := append(append([]string(nil), v.tokens...), v.extra...)
	allTypes := append(append([]int32(nil), v.types...), v.extraTypes...)
	ids := make(map[string]int, len(all))
	for i, s := range all {
		if s == "" {
			return nil, nil, errorf("token %d is empty", i)
		}
		if j, dup := ids[s]; dup {
			return nil, nil, errorf("token %d %q repeats token %d", i, s, j)
		}
		ids[s] = i
	}
	var merges [][2]string
	if v.merges != nil {
		merges = make([][2]string, len(v.merges))
		for i, m := range v.merges {
			l, r, ok := strings.Cut(m, " ")
			if !ok {
				return nil, nil, errorf("merge %d %q has no space", i, m)
			}
			merges[i] = [2]string{l, r}
		}
	} else {
		merges = deriveMerges(all, v.scores, ids)
	}
	var b bytes.Buffer
	b.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	first := true
	for i, s := range all {
		t := allTypes[i]
		if t != tokControl && t != tokUnknown && t != tokUserDefined {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, `{"id":%d,"content":%s,"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":%t}`,
			i, jsonString(s), t != tokUserDefined)
	}
	b.WriteString(`],"normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},`)
	b.WriteString(`"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false},`)
	if v.addBOS {
		bos := jsonString(all[v.bos])
		fmt.Fprintf(&b, `"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":%s,"type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[{"SpecialToken":{"id":%s,"type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":%s,"type_id":1}},{"Sequence":{"id":"B","type_id":1}}],"special_tokens":{%s:{"id":%s,"ids":[%d],"tokens":[%s]}}},`,
			bos, bos, bos, bos, bos, v.bos, bos)
	} else {
		b.WriteString(`"post_processor":null,`)
	}
	b.WriteString(`"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"}]},`)
	unk := "null"
	if v.unk >= 0 {
		unk = jsonString(all[v.unk])
	}
	fmt.Fprintf(&b, `"model":{"type":"BPE","dropout":null,"unk_token":%s,"continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"ignore_merges":false,"vocab":{`, unk)
	for i, s := range v.tokens {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", jsonString(s), i)
	}
	b.WriteString(`},"merges":[`)
	for i, m := range merges {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%s,%s]", jsonString(m[0]), jsonString(m[1]))
	}
	b.WriteString("]}}")

	cfg := map[string]any{"add_bos_token": v.addBOS, "add_eos_token": false, "bos_token": all[v.bos]}
	eos := v.eos
	if v.eot >= 0 {
		eos = v.eot
	}
	cfg["eos_token"] = all[eos]
	if v.template != "" {
		cfg["chat_template"] = v.template
	}
	cj, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	return b.Bytes(), cj, nil
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// deriveMerges lists, for every vocabulary token, its splits into two vocabulary tokens, and
// orders them by the token's score (highest first), then by token id, then by the parts' ids.
func deriveMerges(tokens []string, scores []float32, ids map[string]int) [][2]string {
	type m struct {
		l, r   string
		tok    int
		li, ri int
	}
	var ms []m
	for i, s := range tokens[:len(scores)] {
		for k := 1; k < len(s); k++ {
			li, ok := ids[s[:k]]
			if !ok {
				continue
			}
			ri, ok := ids[s[k:]]
			if !ok {
				continue
			}
			ms = append(ms, m{s[:k], s[k:], i, li, ri})
		}
	}
	sort.SliceStable(ms, func(a, b int) bool {
		x, y := ms[a], ms[b]
		if scores[x.tok] != scores[y.tok] {
			return scores[x.tok] > scores[y.tok]
		}
		if x.tok != y.tok {
			return x.tok < y.tok
		}
		if x.li != y.li {
			return x.li < y.li
		}
		return x.ri < y.ri
	})
	out := make([][2]string, len(ms))
	for i, x := range ms {
		out[i] = [2]string{x.l, x.r}
	}
	return out
}

// Metadata accessors: each returns ok = false when the key is absent or of another type.

func stringKey(f *gguf.File, k string) (string, bool) {
	kv, ok := f.Get(k)
	if !ok {
		return "", false
	}
	s, ok := kv.Value.(string)
	return s, ok
}

func boolKey(f *gguf.File, k string) (bool, bool) {
	kv, ok := f.Get(k)
	if !ok {
		return false, false
	}
	b, ok := kv.Value.(bool)
	return b, ok
}

func uintKey(f *gguf.File, k string) (uint64, bool) {
	kv, ok := f.Get(k)
	if !ok {
		return 0, false
	}
	switch v := kv.Value.(type) {
	case uint8:
		return uint64(v), true
	case uint16:
		return uint64(v), true
	case uint32:
		return uint64(v), true
	case uint64:
		return v, true
	case int32:
		return uint64(v), v >= 0
	case int64:
		return uint64(v), v >= 0
	}
	return 0, false
}

func floatKey(f *gguf.File, k string) (float64, bool) {
	kv, ok := f.Get(k)
	if !ok {
		return 0, false
	}
	switch v := kv.Value.(type) {
	case float32:
		// The shortest decimal that rounds to v: 1e-6 stored as f32 reads back as 1e-6, as
		// the configuration had it, not as 9.99999997e-07.
		x, err := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
		return x, err == nil
	case float64:
		return v, true
	}
	return 0, false
}

func arrayKey(f *gguf.File, k string) (gguf.Array, bool) {
	kv, ok := f.Get(k)
	if !ok {
		return gguf.Array{}, false
	}
	a, ok := kv.Value.(gguf.Array)
	return a, ok
}

func stringsKey(f *gguf.File, k string) ([]string, bool) {
	a, ok := arrayKey(f, k)
	s, ok2 := a.Values.([]string)
	return s, ok && ok2
}

func float32sKey(f *gguf.File, k string) ([]float32, bool) {
	a, ok := arrayKey(f, k)
	s, ok2 := a.Values.([]float32)
	return s, ok && ok2
}

func int32sKey(f *gguf.File, k string) ([]int32, bool) {
	a, ok := arrayKey(f, k)
	s, ok2 := a.Values.([]int32)
	return s, ok && ok2
}
