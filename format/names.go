package format

// TextLinear and VisionLinear are the canonical name suffixes of the linear weights of a text
// decoder layer ("text.blk.<i>.<suffix>") and of a vision tower layer ("vision.blk.<i>.<suffix>"):
// the tensors a quantization preset applies to. convert's tensor table names them (a test
// there checks it against these lists); quantize's policy reads them. Do not modify.
var (
	TextLinear   = []string{"attn_q", "attn_k", "attn_v", "attn_o", "ffn_gate", "ffn_up", "ffn_down"}
	VisionLinear = []string{"attn_q", "attn_k", "attn_v", "attn_o", "ffn_up", "ffn_down"}
)
