package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// ErrContext reports a batch that does not fit the session's context length.
var ErrContext = errors.New("runtime: context length exceeded")

// DefaultChunk is the largest number of tokens one prefill step processes at once. Longer
// batches are split (never inside a [Batch.Bidi] span). It bounds the scratch memory of a
// session to a few activation matrices of DefaultChunk rows.
const DefaultChunk = 512

// LogitsMode selects which logits [Session.Forward] computes.
type LogitsMode int

const (
	// LogitsLast computes the logits of the last position only (generation).
	LogitsLast LogitsMode = iota
	// LogitsNone computes no logits (prefill of a prompt whose last token follows later).
	LogitsNone
	// LogitsAll computes the logits of every position (n × VocabRows floats).
	LogitsAll
)

// Override replaces the input embedding of one position of a batch by Vec (d values, used
// as is: not multiplied by the embedding scale). The vision path uses it for image soft
// tokens.
type Override struct {
	Index int // position within Batch.Tokens
	Vec   []float32
}

// Span is a half-open range [Start, End) of positions within a batch.
type Span struct{ Start, End int }

// Batch is the input of one [Session.Forward] call: tokens that continue the session's
// sequence at position [Session.Pos].
type Batch struct {
	Tokens []int32
	// Overrides replace the embeddings of some positions (their token ids are then not
	// looked up and may be any value, for example the image token).
	Overrides []Override
	// Bidi lists disjoint spans of positions that attend to each other in both directions on
	// every layer (the image overlay of Gemma 3), in addition to the causal or sliding-window
	// mask. A span is never split across prefill chunks.
	Bidi []Span
	// Logits selects the logits to compute (default: the last position's).
	Logits LogitsMode
	// LogitsInto, when it holds at least as many values as the logits, receives them, and
	// Result.Logits is a prefix of it: a decode loop then allocates nothing per step for the
	// 262k logits (fresh memory costs page faults on every token).
	LogitsInto []float32
	// Hidden requests the hidden states [L+1, n, d]: the input embeddings, then the output of
	// every decoder layer (the residual stream before the final norm).
	Hidden bool
	// FinalHidden requests the final-normed hidden states [n, d].
	FinalHidden bool
}

// Result is the output of [Session.Forward]; slices are freshly allocated (Logits excepted
// when [Batch.LogitsInto] supplies its memory).
type Result struct {
	// Logits is 1 × VocabRows (LogitsLast) or n × VocabRows (LogitsAll), nil for LogitsNone.
	Logits []float32
	// HiddenStates is (L+1) × n × d when requested.
	HiddenStates []float32
	// FinalHidden is n × d when requested.
	FinalHidden []float32
}

// Session is one sequence being processed: a [KVCache] plus scratch buffers. It is not safe
// for concurrent use.
type Session struct {
	m      *Model
	ex     kernel.Exec // activation mode and threads of every product
	cache  *KVCache
	maxPos int
	chunk  int

	// Scratch buffers, grown to the largest chunk seen.
	h, x, o    []float32    // n·d
	q, att     []float32    // n·H·hd
	k, v       []float32    // n·K·hd
	gate, up   []float32    // n·I
	cosG, sinG []float32    // n·hd/2, global layers
	cosL, sinL []float32    // n·hd/2, sliding layers
	outs       [3][]float32 // output slices of a MatVecMulti call

	// Decode attention (attendOne): scores H·P, and per part of the positions the
	// unnormalised outputs and softmax statistics of every head.
	scores  []float32
	partOut []float32
	partM   []float32
	partL   []float64

	observe Observer // nil unless SetObserver installed one
}

// SessionOptions tunes [Model.NewSession]. The zero value is valid.
type SessionOptions struct {
	// MaxContext is the largest number of positions (default and cap: max_position_embeddings).
	MaxContext int
	// Chunk is the prefill chunk size (default [DefaultChunk]).
	Chunk int
	// Exec is the activation mode and thread count of the session's products (default:
	// exact, all cores). It is the session's own: sessions with different modes run
	// interleaved without affecting each other.
	Exec kernel.Exec
	// KVType is the element type of the KV cache (default KVF32).
	KVType KVType
}

