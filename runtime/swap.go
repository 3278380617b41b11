package runtime

import (
	"fmt"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// SwapLinear replaces the decoder weight name ("text.blk.N.attn_q", attn_k, attn_v, attn_o,
// ffn_gate, ffn_up, ffn_down) by w, which must have the same shape, and returns the matrix it
// replaced. Quantization tools use it to measure what one tensor's quantization does to the
// model's output; a session must not be running while a weight is swapped.
func (m *Model) SwapLinear(name string, w *kernel.Matrix) (*kernel.Matrix, error) {
	var l int
	var short string
	if n, err := fmt.Sscanf(name, "text.blk.%d.%s", &l, &short); n != 2 || err != nil || l < 0 || l >= len(m.layers) {
		return nil, fmt.Errorf("runtime: swap %q: not a decoder weight of this %d-layer model", name, len(m.layers))
	}
	ly := &m.layers[l]
	var slot **kernel.Matrix
	switch short {
	case "attn_q":
		slot = &ly.q
	case "attn_k":
		slot = &ly.k
	case "attn_v":
		slot = &ly.v
	case "attn_o":
		slot = &ly.o
	case "ffn_gate":
		slot = &ly.gate
	case "ffn_up":
		slot = &ly.up
	case "ffn_down":
		slot = &ly.down
	default:
		return nil, fmt.Errorf("runtime: swap %q: not a decoder linear weight", name)
	}
	old := *slot
	if w.Rows() != old.Rows() || w.Cols() != old.Cols() {
		return nil, fmt.Errorf("runtime: swap %q: %d×%d, the model's is %d×%d", name, w.Rows(), w.Cols(), old.Rows(), old.Cols())
	}
	*slot = w
	ly.qkv = [3]*kernel.Matrix{ly.q, ly.k, ly.v}
	return old, nil
}
