package runtime

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Stop reasons reported in [GenerateStats].
const (
	StopEOS       = "eos"
	StopMaxTokens = "max_tokens"
	StopContext   = "context"
)

// GenerateOptions tunes [Session.Generate].
type GenerateOptions struct {
	// MaxTokens caps the number of generated tokens (0: until EOS or the context is full).
	MaxTokens int
	// Sampler picks each token (nil: greedy over the sampling limit of the model).
	Sampler *Sampler
	// EOS lists the ids that end generation (nil: the model's configured EOS ids). The EOS id
	// is included in the returned ids.
	EOS []int32
	// OnToken is called with every generated id as soon as it is chosen (streaming). A
	// non-nil error stops generation and is returned.
	OnToken func(id int32) error
	// Prompt is the embedding batch template of the prompt: when set, its Overrides and Bidi
	// apply to the prompt (vision).
	Prompt *Batch
}

// GenerateStats reports what [Session.Generate] did and how fast.
type GenerateStats struct {
	PromptTokens int
	Generated    int
	// PrefillTime covers the prompt's forward pass including the first token's logits;
	// DecodeTime the single-token steps after it (DecodeSteps of them).
	PrefillTime time.Duration
	DecodeTime  time.Duration
	DecodeSteps int
	StopReason  string
}

// PrefillTokS is the prompt tokens per second of the prefill.
func (g GenerateStats) PrefillTokS() float64 {
	if g.PrefillTime <= 0 {
		return 0
	}
	return float64(g.PromptTokens) / g.PrefillTime.Seconds()
}

// DecodeTokS is the decode steps per second.
func (g GenerateStats) DecodeTokS() float64 {
	if g.DecodeTime <= 0 {
		return 0
	}
	return float64(g.DecodeSteps) / g.DecodeTime.Seconds()
}

// Generate appends prompt to the session, then samples tokens one at a time until an EOS id,
// MaxTokens or the end of the context. It returns the generated ids (ending with the EOS id
// when one stopped generation).
func (s *Session) Generate(prompt []int32, o GenerateOptions) ([]int32, GenerateStats, error) {
	st := GenerateStats{PromptTokens: len(prompt)}
	if len(prompt) == 0 {
		return nil, st, errors.New("runtime: generate: empty prompt")
	}
	smp := o.Sampler
	if smp == nil {
		smp = NewSampler(SamplerOptions{Limit: s.m.SamplingLimit()})
	}
	eos := o.EOS
	if eos == nil {
		for _, e := range s.m.EOS() {
			eos = append(eos, int32(e))
		}
	}
	history := append([]int32(nil), prompt...)
	b := Batch{Tokens: prompt}
	if o.Prompt != nil {
		b.Overrides, b.Bidi = o.Prompt.Overrides, o.Prompt.Bidi
	}
	t0 := time.Now()
	res, err := s.Forward(&b)
	if err != nil {
		return nil, st, fmt.Errorf("runtime: generate: prefill: %w", err)
	}
	st.PrefillTime = time.Since(t0)
	var out []int32
	t1 := time.Now()
	for {
		id := smp.Sample(res.Logits, history)
		out = append(out, id)
		history = append(history, id)
		st.Generated = len(out)
		if o.OnToken != nil {
			if err := o.OnToken(id); err != nil {
				st.DecodeTime = time.Since(t1)
				return out, st, err
			}
		}
		if slices.Contains(eos, id) {
			st.StopReason = StopEOS
			break
		}
		if o.MaxTokens > 0 && len(out) >= o.MaxTokens {
			st.StopReason = StopMaxTokens
			break
		}
		if s.Pos() >= s.maxPos {
			st.StopReason = StopContext
			break
		}
		// The previous logits are consumed: reuse their memory for the next step's.
		res, err = s.Forward(&Batch{Tokens: []int32{id}, LogitsInto: res.Logits})
		if err != nil {
			st.DecodeTime = time.Since(t1)
			return out, st, fmt.Errorf("runtime: generate: decode: %w", err)
		}
		st.DecodeSteps++
	}
	st.DecodeTime = time.Since(t1)
	return out, st, nil
}
