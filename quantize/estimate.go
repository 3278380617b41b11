package quantize

import (
	"fmt"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// TensorSpec is a tensor known from headers or a configuration alone.
type TensorSpec struct {
	Name  string
	DType format.DType // source type
	Shape []int64
}

// Estimate is the memory a model needs under a policy, from its configuration alone.
type Estimate struct {
	// Weight payload bytes per component.
	EmbeddingBytes int64 `json:"embedding_bytes"`
	DecoderBytes   int64 `json:"text_decoder_bytes"`
	VisionBytes    int64 `json:"vision_bytes"` // vision tower and projector
	WeightBytes    int64 `json:"weight_bytes"`
	// Params per component.
	EmbeddingParams int64 `json:"embedding_params"`
	DecoderParams   int64 `json:"text_decoder_params"`
	VisionParams    int64 `json:"vision_params"`
	// KV cache at Ctx tokens with KVElemBytes per element: every layer keeping every
	// position, and sliding layers keeping only their window (what gemmatool's runtime does).
	Ctx           int   `json:"ctx"`
	KVElemBytes   int   `json:"kv_elem_bytes"`
	KVFullBytes   int64 `json:"kv_full_bytes"`
	KVWindowBytes int64 `json:"kv_windowed_bytes"`
	GlobalLayers  int   `json:"global_layers"`
	LocalLayers   int   `json:"local_layers"`
	// Types counts the tensors per stored type.
	Types map[string]int `json:"types"`
}

// Component classifies a canonical tensor name: "embedding", "text" or "vision".
func Component(name string) string {
	switch {
	case name == "text.embed":
		return "embedding"
	case strings.HasPrefix(name, "vision.") || strings.HasPrefix(name, "mm."):
		return "vision"
	}
	return "text"
}

// EstimateSize applies the policy to every tensor and sizes the KV cache for ctx tokens.
func EstimateSize(cfg *format.ModelConfig, tensors []TensorSpec, p Policy, ctx, kvElemBytes int) (*Estimate, error) {
	e := &Estimate{Ctx: ctx, KVElemBytes: kvElemBytes, Types: map[string]int{}}
	for _, ts := range tensors {
		t, _, err := p.Decide(ts.Name, ts.DType, ts.Shape)
		if err != nil {
			return nil, err
		}
		l, err := format.LayoutOf(t, ts.Shape)
		if err != nil {
			return nil, fmt.Errorf("quantize: tensor %q: %w", ts.Name, err)
		}
		n, _ := format.NumElements(ts.Shape)
		e.Types[t.String()]++
		switch Component(ts.Name) {
		case "embedding":
			e.EmbeddingBytes += l.Size
			e.EmbeddingParams += n
		case "vision":
			e.VisionBytes += l.Size
			e.VisionParams += n
		default:
			e.DecoderBytes += l.Size
			e.DecoderParams += n
		}
	}
	e.WeightBytes = e.EmbeddingBytes + e.DecoderBytes + e.VisionBytes
	tc := &cfg.Text
	perTok := int64(2 * tc.NumKVHeads * tc.HeadDim * kvElemBytes)
	for i := 0; i < tc.NumLayers; i++ {
		e.KVFullBytes += int64(ctx) * perTok
		if tc.IsGlobal(i) {
			e.GlobalLayers++
			e.KVWindowBytes += int64(ctx) * perTok
		} else {
			e.LocalLayers++
			e.KVWindowBytes += int64(min(ctx, tc.SlidingWindow)) * perTok
		}
	}
	return e, nil
}
