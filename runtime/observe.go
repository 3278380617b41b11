package runtime

// LinearInput names one activation that the decoder's weight products read. Several products
// may share one input (q, k and v read InAttn; gate and up read InFFN).
type LinearInput int

const (
	// InAttn is the input of attn_q, attn_k and attn_v: RMSNorm(h)·(1 + input_layernorm).
	InAttn LinearInput = iota
	// InAttnOut is the input of attn_o: the attention output of all heads, [H·head_dim].
	InAttnOut
	// InFFN is the input of ffn_gate and ffn_up: RMSNorm(h)·(1 + pre_feedforward_layernorm).
	InFFN
	// InFFNDown is the input of ffn_down: GELU(gate)·up, [intermediate].
	InFFNDown
)

// Tensors returns the short names (as in "text.blk.N.<name>") of the weights that read in.
func (in LinearInput) Tensors() []string {
	switch in {
	case InAttn:
		return []string{"attn_q", "attn_k", "attn_v"}
	case InAttnOut:
		return []string{"attn_o"}
	case InFFN:
		return []string{"ffn_gate", "ffn_up"}
	case InFFNDown:
		return []string{"ffn_down"}
	}
	return nil
}

// Observer receives, for decoder layer layer, the n rows (n × cols floats, row-major) of one
// linear input exactly as the weight product reads them. It must not keep or modify x.
type Observer func(layer int, in LinearInput, x []float32, n int)

// SetObserver installs f (nil removes it); every later [Session.Forward] calls it for every
// linear input of every layer, in layer order, once per prefill chunk or decode step.
func (s *Session) SetObserver(f Observer) { s.observe = f }

func (s *Session) tap(layer int, in LinearInput, x []float32, n int) {
	if s.observe != nil {
		s.observe(layer, in, x, n)
	}
}
