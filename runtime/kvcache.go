package runtime

// KVCache holds the attention keys (after q/k norm and RoPE) and values of every layer, in
// float32. Global layers keep every position and grow as the sequence does (capacity doubling,
// capped at the session's context length). Sliding-window layers keep a ring buffer of
// exactly sliding_window slots, position u in slot u mod sliding_window, so their memory stops
// growing once the window is full: the sliding mask t − w < u ≤ t never needs an older key.
type KVCache struct {
	kvDim  int // num_key_value_heads · head_dim
	window int
	maxPos int
	pos    int // positions stored: 0 … pos−1
	layers []layerKV
}

type layerKV struct {
	global bool
	k, v   []float32 // global: pos·kvDim (len), growing; sliding: window·kvDim
}

func newKVCache(m *Model, maxPos int) *KVCache {
	c := &KVCache{
		kvDim:  m.Config.NumKVHeads * m.Config.HeadDim,
		window: m.Config.SlidingWindow,
		maxPos: maxPos,
		layers: make([]layerKV, len(m.layers)),
	}
	for i := range c.layers {
		c.layers[i].global = m.layers[i].global
	}
	return c
}

// Len returns the number of positions stored (the position of the next token).
func (c *KVCache) Len() int { return c.pos }

// Reset forgets every position; the buffers are kept for reuse.
func (c *KVCache) Reset() {
	c.pos = 0
	for i := range c.layers {
		if c.layers[i].global {
			c.layers[i].k = c.layers[i].k[:0]
			c.layers[i].v = c.layers[i].v[:0]
		}
	}
}

// bytesPerPos is the cache size of one position in one layer (keys and values).
func (c *KVCache) bytesPerPos() int64 { return int64(2 * c.kvDim * 4) }

// Bytes returns the bytes of keys and values in use: every stored position on global layers,
// at most sliding_window positions on sliding layers.
func (c *KVCache) Bytes() int64 {
	var n int64
	for i := range c.layers {
		if c.layers[i].global {
			n += int64(c.pos)
		} else {
			n += int64(min(c.pos, c.window))
		}
	}
	return n * c.bytesPerPos()
}

// AllocatedBytes returns the bytes the cache buffers hold (capacity, at least [KVCache.Bytes]).
func (c *KVCache) AllocatedBytes() int64 {
	var n int64
	for i := range c.layers {
		n += int64(cap(c.layers[i].k)+cap(c.layers[i].v)) * 4
	}
	return n
}

// FullBytes returns what a cache keeping every position on every layer would hold for the
// stored positions (for comparison with [KVCache.Bytes]).
func (c *KVCache) FullBytes() int64 {
	return int64(len(c.layers)) * int64(c.pos) * c.bytesPerPos()
}

// slot returns the row index of position u in layer l's buffers.
func (c *KVCache) slot(lkv *layerKV, u int) int {
	if lkv.global {
		return u
	}
	return u % c.window
}

// keyAt and valueAt return the stored key and value rows of position u (which must be stored
// and, on sliding layers, within the last window positions).
func (c *KVCache) keyAt(lkv *layerKV, u int) []float32 {
	s := c.slot(lkv, u) * c.kvDim
	return lkv.k[s : s+c.kvDim]
}

func (c *KVCache) valueAt(lkv *layerKV, u int) []float32 {
	s := c.slot(lkv, u) * c.kvDim
	return lkv.v[s : s+c.kvDim]
}

// store appends the keys and values of a chunk of n positions p0 … p0+n−1 (k and v are n·kvDim)
// to layer l. On sliding layers only the last window positions of the chunk are written; the
// chunk's attention must already have been computed, since the ring may overwrite slots it
// read.
func (c *KVCache) store(l int, p0, n int, k, v []float32) {
	lkv := &c.layers[l]
	d := c.kvDim
	if lkv.global {
		need := (p0 + n) * d
		if need > cap(lkv.k) {
			newCap := max(need, 2*cap(lkv.k), 64*d)
			newCap = min(newCap, c.maxPos*d)
			nk := make([]float32, len(lkv.k), newCap)
			copy(nk, lkv.k)
			nv := make([]float32, len(lkv.v), newCap)
			copy(nv, lkv.v)
			lkv.k, lkv.v = nk, nv
		}
		lkv.k = lkv.k[:need]
		lkv.v = lkv.v[:need]
		copy(lkv.k[p0*d:], k[:n*d])
		copy(lkv.v[p0*d:], v[:n*d])
		return
	}
	if lkv.k == nil {
		slots := min(c.window, c.maxPos)
		lkv.k = make([]float32, slots*d)
		lkv.v = make([]float32, slots*d)
	}
	for i := max(0, n-c.window); i < n; i++ {
		s := ((p0 + i) % c.window) * d
		copy(lkv.k[s:s+d], k[i*d:(i+1)*d])
		copy(lkv.v[s:s+d], v[i*d:(i+1)*d])
	}
}
