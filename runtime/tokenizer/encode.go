package tokenizer

import (
	"unicode/utf8"
)

// Encode tokenizes text. With addSpecial the post-processor's special tokens are added (for
// Gemma 3: <bos> in front, nothing at the end).
//
// Added tokens are split out first, on the raw text, longest match at each position; each
// remaining segment has its spaces replaced by U+2581 and goes through BPE as one word.
// Invalid UTF-8 bytes in text are encoded as their byte-fallback tokens.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	out := make([]int32, 0, len(text)/4+len(t.prefix)+len(t.suffix)+1)
	if addSpecial {
		out = append(out, t.prefix...)
	}
	var st bpeState
	segStart := 0
	for i := 0; i < len(text); {
		if !t.added.first[text[i]] {
			i++
			continue
		}
		id, n := t.added.match(text[i:])
		if n == 0 {
			i++
			continue
		}
		out = t.encodeSegment(&st, out, text[segStart:i])
		out = append(out, id)
		i += n
		segStart = i
	}
	out = t.encodeSegment(&st, out, text[segStart:])
	if addSpecial {
		out = append(out, t.suffix...)
	}
	return out
}

// bpeState holds the per-call scratch buffers of BPE and the per-call word cache.
type bpeState struct {
	ids   []int32 // symbol ids; -1 once merged into the left neighbour
	prev  []int32
	next  []int32
	vals  []uint64 // linear BPE: merge value of each symbol with its right neighbour
	heap  []candidate
	cache map[string]uint64 // word → offset<<32 | length in cached
	words []int32
}

// candidate is a possible merge of the symbol at pos with its right neighbour. It is checked
// when popped: it is stale if either symbol has changed since (a symbol's id only changes by
// growing into a longer token, so equal ids mean unchanged symbols).
type candidate struct {
	key    uint64 // rank<<32 | pos: lowest rank first, then leftmost
	left   int32
	right  int32
	merged int32
}

// Word cache limits: words longer than maxCachedWord bytes are not cached, and the cache of
// one Encode call stops growing at maxCacheWords entries.
const (
	maxCachedWord  = 64
	maxCacheWords  = 1 << 16
	maxLinearWords = 32 // words of at most this many symbols use the quadratic scan
)

// encodeSegment appends the BPE tokens of one segment (text between added tokens).
//
// The segment is one BPE word, but when the vocabulary allows it (see [Tokenizer.wordSplit])
// it is cut before every space that follows a non-space: no merge can produce a symbol that
// spans such a cut, so BPE of the pieces gives the same tokens as BPE of the whole, and the
// pieces (English words with their leading space) repeat enough to be worth caching.
func (t *Tokenizer) encodeSegment(st *bpeState, out []int32, seg string) []int32 {
	if !t.wordSplit {
		return t.encodeWord(st, out, seg)
	}
	start := 0
	prevMark := true
	for i := 0; i < len(seg); {
		c := seg[i]
		mark, w := false, 1
		if c == ' ' {
			mark = true
		} else if c == 0xE2 && len(seg)-i >= 3 && seg[i+1] == 0x96 && seg[i+2] == 0x81 { // ▁
			mark, w = true, 3
		}
		if mark && !prevMark && (len(t.crossing) == 0 || !t.crossesAt(seg, i)) {
			out = t.encodeCached(st, out, seg[start:i])
			start = i
		}
		prevMark = mark
		i += w
	}
	return t.encodeCached(st, out, seg[start:])
}

// encodeCached is encodeWord through the per-call cache.
func (t *Tokenizer) encodeCached(st *bpeState, out []int32, word string) []int32 {
	if len(word) > maxCachedWord {
		return t.encodeWord(st, out, word)
	}
	if v, ok := st.cache[word]; ok {
		return append(out, st.words[v>>32:v>>32+v&0xffffffff]...)
	}
	n := len(out)
	out = t.encodeWord(st, out, word)
	if st.cache == nil {
		st.cache = make(map[string]uint64)
	}
	if len(st.cache) < maxCacheWords {
		st.cache[word] = uint64(len(st.words))<<32 | uint64(len(out)-n)
		st.words = append(st.words, out[n:]...)
	}
	return out
}

// crossesAt reports whether a vocabulary token that spans a non-space/space boundary could
// match seg across position i (seg[i] starts a space).
func (t *Tokenizer) crossesAt(seg string, i int) bool {
	for _, c := range t.crossing {
		if hasNormSuffix(seg[:i], c.before) && hasNormPrefix(seg[i:], c.after) {
			return true
		}
	}
	return false
}

// hasNormPrefix reports whether s, with spaces read as ▁, starts with p.
func hasNormPrefix(s, p string) bool {
	for _, r := range p {
		if len(s) == 0 {
			return false
		}
		if r == '▁' && s[0] == ' ' {
			s = s[1:]
			continue
		}
		q, size := utf8.DecodeRuneInString(s)
		if q != r || (q == utf8.RuneError && size == 1) {
			return false
		}
		s = s[size:]
	}
	return true
}

