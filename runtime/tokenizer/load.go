package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// fileData is what parseTokenizerJSON extracts from tokenizer.json.
type fileData struct {
	vocabTokens []string // vocabulary strings, in file order
	vocabIDs    []int32  // their ids
	vocab       map[string]int32
	merges      []mergeEntry // resolved merges, rank = index
	added       []addedToken
	postSpan    span
}

// mergeEntry is one resolved merge: key = left<<32 | right, merged id.
type mergeEntry struct {
	key    uint64
	merged int32
}

type addedToken struct {
	ID         *int64  `json:"id"`
	Content    *string `json:"content"`
	Special    bool    `json:"special"`
	SingleWord bool    `json:"single_word"`
	LStrip     bool    `json:"lstrip"`
	RStrip     bool    `json:"rstrip"`
	Normalized bool    `json:"normalized"`
}

// span is a raw JSON member kept for encoding/json, with its offset for error messages.
type span struct {
	b   []byte
	off int
}

func (s span) null() bool { return len(s.b) == 0 || bytes.Equal(s.b, []byte("null")) }

func (s span) decode(v any) error {
	if err := json.Unmarshal(s.b, v); err != nil {
		return jsonErr(fileTokenizer, s.off, err)
	}
	return nil
}

func jsonErr(file string, base int, err error) error {
	switch e := err.(type) {
	case *json.SyntaxError:
		return formatErr(file, base+int(e.Offset), "%v", e)
	case *json.UnmarshalTypeError:
		return formatErr(file, base+int(e.Offset), "%v", e)
	}
	return formatErr(file, base, "%v", err)
}

// parseTokenizerJSON streams model.vocab and model.merges through the scanner and hands the
// small members to encoding/json.
func parseTokenizerJSON(b []byte) (*fileData, error) {
	if !utf8.Valid(b) {
		return nil, formatErr(fileTokenizer, -1, "not valid UTF-8")
	}
	s := &scanner{b: b, file: fileTokenizer}
	f := &fileData{}
	var (
		sawModel                                       bool
		addedSpan, normSpan, preSpan, decSpan, postSpn span
		modelType                                      string
		byteFallback, sawVocab, sawMerges              bool
		pendingMerges                                  *pendingMerges
	)
	raw := func() (span, error) {
		s.ws()
		off := s.pos
		v, err := s.skip()
		return span{v, off}, err
	}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "added_tokens":
			addedSpan, err = raw()
		case "normalizer":
			normSpan, err = raw()
		case "pre_tokenizer":
			preSpan, err = raw()
		case "decoder":
			decSpan, err = raw()
		case "post_processor":
			postSpn, err = raw()
		case "model":
			if sawModel {
				return s.errf("duplicate member \"model\"")
			}
			sawModel = true
			return s.object(func(key []byte) error {
				switch string(key) {
				case "type":
					v, err := s.str(nil)
					modelType = string(v)
					return err
				case "byte_fallback":
					switch s.peek() {
					case 't':
						byteFallback = true
						return s.literal("true")
					case 'f':
						return s.literal("false")
					}
					return s.unexpected("boolean byte_fallback")
				case "vocab":
					if sawVocab {
						return s.errf("duplicate member \"vocab\"")
					}
					sawVocab = true
					return f.parseVocab(s)
				case "merges":
					if sawMerges {
						return s.errf("duplicate member \"merges\"")
					}
					sawMerges = true
					pm, err := parseMerges(s)
					pendingMerges = pm
					return err
				case "dropout", "continuing_subword_prefix", "end_of_word_suffix":
					return s.wantNull(string(key))
				case "ignore_merges":
					if s.peek() == 't' {
						return unsupportedErr(fileTokenizer, "model.ignore_merges is true")
					}
					_, err := s.skip()
					return err
				default:
					_, err := s.skip()
					return err
				}
			})
		default:
			_, err = s.skip()
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !sawModel:
		return nil, formatErr(fileTokenizer, -1, "no \"model\" member")
	case modelType != "BPE":
		return nil, unsupportedErr(fileTokenizer, "model.type is %q, want \"BPE\"", modelType)
	case !byteFallback:
		return nil, unsupportedErr(fileTokenizer, "model.byte_fallback is not true")
	case !sawVocab:
		return nil, formatErr(fileTokenizer, -1, "no model.vocab")
	case !sawMerges:
		return nil, formatErr(fileTokenizer, -1, "no model.merges")
	}
	if f.merges, err = pendingMerges.resolve(f.vocab); err != nil {
		return nil, err
	}
	if err := checkNormalizer(normSpan); err != nil {
		return nil, err
	}
	if err := checkPreTokenizer(preSpan); err != nil {
		return nil, err
	}
	if err := checkDecoder(decSpan); err != nil {
		return nil, err
	}
	if !addedSpan.null() {
		if err := addedSpan.decode(&f.added); err != nil {
			return nil, err
		}
	}
	if len(f.added) > MaxAddedTokens {
		return nil, formatErr(fileTokenizer, addedSpan.off, "%d added tokens, more than the limit %d", len(f.added), MaxAddedTokens)
	}
	f.postSpan = postSpn
	return f, nil
}

