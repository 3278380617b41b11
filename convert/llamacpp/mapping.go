// Package llamacpp moves Gemma 3 models between gemmatool files and llama.cpp's GGUF files
// (architecture "gemma3", as llama.cpp, ollama and LM Studio load them): [Export] writes a
// gemmatool file as a GGUF, [Import] reads a GGUF into a gemmatool file.
//
// The conventions of llama.cpp's Gemma 3 loader that the mapping follows:
//   - tensor names: token_embd, output_norm, blk.N.{attn_norm, attn_q, attn_k, attn_v,
//     attn_output, attn_q_norm, attn_k_norm, post_attention_norm, ffn_norm, ffn_gate, ffn_up,
//     ffn_down, post_ffw_norm}.weight; the LM head is tied to token_embd (no output.weight);
//   - GGUF dimensions run innermost first, so an [out, in] matrix is ne = [in, out]; the bytes
//     of F32/F16/BF16 matrices are the same, Q8_0/Q4_0 are regrouped from gemmatool's planar
//     layout (codes plane, then scales plane) into GGUF blocks (scale, codes);
//   - RMSNorm weights are stored as 1+w (llama.cpp multiplies by the weight; Gemma by 1+w), in
//     F32;
//   - llama.cpp scales queries by 1/sqrt(head_dim) (1/sqrt(hidden/heads) for the 62-layer
//     model) and ignores query_pre_attn_scalar: when a model asks for another scalar, the
//     ratio is folded into attn_q_norm (exact in real arithmetic: the query is RMS-normed,
//     multiplied by the norm weight and rotated, all linear), rounded once in float32;
//   - the sliding-window layers are written as a per-layer bool array
//     (gemma3.attention.sliding_window_pattern), the local RoPE base as
//     gemma3.rope.freq_base_swa, the global layers' linear RoPE scaling as
//     gemma3.rope.scaling.{type,factor};
//   - the tokenizer is the SentencePiece-style "llama" model: tokens, scores, token types,
//     special ids, add_bos, add_space_prefix = false.
package llamacpp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/format/gguf"
)

// typeMap is the one table of tensor types that move between the two formats, with how a
// payload is regrouped. Adding a GGUF type is one line here plus its gemmatool dtype.
var typeMap = []struct {
	dtype format.DType
	ggml  gguf.Type
	// layout: how a gemmatool payload becomes GGUF blocks.
	layout payloadLayout
	// codeBytes: for blocked types, the code bytes per 32 elements.
	codeBytes int
}{
	{format.F32, gguf.F32, plain, 0},
	{format.F16, gguf.F16, plain, 0},
	{format.BF16, gguf.BF16, plain, 0},
	{format.Q8_0, gguf.Q8_0, blocked, 32},
	{format.Q4_0, gguf.Q4_0, blocked, 16},
	{format.Q2_K, gguf.Q2_K, gathered, 0},
	{format.Q3_K, gguf.Q3_K, gathered, 0},
	{format.Q4_K, gguf.Q4_K, gathered, 0},
	{format.Q5_K, gguf.Q5_K, gathered, 0},
	{format.Q6_K, gguf.Q6_K, gathered, 0},
	{format.IQ4_NL, gguf.IQ4_NL, gathered, 0},
}

// payloadLayout says how a gemmatool payload maps to GGUF's.
type payloadLayout int

const (
	// plain: the same bytes (row-major elements).
	plain payloadLayout = iota
	// blocked: a codes plane and an f16 scales plane in gemmatool; (f16 scale, codes) blocks
	// of 32 in GGUF.
	blocked
	// gathered: a k-quant or IQ4_NL, whose GGUF block is gathered from both planes field by
	// field ([format.GGMLBlock], [format.PutGGMLBlock]).
	gathered
)

func layoutOf(t format.DType) payloadLayout {
	for _, m := range typeMap {
		if m.dtype == t {
			return m.layout
		}
	}
	return plain
}

func ggmlOf(t format.DType) (gguf.Type, bool) {
	for _, m := range typeMap {
		if m.dtype == t {
			return m.ggml, true
		}
	}
	return 0, false
}

func dtypeOf(t gguf.Type) (format.DType, bool) {
	for _, m := range typeMap {
		if m.ggml == t {
			return m.dtype, true
		}
	}
	return 0, false
}

// codeBytesOf returns the code bytes per block of a blocked type, 0 for a plain one.
func codeBytesOf(t format.DType) int {
	for _, m := range typeMap {
		if m.dtype == t && m.layout == blocked {
			return m.codeBytes
		}
	}
	return 0
}