// NewSession starts an empty sequence.
func (m *Model) NewSession(opts *SessionOptions) *Session {
	var o SessionOptions
	if opts != nil {
		o = *opts
	}
	maxPos := m.Config.MaxPositions
	if maxPos <= 0 {
		maxPos = 1 << 17
	}
	if o.MaxContext > 0 && o.MaxContext < maxPos {
		maxPos = o.MaxContext
	}
	chunk := o.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	return &Session{m: m, ex: o.Exec, cache: newKVCache(m, maxPos, o.KVType), maxPos: maxPos, chunk: chunk}
}

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// Exec returns the activation mode and thread count of the session's products.
func (s *Session) Exec() kernel.Exec { return s.ex }

// Cache returns the session's key/value cache.
func (s *Session) Cache() *KVCache { return s.cache }

// Pos returns the position of the next token (the number of tokens processed so far).
func (s *Session) Pos() int { return s.cache.pos }

// MaxContext returns the largest number of positions the session accepts.
func (s *Session) MaxContext() int { return s.maxPos }

// Reset empties the sequence (the buffers are kept).
func (s *Session) Reset() { s.cache.Reset() }

// Forward runs the decoder over b.Tokens at positions Pos() … Pos()+n−1, appends them to the
// cache and returns the requested outputs. A batch of one token is a decode step
// (matrix–vector products); longer batches are prefilled in chunks of matrix–matrix products.
//
// A memory fault reading the mapped weights (the file truncated while in use) is an error
// wrapping [format.ErrChanged].
func (s *Session) Forward(b *Batch) (res *Result, err error) {
	err = guard(s.m.File, func() error {
		var err error
		res, err = s.forward(b)
		return err
	})
	return res, err
}

func (s *Session) forward(b *Batch) (*Result, error) {
	n := len(b.Tokens)
	if n == 0 {
		return nil, errors.New("runtime: forward: empty batch")
	}
	if p := s.cache.pos; n > s.maxPos-p {
		return nil, fmt.Errorf("%w: %d tokens at position %d, context %d", ErrContext, n, p, s.maxPos)
	}
	m := s.m
	d := m.Hidden()
	ov := make(map[int][]float32, len(b.Overrides))
	for _, o := range b.Overrides {
		if o.Index < 0 || o.Index >= n {
			return nil, fmt.Errorf("runtime: forward: override index %d outside [0, %d)", o.Index, n)
		}
		if len(o.Vec) != d {
			return nil, fmt.Errorf("runtime: forward: override at %d has %d values, want %d", o.Index, len(o.Vec), d)
		}
		ov[o.Index] = o.Vec
	}
	for i, id := range b.Tokens {
		if _, ok := ov[i]; ok {
			continue
		}
		if id < 0 || int(id) >= m.VocabRows() {
			return nil, fmt.Errorf("runtime: forward: token id %d at %d outside [0, %d)", id, i, m.VocabRows())
		}
	}
	spans, err := checkSpans(b.Bidi, n)
	if err != nil {
		return nil, err
	}

	res := &Result{}
	L := m.NumLayers()
	if b.Hidden {
		res.HiddenStates = make([]float32, (L+1)*n*d)
	}
	if b.FinalHidden || b.Logits == LogitsAll {
		res.FinalHidden = make([]float32, n*d)
	}
	var last []float32 // final-normed last row
	for lo := 0; lo < n; {
		hi := min(n, lo+s.chunk)
		// Never split a bidirectional span: extend or cut the chunk at a span boundary.
		for _, sp := range spans {
			if sp.Start < hi && hi < sp.End {
				if sp.Start > lo {
					hi = sp.Start
				} else {
					hi = sp.End
				}
			}
		}
		var local []Span
		for _, sp := range spans {
			if sp.Start >= lo && sp.End <= hi {
				local = append(local, Span{sp.Start - lo, sp.End - lo})
			}
		}
		s.chunkForward(b.Tokens[lo:hi], lo, ov, local, res, n)
		if hi == n {
			cn := hi - lo
			last = make([]float32, d)
			copy(last, s.x[(cn-1)*d:cn*d])
		}
		lo = hi
	}
	logitsBuf := func(k int) []float32 {
		if len(b.LogitsInto) >= k {
			return b.LogitsInto[:k:k]
		}
		return make([]float32, k)
	}
	switch b.Logits {
	case LogitsLast:
		res.Logits = logitsBuf(m.VocabRows())
		s.Logits(res.Logits, last, 1)
		if err := CheckFinite(res.Logits, m.VocabRows(), s.cache.pos-1); err != nil {
			return nil, err
		}
	case LogitsAll:
		res.Logits = logitsBuf(n * m.VocabRows())
		// Bound the activation buffer of the head: a few dozen rows at a time.
		const rows = 64
		v := m.VocabRows()
		for r := 0; r < n; r += rows {
			e := min(n, r+rows)
			s.Logits(res.Logits[r*v:e*v], res.FinalHidden[r*d:e*d], e-r)
		}
		if err := CheckFinite(res.Logits, v, s.cache.pos-n); err != nil {
			return nil, err
		}
	}
	if !b.FinalHidden && b.Logits == LogitsAll {
		res.FinalHidden = nil
	}
	return res, nil
}