func (s *scanner) wantNull(name string) error {
	if s.peek() == 'n' {
		return s.literal("null")
	}
	if name == "dropout" {
		// A dropout of 0 is as good as none.
		off := s.pos
		v, err := s.skip()
		if err != nil {
			return err
		}
		var p float64
		if json.Unmarshal(v, &p) == nil && p == 0 {
			return nil
		}
		s.pos = off
	}
	return unsupportedErr(fileTokenizer, "model.%s is set", name)
}

// parseVocab reads the model.vocab object into one string arena.
func (f *fileData) parseVocab(s *scanner) error {
	var arena []byte
	var ends []uint32
	start := s.pos
	err := s.object(func(key []byte) error {
		if len(f.vocabIDs) >= MaxVocab {
			return s.errf("more than %d vocabulary entries", MaxVocab)
		}
		if len(key) == 0 || len(key) > MaxTokenBytes {
			return s.errf("vocabulary token of %d bytes, want 1 to %d", len(key), MaxTokenBytes)
		}
		id, err := s.id(MaxVocab - 1)
		if err != nil {
			return err
		}
		arena = append(arena, key...)
		ends = append(ends, uint32(len(arena)))
		f.vocabIDs = append(f.vocabIDs, int32(id))
		return nil
	})
	if err != nil {
		return err
	}
	all := string(arena)
	f.vocabTokens = make([]string, len(ends))
	f.vocab = make(map[string]int32, len(ends))
	prev := uint32(0)
	for i, e := range ends {
		tok := all[prev:e]
		prev = e
		if _, dup := f.vocab[tok]; dup {
			return formatErr(fileTokenizer, start, "vocabulary token %q appears twice", tok)
		}
		f.vocab[tok] = f.vocabIDs[i]
		f.vocabTokens[i] = tok
	}
	return nil
}

// pendingMerges holds the merges' strings until the vocabulary is known.
type pendingMerges struct {
	arena []byte
	spans []uint32 // per merge: left start, left end (= right start... see parseMerges), right end
	off   []int32  // file offset of each merge, for errors (first 2^31 bytes)
}

