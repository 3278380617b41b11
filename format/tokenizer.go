package format

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"unicode/utf8"
)

// Limits of the tokenizer tables section; doc.go explains the layout. The Gemma 3 tokenizer
// has 262,145 ids, 514,906 merges, tokens of at most 93 bytes and a chat template of 1.5 KB.
const (
	// MaxTokenizerIDs caps the number of token ids.
	MaxTokenizerIDs = 1 << 22
	// MaxTokenizerMerges caps the number of merges.
	MaxTokenizerMerges = 1 << 23
	// MaxTokenBytes caps one token's bytes.
	MaxTokenBytes = 4096
	// MaxTokenizerAffix caps the ids put before or after a sequence.
	MaxTokenizerAffix = 16
	// MaxChatTemplate caps the chat template's bytes.
	MaxChatTemplate = 16 << 20

	tokenizerHeader = 40
	tokenizerName   = "tokenizer"
)

// Token flags of [TokenizerTables.Flags].
const (
	// TokenVocab marks an entry of the BPE model's vocabulary (model.vocab).
	TokenVocab uint8 = 1 << iota
	// TokenAdded marks an added token (split out of the text before BPE).
	TokenAdded
	// TokenSpecial marks an added token that decoding drops when asked to skip special tokens.
	TokenSpecial

	tokenFlagsKnown = TokenVocab | TokenAdded | TokenSpecial
)

// TokenizerTables are a BPE tokenizer's resolved tables, as the tokenizer section stores them
// (see doc.go): what the runtime builds its tokenizer from without parsing tokenizer.json.
type TokenizerTables struct {
	// Tokens holds each id's string ("" for an id that names no token); Flags its flags.
	Tokens []string
	Flags  []uint8
	// Merges are the BPE merges in rank order (rank = index), as token ids.
	Merges []TokenMerge
	// Prefix and Suffix are the ids the post-processor puts before and after a sequence.
	Prefix, Suffix []int32
	// BOS, EOS and EOT (the chat turn's end; EOS without a tokenizer_config.json) are ids.
	BOS, EOS, EOT int32
	// ChatTemplate is tokenizer_config.json's chat template ("" if none).
	ChatTemplate string
}

// TokenMerge is one merge: the pair Left, Right becomes Merged.
type TokenMerge struct{ Left, Right, Merged int32 }

// encodeTokenizer lays out t as the section's bytes, or says what rule t breaks.
func encodeTokenizer(t *TokenizerTables) ([]byte, error) {
	n := len(t.Tokens)
	if len(t.Flags) != n {
		return nil, fmt.Errorf("format: tokenizer tables: %d tokens but %d flags", n, len(t.Flags))
	}
	if n == 0 || n > MaxTokenizerIDs || len(t.Merges) > MaxTokenizerMerges || len(t.Prefix) > MaxTokenizerAffix ||
		len(t.Suffix) > MaxTokenizerAffix || len(t.ChatTemplate) > MaxChatTemplate {
		return nil, fmt.Errorf("format: tokenizer tables: %d ids, %d merges, %d+%d affix ids, %d template bytes: beyond the limits",
			n, len(t.Merges), len(t.Prefix), len(t.Suffix), len(t.ChatTemplate))
	}
	arena := 0
	for _, s := range t.Tokens {
		arena += len(s)
	}
	size := tokenizerHeader + 4*(n+1) + 12*len(t.Merges) + 4*(len(t.Prefix)+len(t.Suffix)) + n + arena + len(t.ChatTemplate)
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(len(t.Merges)))
	b = le.AppendUint16(b, uint16(len(t.Prefix)))
	b = le.AppendUint16(b, uint16(len(t.Suffix)))
	for _, id := range []int32{t.BOS, t.EOS, t.EOT} {
		b = le.AppendUint32(b, uint32(id))
	}
	b = le.AppendUint32(b, uint32(len(t.ChatTemplate)))
	b = le.AppendUint64(b, uint64(arena))
	end := uint32(0)
	b = le.AppendUint32(b, 0)
	for _, s := range t.Tokens {
		end += uint32(len(s))
		b = le.AppendUint32(b, end)
	}
	for _, m := range t.Merges {
		b = le.AppendUint32(b, uint32(m.Left))
		b = le.AppendUint32(b, uint32(m.Right))
		b = le.AppendUint32(b, uint32(m.Merged))
	}
	for _, id := range t.Prefix {
		b = le.AppendUint32(b, uint32(id))
	}
	for _, id := range t.Suffix {
		b = le.AppendUint32(b, uint32(id))
	}
	b = append(b, t.Flags...)
	for _, s := range t.Tokens {
		b = append(b, s...)
	}
	b = append(b, t.ChatTemplate...)
	// The writer refuses what the reader would.
	if _, err := checkTokenizer(b, func(off int64, format string, args ...any) error {
		return fmt.Errorf("format: tokenizer tables: "+format, args...)
	}); err != nil {
		return nil, err
	}
	return b, nil
}

// tokLayout is where the parts of a checked tokenizer section lie.
type tokLayout struct {
	n, merges, prefix, suffix int
	bos, eos, eot             int32
	offs, mergeOff, affixOff  int
	flagsOff, arenaOff        int
	tmplOff, tmplLen          int
}