// checkSpans validates bidirectional spans: inside [0, n), non-empty, disjoint. It returns
// them sorted by start.
func checkSpans(sp []Span, n int) ([]Span, error) {
	out := append([]Span(nil), sp...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Start < out[j-1].Start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	for i, s := range out {
		if s.Start < 0 || s.End > n || s.Start >= s.End {
			return nil, fmt.Errorf("runtime: forward: bidirectional span [%d, %d) invalid for %d tokens", s.Start, s.End, n)
		}
		if i > 0 && s.Start < out[i-1].End {
			return nil, fmt.Errorf("runtime: forward: bidirectional spans [%d, %d) and [%d, %d) overlap", out[i-1].Start, out[i-1].End, s.Start, s.End)
		}
	}
	return out, nil
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func (s *Session) ensureScratch(n int) {
	c := s.m.Config
	d, hd := c.HiddenSize, c.HeadDim
	s.h = grow(s.h, n*d)
	s.x = grow(s.x, n*d)
	s.o = grow(s.o, n*d)
	s.q = grow(s.q, n*c.NumHeads*hd)
	s.att = grow(s.att, n*c.NumHeads*hd)
	s.k = grow(s.k, n*c.NumKVHeads*hd)
	s.v = grow(s.v, n*c.NumKVHeads*hd)
	s.gate = grow(s.gate, n*c.IntermediateSize)
	s.up = grow(s.up, n*c.IntermediateSize)
	s.cosG = grow(s.cosG, n*hd/2)
	s.sinG = grow(s.sinG, n*hd/2)
	s.cosL = grow(s.cosL, n*hd/2)
	s.sinL = grow(s.sinL, n*hd/2)
}

// ropeTables fills cos/sin for positions p0 … p0+n−1: the angle p·f_i in float64, then cos
// and sin rounded to float32.
func ropeTables(cos, sin []float32, inv []float64, p0, n int) {
	h := len(inv)
	for i := range n {
		p := float64(p0 + i)
		for j, f := range inv {
			a := p * f
			cos[i*h+j] = float32(math.Cos(a))
			sin[i*h+j] = float32(math.Sin(a))
		}
	}
}

// rmsNorm writes x / √(mean(x²) + eps) · w to dst (w holds 1 + the stored weight), as
// (x·r)·w with r = 1/√(mean(x²) + eps) rounded to float32.
func rmsNorm(dst, x, w []float32, eps float32) {
	ss := kernel.SumSquares(x)
	r := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	kernel.ScaleMul(dst, x, r, w)
}

// rmsNormRows applies rmsNorm to n rows of width len(w).
func rmsNormRows(e kernel.Exec, dst, x, w []float32, eps float32, n int) {
	d := len(w)
	if n == 1 {
		rmsNorm(dst[:d], x[:d], w, eps)
		return
	}
	e.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rmsNorm(dst[i*d:(i+1)*d], x[i*d:(i+1)*d], w, eps)
		}
	})
}

// matmul is the single seam through which every weight product of the decoder goes.
func matmul(e kernel.Exec, y []float32, w *kernel.Matrix, x []float32, n int) {
	if n == 1 {
		e.MatVec(y, w, x)
		return
	}
	e.MatMul(y, w, x, n)
}

