package runtime

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// SamplerOptions selects the decoding rule. The zero value is greedy decoding over every id.
type SamplerOptions struct {
	// Temperature divides the logits; 0 (or less) means greedy (argmax).
	Temperature float64
	// TopK keeps the K most likely ids (0: off).
	TopK int
	// TopP keeps the smallest set of most likely ids whose probability mass reaches TopP
	// (0 or ≥ 1: off).
	TopP float64
	// MinP drops ids whose probability is below MinP times the most likely id's (0: off).
	MinP float64
	// RepetitionPenalty (> 0, 1 or 0: off) divides the positive logits and multiplies the
	// negative logits of every id already in the sequence (prompt and generated), as the
	// Hugging Face RepetitionPenaltyLogitsProcessor does.
	RepetitionPenalty float64
	// Seed seeds the PCG generator of math/rand/v2 (stream constant 0x9e3779b97f4a7c15).
	Seed uint64
	// Limit is the number of leading ids that may be sampled; ids ≥ Limit (image soft token,
	// padding rows) never are. 0 means every id.
	Limit int
}

// Sampler picks the next token from a logits row. The filters apply in the order of the Hugging
// Face generation pipeline: repetition penalty, temperature, top-k, top-p, min-p. A Sampler is
// not safe for concurrent use.
type Sampler struct {
	o     SamplerOptions
	rng   *rand.Rand
	buf   []float32
	cands []cand
}

type cand struct {
	id int32
	l  float32 // logit after penalty and temperature
	p  float64 // probability
}

// NewSampler returns a sampler with its own generator seeded from o.Seed.
func NewSampler(o SamplerOptions) *Sampler {
	return &Sampler{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))}
}

// Options returns the sampler's options.
func (s *Sampler) Options() SamplerOptions { return s.o }

// Greedy reports whether the sampler takes the argmax.
func (s *Sampler) Greedy() bool { return !(s.o.Temperature > 0) }

// Sample returns the next id given the logits row and the ids of the sequence so far (used by
// the repetition penalty). logits is not modified.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	n := len(logits)
	if s.o.Limit > 0 {
		n = min(n, s.o.Limit)
	}
	x := logits[:n]
	if p := s.o.RepetitionPenalty; p > 0 && p != 1 && len(history) > 0 {
		s.buf = append(s.buf[:0], x...)
		x = s.buf
		pf := float32(p)
		seen := make(map[int32]bool, len(history))
		for _, id := range history {
			if id < 0 || int(id) >= n || seen[id] {
				continue
			}
			seen[id] = true
			if x[id] > 0 {
				x[id] /= pf
			} else {
				x[id] *= pf
			}
		}
	}
	if s.Greedy() {
		return int32(argmaxF32(x))
	}
	invT := float32(1 / s.o.Temperature)
	// Candidates: the top K, or every id when top-k is off.
	c := s.cands[:0]
	if k := s.o.TopK; k > 0 && k < n {
		c = topK(c, x, k, invT)
	} else {
		for i, v := range x {
			c = append(c, cand{id: int32(i), l: v * invT})
		}
	}
	needSorted := s.o.TopP > 0 && s.o.TopP < 1
	if needSorted {
		slices.SortFunc(c, func(a, b cand) int {
			if r := cmp.Compare(b.l, a.l); r != 0 {
				return r
			}
			return cmp.Compare(a.id, b.id)
		})
	}
	softmaxCands(c)
	if needSorted {
		var cum float64
		keep := 0
		for keep < len(c) && cum < s.o.TopP {
			cum += c[keep].p
			keep++
		}
		c = c[:max(keep, 1)]
		renorm(c)
	}
	if mp := s.o.MinP; mp > 0 {
		var top float64
		for _, e := range c {
			top = max(top, e.p)
		}
		thr := mp * top
		kept := c[:0]
		for _, e := range c {
			if e.p >= thr {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			// MinP above 1 (or NaN probabilities) dropped everything: keep the most likely id.
			kept = append(kept, best(c))
		}
		c = kept
		renorm(c)
	}
	s.cands = c[:0]
	if len(c) == 0 {
		return int32(argmaxF32(x))
	}
	r := s.rng.Float64()
	var cum float64
	for _, e := range c {
		cum += e.p
		if r < cum {
			return e.id
		}
	}
	// Rounding left r above the total: take the last candidate with non-zero probability.
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].p > 0 {
			return c[i].id
		}
	}
	return c[0].id
}

// best returns the candidate with the highest probability (the first one when none compares).
func best(c []cand) cand {
	b := c[0]
	for _, e := range c[1:] {
		if e.p > b.p {
			b = e
		}
	}
	return b
}

// argmaxF32 returns the first index of the largest value (NaNs are never chosen unless all are).
func argmaxF32(x []float32) int {
	best := 0
	bv := float32(math.Inf(-1))
	for i, v := range x {
		if v > bv {
			best, bv = i, v
		}
	}
	return best
}

// topK appends the k largest entries of x (scaled by invT) to c, in no particular order. Ties
// at the boundary go to the lower id.
func topK(c []cand, x []float32, k int, invT float32) []cand {
	// A min-heap of size k keyed by (logit, −id).
	less := func(a, b cand) bool { return a.l < b.l || (a.l == b.l && a.id > b.id) }
	h := c[:0]
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(h[r], h[l]) {
				m = r
			}
			if !less(h[m], h[i]) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i, v := range x {
		e := cand{id: int32(i), l: v}
		if len(h) < k {
			h = append(h, e)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !less(h[j], h[p]) {
					break
				}
				h[j], h[p] = h[p], h[j]
				j = p
			}
			continue
		}
		if less(h[0], e) {
			h[0] = e
			down(0)
		}
	}
	for i := range h {
		h[i].l *= invT
	}
	return h
}

// softmaxCands sets p to the softmax of the candidates' logits, in float64.
func softmaxCands(c []cand) {
	m := math.Inf(-1)
	for _, e := range c {
		m = max(m, float64(e.l))
	}
	var sum float64
	for i := range c {
		c[i].p = math.Exp(float64(c[i].l) - m)
		sum += c[i].p
	}
	for i := range c {
		c[i].p /= sum
	}
}

func renorm(c []cand) {
	var sum float64
	for _, e := range c {
		sum += e.p
	}
	if sum > 0 {
		for i := range c {
			c[i].p /= sum
		}
	}
}
