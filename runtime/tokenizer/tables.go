package tokenizer

import (
	"hash/maphash"
	"math/bits"
	"sort"
)

// mergeTable maps a pair of adjacent token ids to the pair's merge rank and merged id. It is
// an open-addressing hash table with linear probing, filled at most half: with 514906 merges
// it is 2^20 slots of 16 bytes, built in one pass without rehashing.
type mergeTable struct {
	slots []mergeSlot
	shift uint
}

type mergeSlot struct {
	key uint64 // left<<32 | right; emptyKey marks a free slot
	val uint64 // rank<<32 | merged id
}

// emptyKey cannot be a real key: ids are below 2^31.
const emptyKey = ^uint64(0)

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

func (m *mergeTable) hash(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> m.shift }

// buildMergeTable makes the table of n merges; at(i) gives merge i's key and merged id, and
// i is its rank.
func buildMergeTable(n int, at func(i int) (key uint64, merged int32)) mergeTable {
	size := 16
	for size < 2*n {
		size *= 2
	}
	m := mergeTable{slots: make([]mergeSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	for i := range m.slots {
		m.slots[i].key = emptyKey
	}
	mask := uint64(size - 1)
	for rank := range n {
		key, merged := at(rank)
		val := uint64(rank)<<32 | uint64(uint32(merged))
		for h := m.hash(key); ; h = (h + 1) & mask {
			s := &m.slots[h]
			if s.key == emptyKey || s.key == key {
				// A later duplicate replaces the earlier one.
				s.key, s.val = key, val
				break
			}
		}
	}
	return m
}

// get returns rank<<32 | merged id for a pair.
func (m *mergeTable) get(key uint64) (uint64, bool) {
	mask := uint64(len(m.slots) - 1)
	for h := m.hash(key); ; h = (h + 1) & mask {
		s := &m.slots[h]
		if s.key == key {
			return s.val, true
		}
		if s.key == emptyKey {
			return 0, false
		}
	}
}

// trie finds the longest added token at the start of a string. Node 0 is the root; each
// node's children are a contiguous run of edges sorted by byte.
type trie struct {
	first [256]bool // bytes that start some added token
	nodes []trieNode
	edges []trieEdge
}

type trieNode struct {
	id        int32 // token ending here, -1 if none
	edgeStart int32
	edgeEnd   int32
	_         int32
}

type trieEdge struct {
	b  byte
	to int32
}

func buildTrie(contents []string, ids []int32) (trie, error) {
	order := make([]int, len(contents))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return contents[order[a]] < contents[order[b]] })
	for i := 1; i < len(order); i++ {
		if contents[order[i]] == contents[order[i-1]] {
			return trie{}, formatErr(fileTokenizer, -1, "added token %q appears twice", contents[order[i]])
		}
	}
	sorted := make([]string, len(order))
	sortedIDs := make([]int32, len(order))
	for i, o := range order {
		sorted[i], sortedIDs[i] = contents[o], ids[o]
	}
	var t trie
	for _, c := range sorted {
		t.first[c[0]] = true
	}
	// build makes the node for sorted[lo:hi], which share their first depth bytes. Depth is
	// bounded by MaxTokenBytes.
	var build func(lo, hi, depth int) int32
	build = func(lo, hi, depth int) int32 {
		n := int32(len(t.nodes))
		t.nodes = append(t.nodes, trieNode{id: -1})
		if lo < hi && len(sorted[lo]) == depth {
			t.nodes[n].id = sortedIDs[lo]
			lo++
		}
		var local []trieEdge
		for lo < hi {
			b := sorted[lo][depth]
			end := lo + 1
			for end < hi && sorted[end][depth] == b {
				end++
			}
			local = append(local, trieEdge{b: b, to: build(lo, end, depth+1)})
			lo = end
		}
		t.nodes[n].edgeStart = int32(len(t.edges))
		t.edges = append(t.edges, local...)
		t.nodes[n].edgeEnd = int32(len(t.edges))
		return n
	}
	build(0, len(sorted), 0)
	return t, nil
}