// chunkForward runs all layers over one chunk of tokens (batch offset off, total batch size
// total), leaving the final-normed rows in s.x and appending keys and values to the cache.
func (s *Session) chunkForward(tokens []int32, off int, ov map[int][]float32, spans []Span, res *Result, total int) {
	m := s.m
	c := m.Config
	n := len(tokens)
	d, hd := c.HiddenSize, c.HeadDim
	H, K, I := c.NumHeads, c.NumKVHeads, c.IntermediateSize
	qd, kvd := H*hd, K*hd
	p0 := s.cache.pos
	s.ensureScratch(n)
	h, x := s.h[:n*d], s.x[:n*d]

	// Input embeddings.
	s.ex.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if v, ok := ov[off+i]; ok {
				copy(h[i*d:(i+1)*d], v)
			} else {
				m.embedRow(h[i*d:(i+1)*d], tokens[i])
			}
		}
	})
	capture := func(layer int) {
		if res.HiddenStates != nil {
			copy(res.HiddenStates[(layer*total+off)*d:], h)
		}
	}
	capture(0)
	ropeTables(s.cosG, s.sinG, m.invFreqGlobal, p0, n)
	ropeTables(s.cosL, s.sinL, m.invFreqLocal, p0, n)

	for l := range m.layers {
		ly := &m.layers[l]
		q, k, v := s.q[:n*qd], s.k[:n*kvd], s.v[:n*kvd]
		rmsNormRows(s.ex, x, h, ly.attnNorm, m.eps, n)
		s.tap(l, InAttn, x, n)
		if n == 1 {
			s.outs = [3][]float32{q, k, v}
			s.ex.MatVecMulti(s.outs[:], ly.qkv[:], x)
		} else {
			matmul(s.ex, q, ly.q, x, n)
			matmul(s.ex, k, ly.k, x, n)
			matmul(s.ex, v, ly.v, x, n)
		}
		cos, sin := s.cosL, s.sinL
		if ly.global {
			cos, sin = s.cosG, s.sinG
		}
		half := hd / 2
		s.ex.ParallelFor(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				cs, sn := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
				for j := range H {
					r := q[(i*H+j)*hd : (i*H+j+1)*hd]
					rmsNorm(r, r, ly.qNorm, m.eps)
					kernel.RoPE(r, cs, sn) // half-split pairs (i, i+hd/2)
				}
				for j := range K {
					r := k[(i*K+j)*hd : (i*K+j+1)*hd]
					rmsNorm(r, r, ly.kNorm, m.eps)
					kernel.RoPE(r, cs, sn) // half-split pairs (i, i+hd/2)
				}
				if s.cache.typ == KVBF16 {
					// The chunk's queries see its keys and values as the cache will hold them.
					roundBF16(k[i*kvd : (i+1)*kvd])
					roundBF16(v[i*kvd : (i+1)*kvd])
				}
			}
		})
		if n == 1 {
			s.attendOne(l, p0)
		} else {
			s.attention(l, n, p0, spans)
		}
		s.cache.store(l, p0, n, k, v)
		o := s.o[:n*d]
		s.tap(l, InAttnOut, s.att[:n*qd], n)
		matmul(s.ex, o, ly.o, s.att[:n*qd], n)
		residualNorm(s.ex, h, o, ly.postAttnNorm, m.eps, n)

		rmsNormRows(s.ex, x, h, ly.ffnNorm, m.eps, n)
		s.tap(l, InFFN, x, n)
		gate, up := s.gate[:n*I], s.up[:n*I]
		if n == 1 {
			s.ex.MatVecGLU(gate, up, ly.gate, ly.up, x) // gate ← GELU(gate)·up
		} else {
			matmul(s.ex, gate, ly.gate, x, n)
			matmul(s.ex, up, ly.up, x, n)
			s.ex.ParallelFor(n, func(lo, hi int) { kernel.GELUMul(gate[lo*I:hi*I], up[lo*I:hi*I]) })
		}
		s.tap(l, InFFNDown, gate, n)
		matmul(s.ex, o, ly.down, gate, n)
		residualNorm(s.ex, h, o, ly.postFFNNorm, m.eps, n)
		capture(l + 1)
	}
	s.cache.pos = p0 + n
	rmsNormRows(s.ex, x, h, m.outputNorm, m.eps, n)
	if res.FinalHidden != nil {
		copy(res.FinalHidden[off*d:], x)
	}
}