// checkTokenizer checks a tokenizer section's bytes against every rule of doc.go; errf makes
// an error at a byte offset inside the section.
func checkTokenizer(b []byte, errf func(off int64, format string, args ...any) error) (tokLayout, error) {
	var l tokLayout
	le := binary.LittleEndian
	if len(b) < tokenizerHeader {
		return l, errf(0, "tokenizer section has %d bytes, shorter than its %d-byte header", len(b), tokenizerHeader)
	}
	if fl := le.Uint32(b); fl != 0 {
		return l, errf(0, "tokenizer section flags %#x, want 0", fl)
	}
	n, m := uint64(le.Uint32(b[4:])), uint64(le.Uint32(b[8:]))
	p, s := uint64(le.Uint16(b[12:])), uint64(le.Uint16(b[14:]))
	tl, arena := uint64(le.Uint32(b[28:])), le.Uint64(b[32:])
	switch {
	case n == 0 || n > MaxTokenizerIDs:
		return l, errf(4, "tokenizer has %d ids, want 1..%d", n, MaxTokenizerIDs)
	case m > MaxTokenizerMerges:
		return l, errf(8, "tokenizer has %d merges, above the limit %d", m, MaxTokenizerMerges)
	case p > MaxTokenizerAffix || s > MaxTokenizerAffix:
		return l, errf(12, "tokenizer has %d prefix and %d suffix ids, above the limit %d", p, s, MaxTokenizerAffix)
	case tl > MaxChatTemplate:
		return l, errf(28, "chat template of %d bytes, above the limit %d", tl, MaxChatTemplate)
	case arena > n*MaxTokenBytes:
		return l, errf(32, "%d token bytes for %d ids, above %d bytes per token", arena, n, MaxTokenBytes)
	}
	// Every term is capped above, so the sum cannot overflow.
	want := tokenizerHeader + 4*(n+1) + 12*m + 4*(p+s) + n + arena + tl
	if want != uint64(len(b)) {
		return l, errf(0, "tokenizer section has %d bytes, its counts (%d ids, %d merges, %d token bytes) need %d", len(b), n, m, arena, want)
	}
	l = tokLayout{n: int(n), merges: int(m), prefix: int(p), suffix: int(s),
		bos: int32(le.Uint32(b[16:])), eos: int32(le.Uint32(b[20:])), eot: int32(le.Uint32(b[24:])), offs: tokenizerHeader}
	l.mergeOff = l.offs + 4*(l.n+1)
	l.affixOff = l.mergeOff + 12*l.merges
	l.flagsOff = l.affixOff + 4*(l.prefix+l.suffix)
	l.arenaOff = l.flagsOff + l.n
	l.tmplOff = l.arenaOff + int(arena)
	l.tmplLen = int(tl)

	flags := b[l.flagsOff:l.arenaOff]
	tokens := b[l.arenaOff:l.tmplOff]
	prev := uint32(0)
	if le.Uint32(b[l.offs:]) != 0 {
		return l, errf(int64(l.offs), "token offsets start at %d, want 0", le.Uint32(b[l.offs:]))
	}
	for i := 0; i < l.n; i++ {
		at := l.offs + 4*(i+1)
		end := le.Uint32(b[at:])
		if end < prev || uint64(end) > arena || end-prev > MaxTokenBytes {
			return l, errf(int64(at), "token %d ends at %d: want %d..min(%d, %d)", i, end, prev, arena, uint64(prev)+MaxTokenBytes)
		}
		fl := flags[i]
		switch {
		case fl&^tokenFlagsKnown != 0:
			return l, errf(int64(l.flagsOff+i), "token %d has unknown flags %#x", i, fl)
		case fl&TokenSpecial != 0 && fl&TokenAdded == 0:
			return l, errf(int64(l.flagsOff+i), "token %d is special but not an added token", i)
		case (fl != 0) != (end > prev):
			return l, errf(int64(l.flagsOff+i), "token %d has flags %#x and %d bytes: a token is non-empty exactly when it has flags", i, fl, end-prev)
		case !utf8.Valid(tokens[prev:end]):
			return l, errf(int64(l.arenaOff)+int64(prev), "token %d is not UTF-8", i)
		}
		prev = end
	}
	if uint64(prev) != arena {
		return l, errf(int64(l.offs+4*l.n), "token offsets end at %d, want the %d token bytes", prev, arena)
	}
	valid := func(id int32) bool { return id >= 0 && int(id) < l.n && flags[id] != 0 }
	for i := 0; i < l.merges; i++ {
		at := l.mergeOff + 12*i
		for k := 0; k < 3; k++ {
			if id := int32(le.Uint32(b[at+4*k:])); !valid(id) {
				return l, errf(int64(at+4*k), "merge %d names id %d, which is no token", i, id)
			}
		}
	}
	for i := 0; i < l.prefix+l.suffix; i++ {
		at := l.affixOff + 4*i
		if id := int32(le.Uint32(b[at:])); !valid(id) {
			return l, errf(int64(at), "post-processor id %d is no token", id)
		}
	}
	for k, id := range []int32{l.bos, l.eos, l.eot} {
		if !valid(id) {
			return l, errf(int64(16+4*k), "%s id %d is no token", [...]string{"bos", "eos", "end-of-turn"}[k], id)
		}
	}
	if !utf8.Valid(b[l.tmplOff:]) {
		return l, errf(int64(l.tmplOff), "chat template is not UTF-8")
	}
	return l, nil
}