// parseMerges reads model.merges, whose entries are "left right" strings (tokenizers < 0.20)
// or ["left", "right"] pairs.
func parseMerges(s *scanner) (*pendingMerges, error) {
	pm := &pendingMerges{}
	err := s.array(func() error {
		if len(pm.off) >= MaxMerges {
			return s.errf("more than %d merges", MaxMerges)
		}
		pm.off = append(pm.off, int32(s.pos))
		start := uint32(len(pm.arena))
		var err error
		switch s.peek() {
		case '"':
			if pm.arena, err = s.str(pm.arena); err != nil {
				return err
			}
			e := pm.arena[start:]
			sp := bytes.IndexByte(e, ' ')
			if sp < 0 || bytes.IndexByte(e[sp+1:], ' ') >= 0 {
				return s.errf("merge %q is not two tokens separated by one space", e)
			}
			pm.spans = append(pm.spans, start, start+uint32(sp), start+uint32(sp)+1, uint32(len(pm.arena)))
		case '[':
			s.pos++
			if pm.arena, err = s.str(pm.arena); err != nil {
				return err
			}
			mid := uint32(len(pm.arena))
			if err := s.expect(','); err != nil {
				return err
			}
			if pm.arena, err = s.str(pm.arena); err != nil {
				return err
			}
			if err := s.expect(']'); err != nil {
				return err
			}
			pm.spans = append(pm.spans, start, mid, mid, uint32(len(pm.arena)))
		default:
			return s.unexpected("merge string or pair")
		}
		if len(pm.arena) > 1<<31 {
			return s.errf("merges hold more than 2 GiB of text")
		}
		return nil
	})
	return pm, err
}

// resolve maps each merge to vocabulary ids. A later duplicate of a pair replaces the earlier
// one, as in the Hugging Face tokenizers library.
func (pm *pendingMerges) resolve(vocab map[string]int32) ([]mergeEntry, error) {
	out := make([]mergeEntry, len(pm.off))
	var buf []byte
	for i := range out {
		sp := pm.spans[4*i : 4*i+4]
		l, r := pm.arena[sp[0]:sp[1]], pm.arena[sp[2]:sp[3]]
		li, ok1 := vocab[string(l)]
		ri, ok2 := vocab[string(r)]
		buf = append(append(buf[:0], l...), r...)
		mi, ok3 := vocab[string(buf)]
		if !ok1 || !ok2 || !ok3 {
			missing := l
			switch {
			case !ok2:
				missing = r
			case !ok3:
				missing = buf
			}
			return nil, formatErr(fileTokenizer, int(pm.off[i]), "merge %d (%q, %q): token %q is not in the vocabulary", i, l, r, missing)
		}
		out[i] = mergeEntry{key: uint64(li)<<32 | uint64(ri), merged: mi}
	}
	return out, nil
}

// checkNormalizer accepts only Replace(" " → "▁"), alone or as the single step of a Sequence.
func checkNormalizer(sp span) error {
	if sp.null() {
		return unsupportedErr(fileTokenizer, "no normalizer, want Replace(\" \" → \"▁\")")
	}
	var n replaceJSON
	if err := sp.decode(&n); err != nil {
		return err
	}
	if n.Type == "Sequence" && len(n.Normalizers) == 1 {
		n = n.Normalizers[0]
	}
	if !n.is("Replace", " ", "▁") {
		return unsupportedErr(fileTokenizer, "normalizer %s, want Replace(\" \" → \"▁\")", describe(sp.b))
	}
	return nil
}

type replaceJSON struct {
	Type    string `json:"type"`
	Pattern struct {
		String *string `json:"String"`
	} `json:"pattern"`
	Content     string        `json:"content"`
	Normalizers []replaceJSON `json:"normalizers"`
	Decoders    []replaceJSON `json:"decoders"`
	Behavior    string        `json:"behavior"`
	Invert      bool          `json:"invert"`
}

func (n replaceJSON) is(typ, pattern, content string) bool {
	return n.Type == typ && n.Pattern.String != nil && *n.Pattern.String == pattern && n.Content == content
}

// checkPreTokenizer accepts none, or a split on " ": after the normalizer the text has no
// spaces left, so either is a no-op.
func checkPreTokenizer(sp span) error {
	if sp.null() {
		return nil
	}
	var p replaceJSON
	if err := sp.decode(&p); err != nil {
		return err
	}
	if p.Type == "Split" && p.Pattern.String != nil && *p.Pattern.String == " " && !p.Invert {
		return nil
	}
	return unsupportedErr(fileTokenizer, "pre_tokenizer %s, want none or Split(\" \")", describe(sp.b))
}