// residualNorm computes h += RMSNorm(a; w) row by row (a is overwritten).
func residualNorm(e kernel.Exec, h, a, w []float32, eps float32, n int) {
	d := len(w)
	e.ParallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := a[i*d : (i+1)*d]
			rmsNorm(r, r, w, eps)
			kernel.Add(h[i*d:(i+1)*d], r)
		}
	})
}

// attention computes s.att for the chunk's n queries at positions p0 … p0+n−1 of layer l:
// over the cached positions p0−w+1 … p0−1 (sliding) or 0 … p0−1 (global) and over the chunk's
// own keys, which are not yet in the cache.
//
// It is one [kernel.Exec.AttentionHeads] problem per KV head: the rows are the chunk's queries
// of the head's group (row i·group + j for query position i and the group's j-th head), the
// keys the positions any of them may see (the cached ones, widened from bf16 where the cache
// holds bf16, then the chunk's own), and each row's span is its mask: causal or windowed,
// widened to a bidirectional image span. The kernel packs each key and value once and walks
// tiles of rows against blocks of keys with the softmax merged on the fly, skipping blocks a
// tile's spans do not reach; the result is the softmax-weighted sum of the values up to
// float32 rounding.
func (s *Session) attention(l int, n, p0 int, spans []Span) {
	m := s.m
	c := m.Config
	ly := &m.layers[l]
	lkv := &s.cache.layers[l]
	hd, H, K := c.HeadDim, c.NumHeads, c.NumKVHeads
	kvd, group := K*hd, H/K
	w := c.SlidingWindow
	q, k, v, att := s.q, s.k, s.v, s.att
	// spanOf[i] is the index of the span holding chunk position i, or -1.
	var spanOf []int
	if len(spans) > 0 {
		spanOf = make([]int, n)
		for i := range spanOf {
			spanOf[i] = -1
		}
		for si, sp := range spans {
			for i := sp.Start; i < sp.End; i++ {
				spanOf[i] = si
			}
		}
	}
	// first(i) is the first position query i may see by the causal/window mask.
	first := func(i int) int {
		if ly.global {
			return 0
		}
		return max(0, p0+i-w+1) // window mask t − w < u ≤ t
	}
	// Keys are the positions [k0, p0+n): key u is position k0+u.
	k0 := min(first(0), p0)
	span := func(r int) (lo, hi int) {
		i := r / group
		f := first(i)
		// The chunk part: causal/window part, widened by the bidirectional span.
		clo, chi := max(f, p0)-p0, i+1
		if spanOf != nil && spanOf[i] >= 0 {
			sp := spans[spanOf[i]]
			clo, chi = min(clo, sp.Start), max(chi, sp.End)
		}
		lo = p0 + clo
		if f < p0 {
			lo = f // the cached positions [f, p0), then the chunk's from 0
		}
		return lo - k0, p0 + chi - k0
	}
	heads := make([]kernel.AttnHead, K)
	for g := range heads {
		qrow := func(x []float32, r int) []float32 {
			j := g*group + r%group
			i := r / group
			return x[(i*H+j)*hd : (i*H+j+1)*hd]
		}
		kv := func(chunk []float32, cached func([]float32, *layerKV, int, int) []float32) func(int, []float32) {
			return func(u int, dst []float32) {
				if t := k0 + u; t < p0 {
					copy(dst, cached(dst, lkv, t, g))
				} else {
					copy(dst, chunk[(t-p0)*kvd+g*hd:(t-p0)*kvd+(g+1)*hd])
				}
			}
		}
		heads[g] = kernel.AttnHead{Rows: n * group, Keys: p0 + n - k0, HD: hd,
			Query: func(r int) []float32 { return qrow(q, r) },
			Out:   func(r int) []float32 { return qrow(att, r) },
			Key:   kv(k, s.cache.keyRow), Value: kv(v, s.cache.valueRow),
			Span: span,
		}
	}
	kernel.Exec{Threads: s.ex.Threads}.AttentionHeads(heads, m.attnScale)
}