// decodeTokenizer builds the tables of a section checked by checkTokenizer. The token
// strings share one copy of the section's token bytes.
func decodeTokenizer(b []byte, l tokLayout) *TokenizerTables {
	le := binary.LittleEndian
	t := &TokenizerTables{
		Tokens: make([]string, l.n),
		Flags:  append([]uint8(nil), b[l.flagsOff:l.arenaOff]...),
		Merges: make([]TokenMerge, l.merges),
		BOS:    l.bos, EOS: l.eos, EOT: l.eot,
		ChatTemplate: string(b[l.tmplOff : l.tmplOff+l.tmplLen]),
	}
	arena := string(b[l.arenaOff:l.tmplOff])
	prev := uint32(0)
	for i := range t.Tokens {
		end := le.Uint32(b[l.offs+4*(i+1):])
		t.Tokens[i] = arena[prev:end]
		prev = end
	}
	mb := b[l.mergeOff:l.affixOff]
	for i := range t.Merges {
		t.Merges[i] = TokenMerge{int32(le.Uint32(mb[12*i:])), int32(le.Uint32(mb[12*i+4:])), int32(le.Uint32(mb[12*i+8:]))}
	}
	ids := func(off, k int) []int32 {
		if k == 0 {
			return nil
		}
		out := make([]int32, k)
		for i := range out {
			out[i] = int32(le.Uint32(b[off+4*i:]))
		}
		return out
	}
	t.Prefix = ids(l.affixOff, l.prefix)
	t.Suffix = ids(l.affixOff+4*l.prefix, l.suffix)
	return t
}

// SetTokenizer stores a tokenizer's resolved tables in the file (section kind 4, written on
// Commit). It fails if the tables break a rule the reader checks.
func (w *Writer) SetTokenizer(t *TokenizerTables) error {
	b, err := encodeTokenizer(t)
	if err != nil {
		return err
	}
	w.tokenizer = b
	return nil
}

// Tokenizer returns the tokenizer tables stored in the file (checked at open), or nil when
// the file has none (files written before format 1.2, or without a tokenizer).
func (f *File) Tokenizer() (*TokenizerTables, error) {
	if f.tok == nil {
		return nil, nil
	}
	var t *TokenizerTables
	err := f.m.Guard(func() error {
		s := *f.tok
		b := f.data[s.Offset : s.Offset+s.Stored]
		// The bytes were checked at open; a changed file shows as a checksum mismatch.
		if err := f.checkCRC(s, b); err != nil {
			return err
		}
		t = decodeTokenizer(b, f.tokLayout)
		return nil
	})
	return t, err
}

// HasTokenizerTables reports whether the file stores tokenizer tables.
func (f *File) HasTokenizerTables() bool { return f.tok != nil }

// parseTokenizer checks the tokenizer section at open.
func (f *File) parseTokenizer(s *sectionEntry, entryOff int64) error {
	if s.Name != tokenizerName || s.Flags != 0 {
		return f.errf(entryOff, "", ErrFormat, "tokenizer section %q with flags %#x, want name %q and flags 0 (not compressed, not required)", s.Name, s.Flags, tokenizerName)
	}
	b := f.data[s.Offset : s.Offset+s.Stored]
	if err := f.checkCRC(*s, b); err != nil {
		return err
	}
	l, err := checkTokenizer(b, func(off int64, format string, args ...any) error {
		return f.errf(s.Offset+off, "", ErrFormat, "tokenizer section: "+format, args...)
	})
	if err != nil {
		return err
	}
	f.tok, f.tokLayout = s, l
	return nil
}

func (f *File) checkCRC(s sectionEntry, stored []byte) error {
	if crc32.Checksum(stored, castagnoli) != s.CRC {
		return f.errf(s.Offset, "", ErrChecksum, "section %q checksum mismatch", s.Name)
	}
	return nil
}

// Equal reports whether two tables hold the same values.
func (t *TokenizerTables) Equal(u *TokenizerTables) bool {
	if t.BOS != u.BOS || t.EOS != u.EOS || t.EOT != u.EOT || t.ChatTemplate != u.ChatTemplate ||
		len(t.Tokens) != len(u.Tokens) || string(t.Flags) != string(u.Flags) || len(t.Merges) != len(u.Merges) ||
		!slices.Equal(t.Prefix, u.Prefix) || !slices.Equal(t.Suffix, u.Suffix) {
		return false
	}
	for i := range t.Tokens {
		if t.Tokens[i] != u.Tokens[i] {
			return false
		}
	}
	for i := range t.Merges {
		if t.Merges[i] != u.Merges[i] {
			return false
		}
	}
	return true
}
