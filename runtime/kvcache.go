package runtime

import (
	"encoding/binary"
	"fmt"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// KVType is the element type of a [KVCache].
type KVType uint8

const (
	// KVF32 stores keys and values in float32: the default, exact.
	KVF32 KVType = iota
	// KVBF16 stores them rounded to bfloat16 (to nearest, ties to even), half the memory;
	// attention widens them back and computes in float32. A session rounds the keys and
	// values of a prefill chunk to bfloat16 before its own queries attend to them, so that a
	// sequence gives the same result however it is split into chunks and decode steps.
	KVBF16
)

// String returns the type's flag name: f32 or bf16.
func (t KVType) String() string {
	switch t {
	case KVF32:
		return "f32"
	case KVBF16:
		return "bf16"
	}
	return fmt.Sprintf("KVType(%d)", uint8(t))
}

// Size returns the bytes of one element.
func (t KVType) Size() int {
	if t == KVBF16 {
		return 2
	}
	return 4
}

// ParseKVType parses a flag value: f32 or bf16.
func ParseKVType(s string) (KVType, error) {
	switch s {
	case "f32":
		return KVF32, nil
	case "bf16":
		return KVBF16, nil
	}
	return 0, fmt.Errorf("runtime: KV cache type %q, want f32 or bf16", s)
}

// roundBF16 replaces every x[i] by its bfloat16 rounding (the value a [KVBF16] cache holds).
func roundBF16(x []float32) {
	for i, v := range x {
		x[i] = format.BF16ToFloat32(format.Float32ToBF16(v))
	}
}

// KVCache holds the attention keys (after q/k norm and RoPE) and values of every layer, in
// float32 or (KVBF16) bfloat16. Global layers keep every position and grow as the sequence does (capacity doubling,
// capped at the session's context length). Sliding-window layers keep a ring buffer of
// exactly sliding_window slots, position u in slot u mod sliding_window, so their memory stops
// growing once the window is full: the sliding mask t − w < u ≤ t never needs an older key.
type KVCache struct {
	kvDim  int // num_key_value_heads · head_dim
	typ    KVType
	window int
	maxPos int
	pos    int // positions stored: 0 … pos−1
	layers []layerKV
}

type layerKV struct {
	global bool
	k, v   []float32 // KVF32; global: pos·kvDim (len), growing; sliding: window·kvDim
	kb, vb []byte    // KVBF16: the same rows as little-endian bfloat16, 2 bytes a value
}

func newKVCache(m *Model, maxPos int, t KVType) *KVCache {
	c := &KVCache{
		kvDim:  m.Config.NumKVHeads * m.Config.HeadDim,
		typ:    t,
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
			c.layers[i].kb = c.layers[i].kb[:0]
			c.layers[i].vb = c.layers[i].vb[:0]
		}
	}
}

// Type returns the cache's element type.
func (c *KVCache) Type() KVType { return c.typ }

// bytesPerPos is the cache size of one position in one layer (keys and values).
func (c *KVCache) bytesPerPos() int64 { return int64(2 * c.kvDim * c.typ.Size()) }

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
		n += int64(cap(c.layers[i].k)+cap(c.layers[i].v))*4 + int64(cap(c.layers[i].kb)+cap(c.layers[i].vb))
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
// and, on sliding layers, within the last window positions) of a KVF32 cache.
func (c *KVCache) keyAt(lkv *layerKV, u int) []float32 {
	s := c.slot(lkv, u) * c.kvDim
	return lkv.k[s : s+c.kvDim]
}

func (c *KVCache) valueAt(lkv *layerKV, u int) []float32 {
	s := c.slot(lkv, u) * c.kvDim
	return lkv.v[s : s+c.kvDim]
}

// keyRow returns the key of KV head g at position u as float32: the cache's own row (KVF32)
// or buf (head_dim values) holding it widened (KVBF16).
func (c *KVCache) keyRow(buf []float32, lkv *layerKV, u, g int) []float32 {
	return c.headRow(buf, lkv.k, lkv.kb, lkv, u, g)
}

// valueRow is keyRow for the values.
func (c *KVCache) valueRow(buf []float32, lkv *layerKV, u, g int) []float32 {
	return c.headRow(buf, lkv.v, lkv.vb, lkv, u, g)
}

// headRow is keyRow over one of the layer's planes (f32 rows f, or bf16 bytes b).
func (c *KVCache) headRow(buf, f []float32, b []byte, lkv *layerKV, u, g int) []float32 {
	hd := len(buf)
	s := c.slot(lkv, u)*c.kvDim + g*hd
	if c.typ == KVF32 {
		return f[s : s+hd]
	}
	kernel.WidenBF16(buf, b[2*s:2*(s+hd)])
	return buf
}

// store appends the keys and values of a chunk of n positions p0 … p0+n−1 (k and v are n·kvDim)
// to layer l. On sliding layers only the last window positions of the chunk are written; the
// chunk's attention must already have been computed, since the ring may overwrite slots it
// read. A KVBF16 cache stores them rounded to bfloat16.
func (c *KVCache) store(l int, p0, n int, k, v []float32) {
	if c.typ == KVBF16 {
		c.storeBF16(l, p0, n, k, v)
		return
	}
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

// putBF16 writes x rounded to bfloat16 into dst (2·len(x) bytes).
func putBF16(dst []byte, x []float32) {
	for i, v := range x {
		binary.LittleEndian.PutUint16(dst[2*i:], format.Float32ToBF16(v))
	}
}

// storeBF16 is store for a KVBF16 cache.
func (c *KVCache) storeBF16(l int, p0, n int, k, v []float32) {
	lkv := &c.layers[l]
	d := c.kvDim
	if lkv.global {
		need := 2 * (p0 + n) * d
		if need > cap(lkv.kb) {
			newCap := max(need, 2*cap(lkv.kb), 2*64*d)
			newCap = min(newCap, 2*c.maxPos*d)
			nk := make([]byte, len(lkv.kb), newCap)
			copy(nk, lkv.kb)
			nv := make([]byte, len(lkv.vb), newCap)
			copy(nv, lkv.vb)
			lkv.kb, lkv.vb = nk, nv
		}
		lkv.kb = lkv.kb[:need]
		lkv.vb = lkv.vb[:need]
		putBF16(lkv.kb[2*p0*d:], k[:n*d])
		putBF16(lkv.vb[2*p0*d:], v[:n*d])
		return
	}
	if lkv.kb == nil {
		slots := min(c.window, c.maxPos)
		lkv.kb = make([]byte, 2*slots*d)
		lkv.vb = make([]byte, 2*slots*d)
	}
	for i := max(0, n-c.window); i < n; i++ {
		s := ((p0 + i) % c.window) * d
		putBF16(lkv.kb[2*s:2*(s+d)], k[i*d:(i+1)*d])
		putBF16(lkv.vb[2*s:2*(s+d)], v[i*d:(i+1)*d])
	}
}
