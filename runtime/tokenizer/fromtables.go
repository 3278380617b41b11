package tokenizer

import (
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// fileTables names the tokenizer tables of a model file in errors.
const fileTables = "tokenizer tables"

// FromTables builds a tokenizer from resolved tables (a model file's tokenizer section, see
// [format.File.Tokenizer]) without parsing tokenizer.json: it gives the same ids and text as
// [Load] of the files the tables were made from. It checks what the file format cannot (token
// strings unique, the byte-fallback tokens present, added tokens unique) and keeps tb's token
// strings. Errors unwrap to [ErrFormat].
func FromTables(tb *format.TokenizerTables) (_ *Tokenizer, err error) {
	n := len(tb.Tokens)
	if n == 0 || n > MaxVocab || len(tb.Flags) != n {
		return nil, formatErr(fileTables, -1, "%d tokens and %d flags, want 1..%d of each", n, len(tb.Flags), MaxVocab)
	}
	valid := func(id int32) bool { return id >= 0 && int(id) < n && tb.Flags[id] != 0 }
	arenaLen := 0
	for _, tok := range tb.Tokens {
		arenaLen += len(tok)
	}
	var arena strings.Builder
	arena.Grow(arenaLen)
	t := &Tokenizer{
		tokens:   tb.Tokens,
		flags:    make([]uint8, n),
		runes:    make(map[rune]int32),
		bos:      tb.BOS,
		eos:      tb.EOS,
		eot:      tb.EOT,
		template: tb.ChatTemplate,
	}
	var contents []string
	var addedIDs []int32
	type entry struct{ off, n int }
	offs := make([]entry, n)
	for id, fl := range tb.Flags {
		tok := tb.Tokens[id]
		if fl == 0 {
			if tok != "" {
				return nil, formatErr(fileTables, -1, "id %d has token %q but no flags", id, tok)
			}
			continue
		}
		if len(tok) == 0 || len(tok) > MaxTokenBytes {
			return nil, formatErr(fileTables, -1, "token %d has %d bytes, want 1 to %d", id, len(tok), MaxTokenBytes)
		}
		f := flagValid
		if fl&format.TokenVocab != 0 {
			f |= flagVocab
		}
		if fl&format.TokenAdded != 0 {
			f |= flagAdded
			contents = append(contents, tok)
			addedIDs = append(addedIDs, int32(id))
		}
		if fl&format.TokenSpecial != 0 {
			f |= flagSpecial
		}
		t.flags[id] = f
		offs[id] = entry{arena.Len(), len(tok)}
		arena.WriteString(tok)
	}
	for i, m := range tb.Merges {
		if !valid(m.Left) || !valid(m.Right) || !valid(m.Merged) {
			return nil, formatErr(fileTables, -1, "merge %d (%d, %d → %d) names an id that is no token", i, m.Left, m.Right, m.Merged)
		}
	}
	// The merge table (the larger of the two hash tables) is built while the string table is.
	merged := make(chan mergeTable, 1)
	go func() {
		merged <- buildMergeTable(len(tb.Merges), func(i int) (uint64, int32) {
			m := tb.Merges[i]
			return pairKey(m.Left, m.Right), m.Merged
		})
	}()
	defer func() { t.merges = <-merged }()
	t.ids = newStrTable(arena.String(), n)
	for id, e := range offs {
		if e.n > 0 && !t.ids.insert(e.off, e.n, int32(id)) {
			return nil, formatErr(fileTables, -1, "token %q appears twice", tb.Tokens[id])
		}
	}
	for _, id := range append(append([]int32{t.bos, t.eos, t.eot}, tb.Prefix...), tb.Suffix...) {
		if !valid(id) {
			return nil, formatErr(fileTables, -1, "id %d (bos, eos, end of turn or post-processor) is no token", id)
		}
	}
	t.prefix = append([]int32(nil), tb.Prefix...)
	t.suffix = append([]int32(nil), tb.Suffix...)
	if t.added, err = buildTrie(contents, addedIDs); err != nil {
		return nil, err
	}
	if err := t.index(fileTables); err != nil {
		return nil, err
	}
	t.gemma3Chat = isGemma3Template(t.template)
	return t, nil
}

// Tables returns the tokenizer's resolved tables, for a model file's tokenizer section:
// [FromTables] of them encodes and decodes as t does. Merges that a later duplicate replaced
// are left out, which keeps the order of the others.
func (t *Tokenizer) Tables() *format.TokenizerTables {
	tb := &format.TokenizerTables{
		Tokens:       append([]string(nil), t.tokens...),
		Flags:        make([]uint8, len(t.flags)),
		Prefix:       append([]int32(nil), t.prefix...),
		Suffix:       append([]int32(nil), t.suffix...),
		BOS:          t.bos,
		EOS:          t.eos,
		EOT:          t.eot,
		ChatTemplate: t.template,
	}
	for id, fl := range t.flags {
		var f uint8
		if fl&flagVocab != 0 {
			f |= format.TokenVocab
		}
		if fl&flagAdded != 0 {
			f |= format.TokenAdded
		}
		if fl&flagSpecial != 0 {
			f |= format.TokenSpecial
		}
		tb.Flags[id] = f
	}
	// Ranks are below the number of merges the table was built from, which is at most half
	// its slots.
	byRank := make([]format.TokenMerge, len(t.merges.slots)/2+1)
	have := make([]bool, len(byRank))
	for _, s := range t.merges.slots {
		if s.key == emptyKey {
			continue
		}
		r := s.val >> 32
		byRank[r] = format.TokenMerge{Left: int32(s.key >> 32), Right: int32(uint32(s.key)), Merged: int32(uint32(s.val))}
		have[r] = true
	}
	for r, m := range byRank {
		if have[r] {
			tb.Merges = append(tb.Merges, m)
		}
	}
	return tb
}
