package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// fileData is what parseTokenizerJSON extracts from tokenizer.json.
type fileData struct {
	vocabTokens []string // vocabulary strings, in file order
	vocabIDs    []int32  // their ids
	vocab       *strTable
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
		return nil, formatErr(fileTokenizer, invalidUTF8(b), "not valid UTF-8")
	}
	s := &scanner{b: b, file: fileTokenizer}
	f := &fileData{}
	var (
		sawModel                                       bool
		addedSpan, normSpan, preSpan, decSpan, postSpn span
		modelType                                      string
		byteFallback, sawVocab, sawMerges              bool
		merges                                         mergeSpan
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
					var err error
					merges, err = scanMerges(s)
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
	if err := checkNormalizer(normSpan); err != nil {
		return nil, err
	}
	if err := checkPreTokenizer(preSpan); err != nil {
		return nil, err
	}
	if err := checkDecoder(decSpan); err != nil {
		return nil, err
	}
	if f.merges, err = parseMerges(b, merges, f.vocab); err != nil {
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
	// A first, validating pass gives the object's length, which bounds the unescaped token
	// bytes and the number of entries (at least 6 bytes each: "k":0,), so the second pass
	// appends without reallocating.
	s.ws()
	start := s.pos
	v, err := s.skip()
	if err != nil {
		return err
	}
	s.pos = start
	maxEntries := min(len(v)/6+1, MaxVocab)
	arena := make([]byte, 0, len(v))
	ends := make([]uint32, 0, maxEntries)
	f.vocabIDs = make([]int32, 0, maxEntries)
	err = s.object(func(key []byte) error {
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
	f.vocab = newStrTable(all, len(ends))
	prev := uint32(0)
	for i, e := range ends {
		tok := all[prev:e]
		if !f.vocab.insert(int(prev), int(e-prev), f.vocabIDs[i]) {
			return formatErr(fileTokenizer, start, "vocabulary token %q appears twice", tok)
		}
		prev = e
		f.vocabTokens[i] = tok
	}
	return nil
}

// mergeChunk is how many merges one marked offset covers; workers take whole chunks.
const mergeChunk = 4096

// mergeSpan is the model.merges array, validated and indexed by scanMerges, to be resolved
// once the vocabulary is known (the vocabulary comes first in the files the tokenizers library
// writes, but JSON does not promise an order).
type mergeSpan struct {
	count int
	marks []int // offset of merges 0, mergeChunk, 2*mergeChunk, ...
}

// scanMerges validates the model.merges array and records where every mergeChunk-th element
// starts, so that parseMerges can split the work.
func scanMerges(s *scanner) (mergeSpan, error) {
	var ms mergeSpan
	err := s.array(func() error {
		if ms.count >= MaxMerges {
			return s.errf("more than %d merges", MaxMerges)
		}
		if ms.count%mergeChunk == 0 {
			s.ws()
			ms.marks = append(ms.marks, s.pos)
		}
		ms.count++
		_, err := s.skip()
		return err
	})
	return ms, err
}

// parseMerges resolves the merges to vocabulary ids, in parallel over chunks.
func parseMerges(b []byte, ms mergeSpan, vocab *strTable) ([]mergeEntry, error) {
	out := make([]mergeEntry, ms.count)
	workers := min(goruntime.GOMAXPROCS(0), len(ms.marks), 8)
	errs := make([]error, len(ms.marks))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			mr := mergeReader{s: scanner{b: b, file: fileTokenizer}, vocab: vocab}
			for {
				c := int(next.Add(1) - 1)
				if c >= len(ms.marks) {
					return
				}
				mr.s.pos = ms.marks[c]
				lo, hi := c*mergeChunk, min((c+1)*mergeChunk, ms.count)
				if errs[c] = mr.parse(out[lo:hi], lo); errs[c] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mergeReader parses consecutive merges, which are "left right" strings (tokenizers < 0.20)
// or ["left", "right"] pairs.
type mergeReader struct {
	s      scanner
	vocab  *strTable
	arena  []byte   // left+right of each merge of the chunk, back to back
	bounds []int    // per merge: start of left, start of right, end
	offs   []int    // per merge: file offset
	keys   []strKey // per merge: left, right, left+right
	ids    []int32
}

// parse fills out with the merges starting at the reader's position; rank is the index of the
// first. It parses the whole chunk first and then looks the tokens up in one batch, which
// lets the processor overlap the cache misses of independent lookups.
func (mr *mergeReader) parse(out []mergeEntry, rank int) error {
	s := &mr.s
	arena, bounds, offs := mr.arena[:0], mr.bounds[:0], mr.offs[:0]
	for i := range out {
		if i > 0 {
			if err := s.expect(','); err != nil {
				return err
			}
		}
		off := s.pos
		start := len(arena)
		var mid int
		var err error
		switch s.peek() {
		case '"':
			if arena, err = s.str(arena); err != nil {
				return err
			}
			e := arena[start:]
			sp := bytes.IndexByte(e, ' ')
			if sp < 0 || bytes.IndexByte(e[sp+1:], ' ') >= 0 {
				return formatErr(fileTokenizer, off, "merge %q is not two tokens separated by one space", e)
			}
			mid = start + sp
			arena = append(arena[:mid], arena[mid+1:]...) // drop the space
		case '[':
			s.pos++
			if arena, err = s.str(arena); err != nil {
				return err
			}
			mid = len(arena)
			if err := s.expect(','); err != nil {
				return err
			}
			if arena, err = s.str(arena); err != nil {
				return err
			}
			if err := s.expect(']'); err != nil {
				return err
			}
		default:
			return s.unexpected("merge string or pair")
		}
		bounds = append(bounds, start, mid, len(arena))
		offs = append(offs, off)
	}
	mr.arena, mr.bounds, mr.offs = arena, bounds, offs

	keys := mr.keys[:0]
	for i := range out {
		a, m, e := bounds[3*i], bounds[3*i+1], bounds[3*i+2]
		keys = append(keys, strKey{a, m}, strKey{m, e}, strKey{a, e})
	}
	mr.keys = keys
	mr.ids = mr.vocab.getBatch(arena, keys, mr.ids)
	for i := range out {
		li, ri, mi := mr.ids[3*i], mr.ids[3*i+1], mr.ids[3*i+2]
		if li < 0 || ri < 0 || mi < 0 {
			a, m, e := bounds[3*i], bounds[3*i+1], bounds[3*i+2]
			l, r := arena[a:m], arena[m:e]
			missing := l
			switch {
			case ri < 0:
				missing = r
			case mi < 0:
				missing = arena[a:e]
			}
			return formatErr(fileTokenizer, offs[i], "merge %d (%q, %q): token %q is not in the vocabulary", rank+i, l, r, missing)
		}
		out[i] = mergeEntry{key: uint64(li)<<32 | uint64(ri), merged: mi}
	}
	return nil
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
		t.flags[id] = flagValid | flagVocab
	}
	// Added tokens outside the vocabulary join the string table; its arena grows once.
	type extraToken struct {
		off, n int
		id     int32
	}
	var extra []extraToken
	var extraBytes []byte
	contents := make([]string, 0, len(f.added))
	addedIDs := make([]int32, 0, len(f.added))
	for _, a := range f.added {
		id, c := int32(*a.ID), *a.Content
		vid, inVocab := f.vocab.get(c)
		if inVocab && vid != id {
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
		if !inVocab {
			extra = append(extra, extraToken{len(extraBytes), len(c), id})
			extraBytes = append(extraBytes, c...)
		}
		contents = append(contents, c)
		addedIDs = append(addedIDs, id)
	}
	base := len(t.ids.arena)
	t.ids.arena += string(extraBytes)
	for _, e := range extra {
		if !t.ids.insert(base+e.off, e.n, e.id) {
			return nil, formatErr(fileTokenizer, -1, "added token %q appears twice", t.ids.arena[base+e.off:base+e.off+e.n])
		}
	}
	var err error
	if t.added, err = buildTrie(contents, addedIDs); err != nil {
		return nil, err
	}
	if t.prefix, t.suffix, err = parsePostProcessor(f.postSpan, n); err != nil {
		return nil, err
	}
	if err := t.index(fileTokenizer); err != nil {
		return nil, err
	}
	t.merges = buildMergeTable(len(f.merges), func(i int) (uint64, int32) { return f.merges[i].key, f.merges[i].merged })

	named := func(name string) (int32, error) {
		id, ok := t.ids.get(name)
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

// index derives the encoding tables from the tokens, their flags and the string table: the
// special ids, the byte-fallback ids, the single code points and the word-split rule. file
// names the source in errors.
func (t *Tokenizer) index(file string) error {
	t.special = t.special[:0]
	for id, fl := range t.flags {
		if fl&flagSpecial != 0 {
			t.special = append(t.special, int32(id))
		}
	}
	// Byte fallback tokens <0x00>…<0xFF>, all required (the decoder recognises any token of
	// that shape).
	for b := range 256 {
		id, ok := t.ids.get(fmt.Sprintf("<0x%02X>", b))
		if !ok || t.flags[id]&flagAdded != 0 {
			return formatErr(file, -1, "byte fallback token <0x%02X> is not in the vocabulary", b)
		}
		t.byteID[b] = id
	}
	// Single code points of the vocabulary; the normaliser turns ' ' into '▁' before lookup.
	for i := range t.ascii {
		t.ascii[i] = -1
	}
	var vocab []string
	for id, tok := range t.tokens {
		fl := t.flags[id]
		if _, ok := byteToken(tok); ok {
			t.flags[id] |= flagByte
		}
		if fl&flagVocab == 0 {
			continue
		}
		vocab = append(vocab, tok)
		r, size := utf8.DecodeRuneInString(tok)
		if size != len(tok) || (r == utf8.RuneError && size < 2) {
			continue
		}
		if r < utf8.RuneSelf {
			t.ascii[r] = int32(id)
		} else {
			t.runes[r] = int32(id)
		}
	}
	t.ascii[' '] = -1
	if id, ok := t.runes['▁']; ok {
		t.ascii[' '] = id
	}
	t.crossing, t.wordSplit = crossingTokens(vocab)
	return nil
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

// invalidUTF8 returns the offset of the first byte that is not part of valid UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// crossToken is a vocabulary token with a space ▁ right after a non-space, split there.
type crossToken struct{ before, after string }

// maxCrossing bounds the tokens checked at every cut; a vocabulary with more (Gemma 3 has
// one, ">▁</") is encoded without cutting segments.
const maxCrossing = 64

// crossingTokens finds the tokens that could span a cut before a space.
func crossingTokens(vocab []string) ([]crossToken, bool) {
	var out []crossToken
	for _, tok := range vocab {
		for j := strings.Index(tok, "▁"); j >= 0; {
			if j > 0 && !strings.HasSuffix(tok[:j], "▁") {
				if len(out) == maxCrossing {
					return nil, false
				}
				out = append(out, crossToken{tok[:j], tok[j:]})
			}
			k := strings.Index(tok[j+len("▁"):], "▁")
			if k < 0 {
				break
			}
			j += len("▁") + k
		}
	}
	return out, true
}