// checkDecoder accepts only Sequence[Replace("▁" → " "), ByteFallback, Fuse].
func checkDecoder(sp span) error {
	var d replaceJSON
	if !sp.null() {
		if err := sp.decode(&d); err != nil {
			return err
		}
	}
	ok := d.Type == "Sequence" && len(d.Decoders) == 3 &&
		d.Decoders[0].is("Replace", "▁", " ") && d.Decoders[1].Type == "ByteFallback" && d.Decoders[2].Type == "Fuse"
	if !ok {
		return unsupportedErr(fileTokenizer, "decoder %s, want Sequence[Replace(\"▁\" → \" \"), ByteFallback, Fuse]", describe(sp.b))
	}
	return nil
}

// describe shortens a JSON value for an error message.
func describe(b []byte) string {
	if len(b) == 0 {
		return "null"
	}
	var v bytes.Buffer
	if json.Compact(&v, b) == nil {
		b = v.Bytes()
	}
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// postProcessorJSON is the TemplateProcessing post-processor.
type postProcessorJSON struct {
	Type   string `json:"type"`
	Single []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int64 `json:"ids"`
	} `json:"special_tokens"`
}

// parsePostProcessor returns the ids TemplateProcessing puts before and after a single
// sequence.
func parsePostProcessor(sp span, nTokens int) (prefix, suffix []int32, err error) {
	if sp.null() {
		return nil, nil, nil
	}
	var p postProcessorJSON
	if err := sp.decode(&p); err != nil {
		return nil, nil, err
	}
	if p.Type != "TemplateProcessing" {
		return nil, nil, unsupportedErr(fileTokenizer, "post_processor type %q, want TemplateProcessing", p.Type)
	}
	seen := false
	for _, item := range p.Single {
		switch {
		case item.Sequence != nil:
			if seen {
				return nil, nil, formatErr(fileTokenizer, sp.off, "post_processor.single has two sequences")
			}
			seen = true
		case item.SpecialToken != nil:
			st, ok := p.SpecialTokens[item.SpecialToken.ID]
			if !ok {
				return nil, nil, formatErr(fileTokenizer, sp.off, "post_processor special token %q is not defined", item.SpecialToken.ID)
			}
			for _, id := range st.IDs {
				if id < 0 || id >= int64(nTokens) {
					return nil, nil, formatErr(fileTokenizer, sp.off, "post_processor special token %q has id %d, outside [0, %d)", item.SpecialToken.ID, id, nTokens)
				}
				if seen {
					suffix = append(suffix, int32(id))
				} else {
					prefix = append(prefix, int32(id))
				}
			}
		default:
			return nil, nil, formatErr(fileTokenizer, sp.off, "post_processor.single has an item that is neither a special token nor a sequence")
		}
	}
	if !seen {
		return nil, nil, formatErr(fileTokenizer, sp.off, "post_processor.single has no sequence")
	}
	return prefix, suffix, nil
}