// MappableTypes lists the gemmatool types that export to GGUF without requantizing.
func MappableTypes() []format.DType {
	var out []format.DType
	for _, m := range typeMap {
		out = append(out, m.dtype)
	}
	return out
}

// mappableNames lists the GGUF types of typeMap, for error messages.
func mappableNames() string {
	var names []string
	for _, m := range typeMap {
		names = append(names, m.ggml.String())
	}
	return strings.Join(names, ", ")
}

// nameRule maps one canonical tensor name (with "{i}" for the layer) to its GGUF name.
type nameRule struct {
	canon, gguf string
	norm        bool // a Gemma RMSNorm weight (stored as 1+w in GGUF)
}

var textNames = []nameRule{
	{"text.embed", "token_embd.weight", false},
	{"text.output_norm", "output_norm.weight", true},
	{"text.blk.{i}.attn_norm", "blk.{i}.attn_norm.weight", true},
	{"text.blk.{i}.attn_q", "blk.{i}.attn_q.weight", false},
	{"text.blk.{i}.attn_k", "blk.{i}.attn_k.weight", false},
	{"text.blk.{i}.attn_v", "blk.{i}.attn_v.weight", false},
	{"text.blk.{i}.attn_o", "blk.{i}.attn_output.weight", false},
	{"text.blk.{i}.attn_q_norm", "blk.{i}.attn_q_norm.weight", true},
	{"text.blk.{i}.attn_k_norm", "blk.{i}.attn_k_norm.weight", true},
	{"text.blk.{i}.post_attn_norm", "blk.{i}.post_attention_norm.weight", true},
	{"text.blk.{i}.ffn_norm", "blk.{i}.ffn_norm.weight", true},
	{"text.blk.{i}.ffn_gate", "blk.{i}.ffn_gate.weight", false},
	{"text.blk.{i}.ffn_up", "blk.{i}.ffn_up.weight", false},
	{"text.blk.{i}.ffn_down", "blk.{i}.ffn_down.weight", false},
	{"text.blk.{i}.post_ffn_norm", "blk.{i}.post_ffw_norm.weight", true},
}

// match reports whether name fits pattern (with at most one "{i}" standing for a decimal
// layer number) and returns the layer.
func match(pattern, name string) (int, bool) {
	pre, post, has := strings.Cut(pattern, "{i}")
	if !has {
		return -1, name == pattern
	}
	if !strings.HasPrefix(name, pre) || !strings.HasSuffix(name, post) || len(name) < len(pre)+len(post)+1 {
		return -1, false
	}
	mid := name[len(pre) : len(name)-len(post)]
	if len(mid) > 5 || (len(mid) > 1 && mid[0] == '0') {
		return -1, false
	}
	n, err := strconv.Atoi(mid)
	if err != nil || n < 0 {
		return -1, false
	}
	return n, true
}

func expand(pattern string, layer int) string {
	return strings.ReplaceAll(pattern, "{i}", strconv.Itoa(layer))
}

// toGGUF maps a canonical text tensor name to its GGUF name.
func toGGUF(rules []nameRule, canon string) (string, bool, bool) {
	for _, r := range rules {
		if l, ok := match(r.canon, canon); ok {
			return expand(r.gguf, l), r.norm, true
		}
	}
	return "", false, false
}

// fromGGUF maps a GGUF tensor name to its canonical name.
func fromGGUF(rules []nameRule, g string) (string, bool, bool) {
	for _, r := range rules {
		if l, ok := match(r.gguf, g); ok {
			return expand(r.canon, l), r.norm, true
		}
	}
	return "", false, false
}

// reverse returns dims in the other order (canonical outermost-first ↔ GGUF innermost-first).
func reverseToNe(shape []int64) []uint64 {
	ne := make([]uint64, len(shape))
	for i, d := range shape {
		ne[len(shape)-1-i] = uint64(d)
	}
	return ne
}

func reverseToShape(ne []uint64) []int64 {
	s := make([]int64, len(ne))
	for i, d := range ne {
		s[len(ne)-1-i] = int64(d)
	}
	return s
}

// llamaQueryScalar is the query_pre_attn_scalar llama.cpp's Gemma 3 graph implies: it scales
// queries by 1/sqrt(head_dim), or by 1/sqrt(hidden/heads) for the 62-layer (27B) model.
func llamaQueryScalar(t *format.TextConfig) float64 {
	if t.NumLayers == 62 {
		return float64(t.HiddenSize / t.NumHeads)
	}
	return float64(t.HeadDim)
}

// llama.cpp token types (llama_token_type / gguf-py TokenType).
const (
	tokNormal      = 1
	tokUnknown     = 2
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

func errorf(format string, args ...any) error {
	return fmt.Errorf("llamacpp: "+format, args...)
}