// attnPartWork is the number of query·key multiply-adds per part of a decode step's attention
// (a variable so that tests can force several parts on a tiny model).
var attnPartWork = 1 << 16

// attendOne is attention for a single query (a decode step) at position p0 of layer l. The
// group query heads that share a KV head read each key and value row once; the attended
// positions (the cache's p0−w+1 … p0−1 or 0 … p0−1, then the query's own key in s.k / s.v)
// are split into parts when the work is large enough to share, each part computing
// unnormalised softmax weights, their max and sum and the weighted sum of its values; parts
// are merged by those statistics (as flash-decoding does). With one part the result is the
// softmax-weighted sum of [Session.attention] up to float32 rounding.
func (s *Session) attendOne(l, p0 int) {
	m := s.m
	c := m.Config
	ly := &m.layers[l]
	lkv := &s.cache.layers[l]
	hd, H, K := c.HeadDim, c.NumHeads, c.NumKVHeads
	group := H / K
	first := 0
	if !ly.global {
		first = max(0, p0-c.SlidingWindow+1)
	}
	P := p0 + 1 - first // attended positions, the query's own included
	// Parts: about 64k multiply-adds (per operand) each, at most four per thread.
	parts := 1
	if t := s.ex.NumThreads(); t > 1 {
		parts = min(P*H*hd/attnPartWork, 4*t, (P+15)/16)
		parts = max(1, parts)
	}
	per := (P + parts - 1) / parts
	parts = (P + per - 1) / per
	s.scores = grow(s.scores, H*P)
	s.partOut = grow(s.partOut, parts*H*hd)
	s.partM = grow(s.partM, parts*H)
	if cap(s.partL) < parts*H {
		s.partL = make([]float64, parts*H)
	}
	s.partL = s.partL[:parts*H]
	q, att, scale := s.q, s.att, m.attnScale
	body := func(lo, hi int) {
		buf := make([]float32, hd) // a KVBF16 row widened
		key := func(u, g int) []float32 {
			if u == p0 {
				return s.k[g*hd : (g+1)*hd]
			}
			return s.cache.keyRow(buf, lkv, u, g)
		}
		value := func(u, g int) []float32 {
			if u == p0 {
				return s.v[g*hd : (g+1)*hd]
			}
			return s.cache.valueRow(buf, lkv, u, g)
		}
		for item := lo; item < hi; item++ {
			g, part := item/parts, item%parts
			a, b := first+part*per, min(first+(part+1)*per, p0+1)
			for u := a; u < b; u++ {
				kr := key(u, g)
				for j := g * group; j < (g+1)*group; j++ {
					s.scores[j*P+u-first] = kernel.Dot(q[j*hd:(j+1)*hd], kr) * scale
				}
			}
			for j := g * group; j < (g+1)*group; j++ {
				sc := s.scores[j*P+a-first : j*P+b-first]
				mx, sum := kernel.ExpShift(sc)
				s.partM[part*H+j], s.partL[part*H+j] = mx, sum
				clear(s.partOut[(part*H+j)*hd : (part*H+j+1)*hd])
			}
			for u := a; u < b; u++ {
				vr := value(u, g)
				for j := g * group; j < (g+1)*group; j++ {
					kernel.Axpy(s.partOut[(part*H+j)*hd:(part*H+j+1)*hd], s.scores[j*P+u-first], vr)
				}
			}
		}
	}
	if items := K * parts; items > 1 {
		s.ex.ParallelFor(items, body)
	} else {
		body(0, items)
	}
	// Merge the parts of every head: out = Σ_p e^{m_p−M}·out_p / Σ_p e^{m_p−M}·l_p.
	for j := range H {
		mx := s.partM[j]
		for p := 1; p < parts; p++ {
			if v := s.partM[p*H+j]; v > mx || v != v {
				mx = v
			}
		}
		out := att[j*hd : (j+1)*hd]
		clear(out)
		var sum float64
		for p := range parts {
			f := float32(math.Exp(float64(s.partM[p*H+j] - mx)))
			sum += float64(f) * s.partL[p*H+j]
			kernel.Axpy(out, f, s.partOut[(p*H+j)*hd:(p*H+j+1)*hd])
		}
		kernel.Scale(out, float32(1/sum))
	}
}