// hasNormSuffix reports whether s, with spaces read as ▁, ends with p.
func hasNormSuffix(s, p string) bool {
	for len(p) > 0 {
		r, psize := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-psize]
		if len(s) == 0 {
			return false
		}
		if r == '▁' && s[len(s)-1] == ' ' {
			s = s[:len(s)-1]
			continue
		}
		q, size := utf8.DecodeLastRuneInString(s)
		if q != r || (q == utf8.RuneError && size == 1) {
			return false
		}
		s = s[:len(s)-size]
	}
	return true
}

// encodeWord appends the BPE tokens of one word.
func (t *Tokenizer) encodeWord(st *bpeState, out []int32, seg string) []int32 {
	if len(seg) == 0 {
		return out
	}
	ids := st.ids[:0]
	for i := 0; i < len(seg); {
		c := seg[i]
		if c < utf8.RuneSelf {
			if id := t.ascii[c]; id >= 0 {
				ids = append(ids, id)
			} else {
				ids = append(ids, t.byteID[c])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(seg[i:])
		if id, ok := t.runes[r]; ok && !(r == utf8.RuneError && size == 1) {
			ids = append(ids, id)
		} else {
			for _, b := range []byte(seg[i : i+size]) {
				ids = append(ids, t.byteID[b])
			}
		}
		i += size
	}
	st.ids = ids
	switch {
	case len(ids) == 1:
		return append(out, ids[0])
	case len(ids) <= maxLinearWords:
		return t.bpeLinear(st, out)
	}
	return t.bpe(st, out)
}

// noMerge is the merge value of a pair without a merge; it compares above every real one.
const noMerge = ^uint64(0)

// bpeLinear is BPE for short words: it rescans the pairs for the lowest merge value
// (rank<<32 | merged id; the first of equal values is the leftmost) after every merge.
func (t *Tokenizer) bpeLinear(st *bpeState, out []int32) []int32 {
	ids := st.ids
	vals := st.vals[:0]
	for i := range len(ids) - 1 {
		v, ok := t.merges.get(pairKey(ids[i], ids[i+1]))
		if !ok {
			v = noMerge
		}
		vals = append(vals, v)
	}
	for {
		best, bi := noMerge, -1
		for i, v := range vals {
			if v < best {
				best, bi = v, i
			}
		}
		if bi < 0 {
			break
		}
		ids[bi] = int32(uint32(best))
		ids = append(ids[:bi+1], ids[bi+2:]...)
		vals = append(vals[:bi], vals[bi+1:]...)
		if bi > 0 {
			v, ok := t.merges.get(pairKey(ids[bi-1], ids[bi]))
			if !ok {
				v = noMerge
			}
			vals[bi-1] = v
		}
		if bi < len(vals) {
			v, ok := t.merges.get(pairKey(ids[bi], ids[bi+1]))
			if !ok {
				v = noMerge
			}
			vals[bi] = v
		}
	}
	st.vals = vals
	return append(out, ids...)
}

// bpe merges st.ids by rank and appends the result. It keeps the symbols in a linked list and
// the candidate merges in a binary heap, O(n log n) for n symbols.
func (t *Tokenizer) bpe(st *bpeState, out []int32) []int32 {
	ids := st.ids
	n := len(ids)
	prev, next := grow(st.prev, n), grow(st.next, n)
	st.prev, st.next = prev, next
	h := st.heap[:0]
	for i := range n {
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
	}
	next[n-1] = -1
	for i := range n - 1 {
		if v, ok := t.merges.get(pairKey(ids[i], ids[i+1])); ok {
			h = append(h, candidate{key: v&^0xffffffff | uint64(i), left: ids[i], right: ids[i+1], merged: int32(uint32(v))})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for len(h) > 0 {
		c := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		siftDown(h, 0)

		pos := int32(uint32(c.key))
		if ids[pos] != c.left {
			continue
		}
		q := next[pos]
		if q < 0 || ids[q] != c.right {
			continue
		}
		ids[pos] = c.merged
		ids[q] = -1
		nq := next[q]
		next[pos] = nq
		if nq >= 0 {
			prev[nq] = pos
		}
		if p := prev[pos]; p >= 0 {
			if v, ok := t.merges.get(pairKey(ids[p], c.merged)); ok {
				h = push(h, candidate{key: v&^0xffffffff | uint64(p), left: ids[p], right: c.merged, merged: int32(uint32(v))})
			}
		}
		if nq >= 0 {
			if v, ok := t.merges.get(pairKey(c.merged, ids[nq])); ok {
				h = push(h, candidate{key: v&^0xffffffff | uint64(pos), left: c.merged, right: ids[nq], merged: int32(uint32(v))})
			}
		}
	}
	st.heap = h
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, ids[i])
	}
	return out
}

func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}

func push(h []candidate, c candidate) []candidate {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key <= c.key {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = c
	return h
}

func siftDown(h []candidate, i int) {
	n := len(h)
	if n == 0 {
		return
	}
	c := h[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].key < h[l].key {
			m = r
		}
		if h[m].key >= c.key {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = c
}
