package vision

import (
	"fmt"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// Input names one activation that the tower's and projector's weight products read. Several
// products may share one input (q, k and v read InAttn).
type Input int

const (
	// InPatch is the input of vision.patch_embd: the flattened (channel, row, column) pixels
	// of each patch.
	InPatch Input = iota
	// InAttn is the input of a block's attn_q, attn_k and attn_v: LayerNorm(h) (ln1).
	InAttn
	// InAttnOut is the input of attn_o: the attention output of all heads.
	InAttnOut
	// InFFN is the input of ffn_up: LayerNorm(h) (ln2).
	InFFN
	// InFFNDown is the input of ffn_down: GELU(up).
	InFFNDown
	// InProj is the input of mm.input_proj: the pooled tokens after the soft-embedding norm.
	InProj
)

// Tensors returns the canonical names of the weights that read in at block layer (ignored
// for InPatch and InProj, which belong to no block).
func (in Input) Tensors(layer int) []string {
	p := fmt.Sprintf("vision.blk.%d.", layer)
	switch in {
	case InPatch:
		return []string{"vision.patch_embd"}
	case InAttn:
		return []string{p + "attn_q", p + "attn_k", p + "attn_v"}
	case InAttnOut:
		return []string{p + "attn_o"}
	case InFFN:
		return []string{p + "ffn_up"}
	case InFFNDown:
		return []string{p + "ffn_down"}
	case InProj:
		return []string{"mm.input_proj"}
	}
	return nil
}

// Observer receives the n rows (n × cols floats, row-major) of one weight product's input
// exactly as the product reads them; layer is the block index (−1 for InPatch and InProj).
// It must not keep or modify x.
type Observer func(layer int, in Input, x []float32, n int)

// EncodeObserved is [Tower.Encode] (features only) calling obs with every weight product's
// input, image by image and in the order the products run.
func (v *Tower) EncodeObserved(e kernel.Exec, pixels []float32, n int, obs Observer) error {
	return v.guard(func() error {
		_, err := v.encode(e, pixels, n, false, obs)
		return err
	})
}

// tap passes one product input to the observer, if any.
func (s *scratch) tap(layer int, in Input, x []float32, n int) {
	if s.obs != nil {
		s.obs(layer, in, x, n)
	}
}