// build assembles the tables and checks the ids.
func (f *fileData) build() (*Tokenizer, error) {
	n := 0
	for _, id := range f.vocabIDs {
		n = max(n, int(id)+1)
	}
	for i, a := range f.added {
		switch {
		case a.ID == nil || a.Content == nil:
			return nil, formatErr(fileTokenizer, -1, "added token %d has no id or no content", i)
		case *a.ID < 0 || *a.ID >= MaxVocab:
			return nil, formatErr(fileTokenizer, -1, "added token %q has id %d, outside [0, %d)", *a.Content, *a.ID, MaxVocab)
		case len(*a.Content) == 0 || len(*a.Content) > MaxTokenBytes:
			return nil, formatErr(fileTokenizer, -1, "added token %d has %d bytes of content, want 1 to %d", *a.ID, len(*a.Content), MaxTokenBytes)
		case a.SingleWord || a.LStrip || a.RStrip || a.Normalized:
			return nil, unsupportedErr(fileTokenizer, "added token %q uses single_word, lstrip, rstrip or normalized", *a.Content)
		}
		n = max(n, int(*a.ID)+1)
	}
	// Ids must be dense enough that the id table is bounded by the number of entries.
	if n > len(f.vocabIDs)+len(f.added) {
		return nil, formatErr(fileTokenizer, -1, "largest id %d but only %d vocabulary entries and %d added tokens", n-1, len(f.vocabIDs), len(f.added))
	}
	t := &Tokenizer{
		tokens: make([]string, n),
		flags:  make([]uint8, n),
		ids:    f.vocab,
		runes:  make(map[rune]int32),
	}
	for i, id := range f.vocabIDs {
		if t.flags[id] != 0 {
			return nil, formatErr(fileTokenizer, -1, "id %d is used by vocabulary tokens %q and %q", id, t.tokens[id], f.vocabTokens[i])
		}
		t.tokens[id] = f.vocabTokens[i]
		t.flags[id] = flagValid
	}
	contents := make([]string, 0, len(f.added))
	addedIDs := make([]int32, 0, len(f.added))
	for _, a := range f.added {
		id, c := int32(*a.ID), *a.Content
		if vid, ok := f.vocab[c]; ok && vid != id {
			return nil, formatErr(fileTokenizer, -1, "added token %q has id %d but vocabulary id %d", c, id, vid)
		}
		if t.flags[id]&flagAdded != 0 || (t.flags[id]&flagValid != 0 && t.tokens[id] != c) {
			return nil, formatErr(fileTokenizer, -1, "id %d is used by tokens %q and %q", id, t.tokens[id], c)
		}
		t.tokens[id] = c
		t.flags[id] |= flagValid | flagAdded
		if a.Special {
			t.flags[id] |= flagSpecial
		}
		t.ids[c] = id
		contents = append(contents, c)
		addedIDs = append(addedIDs, id)
	}
	var err error
	if t.added, err = buildTrie(contents, addedIDs); err != nil {
		return nil, err
	}
	if t.prefix, t.suffix, err = parsePostProcessor(f.postSpan, n); err != nil {
		return nil, err
	}
	for id, fl := range t.flags {
		if fl&flagSpecial != 0 {
			t.special = append(t.special, int32(id))
		}
	}

	// Byte fallback tokens <0x00>…<0xFF>, all required (the decoder recognises any token of
	// that shape).
	for b := range 256 {
		id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]
		if !ok || t.flags[id]&flagAdded != 0 {
			return nil, formatErr(fileTokenizer, -1, "byte fallback token <0x%02X> is not in the vocabulary", b)
		}
		t.byteID[b] = id
	}
	for id, tok := range t.tokens {
		if _, ok := byteToken(tok); ok {
			t.flags[id] |= flagByte
		}
	}

	// Single code points; the normaliser turns ' ' into '▁' before lookup.
	for i := range t.ascii {
		t.ascii[i] = -1
	}
	for i, tok := range f.vocabTokens {
		r, size := utf8.DecodeRuneInString(tok)
		if size != len(tok) || (r == utf8.RuneError && size < 2) {
			continue
		}
		if r < utf8.RuneSelf {
			t.ascii[r] = f.vocabIDs[i]
		} else {
			t.runes[r] = f.vocabIDs[i]
		}
	}
	t.ascii[' '] = -1
	if id, ok := t.runes['▁']; ok {
		t.ascii[' '] = id
	}

	t.merges = buildMergeTable(f.merges)

	named := func(name string) (int32, error) {
		id, ok := t.ids[name]
		if !ok {
			return 0, formatErr(fileTokenizer, -1, "no %s token", name)
		}
		return id, nil
	}
	if t.bos, err = named("<bos>"); err != nil {
		return nil, err
	}
	if t.eos, err = named("<eos>"); err != nil {
		return nil, err
	}
	return t, nil
}

// byteToken reports whether tok has the shape <0xXX> the ByteFallback decoder recognises, and
// its byte.
func byteToken(tok string) (byte, bool) {
	if len(tok) != 6 || tok[:3] != "<0x" || tok[5] != '>' {
		return 0, false
	}
	v, ok := hex4([]byte("00" + tok[3:5]))
	return byte(v), ok
}
