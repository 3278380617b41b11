package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// attentionRef is the untiled prefill attention the tiled one replaced, kept as its reference:
// one query head at a time, every score of the row, then one softmax and the weighted sum.
func (s *Session) attentionRef(l int, n, p0 int, spans []Span) {
	m := s.m
	c := m.Config
	ly := &m.layers[l]
	lkv := &s.cache.layers[l]
	hd, H, K := c.HeadDim, c.NumHeads, c.NumKVHeads
	kvd, group := K*hd, H/K
	w := c.SlidingWindow
	q, k, v, att := s.q, s.k, s.v, s.att
	spanOf := make([]int, n)
	for i := range spanOf {
		spanOf[i] = -1
	}
	for si, sp := range spans {
		for i := sp.Start; i < sp.End; i++ {
			spanOf[i] = si
		}
	}
	for i := range n {
		for j := range H {
			g := j / group
			t := p0 + i
			first := 0
			if !ly.global {
				first = max(0, t-w+1)
			}
			clo, chi := max(first, p0)-p0, i+1
			if spanOf[i] >= 0 {
				sp := spans[spanOf[i]]
				clo, chi = min(clo, sp.Start), max(chi, sp.End)
			}
			qr := q[(i*H+j)*hd : (i*H+j+1)*hd]
			var scores []float32
			var kr, vr []float32
			for u := first; u < p0; u++ {
				kr = s.cache.keyRow(make([]float32, hd), lkv, u, g)
				scores = append(scores, kernel.Dot(qr, kr)*m.attnScale)
			}
			for u := clo; u < chi; u++ {
				scores = append(scores, kernel.Dot(qr, k[u*kvd+g*hd:u*kvd+(g+1)*hd])*m.attnScale)
			}
			kernel.Softmax(scores)
			out := att[(i*H+j)*hd : (i*H+j+1)*hd]
			clear(out)
			si := 0
			for u := first; u < p0; u++ {
				vr = s.cache.valueRow(make([]float32, hd), lkv, u, g)
				kernel.Axpy(out, scores[si], vr)
				si++
			}
			for u := clo; u < chi; u++ {
				kernel.Axpy(out, scores[si], v[u*kvd+g*hd:u*kvd+(g+1)*hd])
				si++
			}
		}
	}
}

// TestAttentionTiles compares the tiled prefill attention with the untiled reference on random
// queries, keys and values, on every layer (global and sliding), with cached positions before
// the chunk (the ring buffer wrapped or not, more keys than one block of the kernel) and with
// bidirectional spans crossing tiles. The kernel's own tests put block edges everywhere.
func TestAttentionTiles(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	c := m.Config
	w := c.SlidingWindow
	kvd, qd := c.NumKVHeads*c.HeadDim, c.NumHeads*c.HeadDim
	rng := rand.New(rand.NewPCG(7, 8))
	rnd := func(n int, s float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = s * float32(rng.NormFloat64())
		}
		return x
	}
	const n = 23
	for _, kv := range []KVType{KVF32, KVBF16} {
		for _, p0 := range []int{0, w - 2, 3*w + 1} {
			for _, spans := range [][]Span{nil, {{2, 9}, {15, 22}}} {
				s := m.NewSession(&SessionOptions{Exec: kernel.Exec{Threads: 2}, KVType: kv})
				s.ensureScratch(n)
				if p0 > 0 {
					for l := range m.layers {
						s.cache.store(l, 0, p0, rnd(p0*kvd, 1), rnd(p0*kvd, 1))
					}
				}
				s.cache.pos = p0
				copy(s.q, rnd(n*qd, 2))
				copy(s.k, rnd(n*kvd, 1))
				copy(s.v, rnd(n*kvd, 1))
				for l := range m.layers {
					s.attentionRef(l, n, p0, spans)
					want := append([]float32(nil), s.att[:n*qd]...)
					clear(s.att)
					s.attention(l, n, p0, spans)
					name := fmt.Sprintf("kv %v p0 %d spans %v layer %d (global %v)", kv, p0, spans, l, m.layers[l].global)
					if e := normErr(t, name, s.att[:n*qd], want); e > 1e-6 {
						t.Errorf("%s: norm_err %.3g", name, e)
					}
				}
			}
		}
	}
}

// BenchmarkAttention times the prefill attention of a 512-position chunk after 3,584 cached
// positions (the last chunk of a 4,096-token prompt) on one global and one sliding layer of
// GEMMATOOL_BENCH_MODEL, tiled and (ref) untiled, on one thread:
//
//	GEMMATOOL_BENCH_MODEL=s1b-q4_0.gmt GEMMATOOL_BENCH_MMAP=1 go test ./runtime -run '^$' -bench Attention -benchtime 2x
func BenchmarkAttention(b *testing.B) {
	m, _ := benchModel(b)
	for _, sh := range []struct{ n, p0 int }{{512, 3584}, {128, 0}} {
		b.Run(fmt.Sprintf("n=%d/p0=%d", sh.n, sh.p0), func(b *testing.B) { benchAttention(b, m, sh.n, sh.p0) })
	}
}

func benchAttention(b *testing.B, m *Model, n, p0 int) {
	c := m.Config
	kvd, qd := c.NumKVHeads*c.HeadDim, c.NumHeads*c.HeadDim
	rng := rand.New(rand.NewPCG(9, 10))
	rnd := func(k int) []float32 {
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	glob, slide := -1, -1
	for l := range m.layers {
		if m.layers[l].global && glob < 0 {
			glob = l
		}
		if !m.layers[l].global && slide < 0 {
			slide = l
		}
	}
	for _, kv := range []KVType{KVF32, KVBF16} {
		s := m.NewSession(&SessionOptions{Exec: kernel.Exec{Threads: 1}, MaxContext: p0 + n, KVType: kv})
		s.ensureScratch(n)
		for _, l := range []int{glob, slide} {
			s.cache.store(l, 0, p0, rnd(p0*kvd), rnd(p0*kvd))
		}
		s.cache.pos = p0
		copy(s.q, rnd(n*qd))
		copy(s.k, rnd(n*kvd))
		copy(s.v, rnd(n*kvd))
		for _, l := range []int{glob, slide} {
			name := fmt.Sprintf("kv=%v/global=%v", kv, m.layers[l].global)
			b.Run(name+"/tiled", func(b *testing.B) {
				for b.Loop() {
					s.attention(l, n, p0, nil)
				}
			})
			b.Run(name+"/ref", func(b *testing.B) {
				for b.Loop() {
					s.attentionRef(l, n, p0, nil)
				}
			})
		}
	}
}