// match returns the id and byte length of the longest added token that s starts with.
func (t *trie) match(s string) (id int32, n int) {
	if len(s) == 0 || !t.first[s[0]] {
		return -1, 0
	}
	id = -1
	node := &t.nodes[0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		edges := t.edges[node.edgeStart:node.edgeEnd]
		next := int32(-1)
		// Binary search; most nodes have one or two children.
		lo, hi := 0, len(edges)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if edges[mid].b < c {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < len(edges) && edges[lo].b == c {
			next = edges[lo].to
		}
		if next < 0 {
			break
		}
		node = &t.nodes[next]
		if node.id >= 0 {
			id, n = node.id, i+1
		}
	}
	return id, n
}

// strTable maps token strings to ids. It replaces a map[string]int32 because resolving the
// 514906 merges (three lookups each) dominated Load: its slots point into one string arena
// holding all tokens, so a lookup touches one slot and the token's bytes, and the table is
// built without per-entry allocation.
type strTable struct {
	arena string
	slots []strSlot
	shift uint
	n     int
	seed  maphash.Seed
}

type strSlot struct {
	off uint32 // token bytes are arena[off : off+len]
	len uint32 // 0 marks a free slot (tokens are never empty)
	id  int32
	tag uint32 // high half of the hash, to skip most comparisons
}

// newStrTable returns a table for about capacity tokens, filled at most 3/4 before it grows
// (262144 tokens: 2^19 slots of 16 bytes).
func newStrTable(arena string, capacity int) *strTable {
	size := 16
	for 2*size < 3*capacity {
		size *= 2
	}
	return &strTable{
		arena: arena,
		slots: make([]strSlot, size),
		shift: uint(64 - bits.TrailingZeros(uint(size))),
		seed:  maphash.MakeSeed(),
	}
}

// insert adds arena[off:off+n] with id, reporting false if the token is present already.
func (t *strTable) insert(off, n int, id int32) bool {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
	}
	tok := t.arena[off : off+n]
	h := maphash.String(t.seed, tok)
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.len == 0 {
			*s = strSlot{off: uint32(off), len: uint32(n), id: id, tag: uint32(h >> 32)}
			t.n++
			return true
		}
		if s.tag == uint32(h>>32) && t.arena[s.off:s.off+s.len] == tok {
			return false
		}
	}
}

func (t *strTable) grow() {
	old := t.slots
	t.slots = make([]strSlot, 2*len(old))
	t.shift--
	t.n = 0
	for _, s := range old {
		if s.len != 0 {
			t.insert(int(s.off), int(s.len), s.id)
		}
	}
}

func (t *strTable) get(key string) (int32, bool) {
	h := maphash.String(t.seed, key)
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.len == 0 {
			return 0, false
		}
		if s.tag == uint32(h>>32) && t.arena[s.off:s.off+s.len] == key {
			return s.id, true
		}
	}
}

func (t *strTable) getBytes(key []byte) (int32, bool) {
	h := maphash.Bytes(t.seed, key)
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.len == 0 {
			return 0, false
		}
		if s.tag == uint32(h>>32) && t.arena[s.off:s.off+s.len] == string(key) {
			return s.id, true
		}
	}
}

// strKey is a byte range of a caller's buffer.
type strKey struct{ start, end int }

// getBatch looks up buf[k.start:k.end] for every key, appending the ids (-1 if absent) to
// ids[:0]. The passes over the batch (hash, probe, verify) have no dependences between keys,
// so their cache misses overlap; a lookup is then several times cheaper than with get.
func (t *strTable) getBatch(buf []byte, keys []strKey, ids []int32) []int32 {
	ids = ids[:0]
	mask := uint64(len(t.slots) - 1)
	for _, k := range keys {
		// First pass: hash and probe to the first slot whose tag and length match.
		h := maphash.Bytes(t.seed, buf[k.start:k.end])
		tag, n := uint32(h>>32), uint32(k.end-k.start)
		i := h >> t.shift
		for {
			s := &t.slots[i]
			if s.len == 0 {
				i = noSlot
				break
			}
			if s.tag == tag && s.len == n {
				break
			}
			i = (i + 1) & mask
		}
		ids = append(ids, int32(i))
	}
	for j, k := range keys {
		// Second pass: compare the bytes; on a tag collision fall back to a full lookup.
		key := buf[k.start:k.end]
		i := uint64(uint32(ids[j]))
		switch {
		case ids[j] == int32(noSlot):
			ids[j] = -1
		case t.arena[t.slots[i].off:t.slots[i].off+t.slots[i].len] == string(key):
			ids[j] = t.slots[i].id
		default:
			id, ok := t.getBytes(key)
			if !ok {
				id = -1
			}
			ids[j] = id
		}
	}
	return ids
}

// noSlot marks "not found" in the first pass of getBatch; tables are far smaller than 2^31 slots.
const noSlot = 1<<31 - 1
