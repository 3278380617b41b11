package runtime

// KVCacheBytes returns the bytes the KV cache of a session holds once ctx positions are
// stored: keys and values in elements of type t of every position on the global layers and of
// at most sliding_window positions on the sliding-window layers.
func (m *Model) KVCacheBytes(ctx int, t KVType) int64 {
	var n int64
	for i := range m.layers {
		if m.layers[i].global || m.Config.SlidingWindow <= 0 {
			n += int64(ctx)
		} else {
			n += int64(min(ctx, m.Config.SlidingWindow))
		}
	}
	return n * int64(2*m.Config.NumKVHeads*m.Config.HeadDim*t.Size())
}
