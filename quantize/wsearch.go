package quantize

import (
	"cmp"
	"math"
	"slices"

	"github.com/gemmatool/gemmatool/format"
)

// The exhaustive importance-weighted scale search of Q4_0 (per block) and I4 (per row).
//
// A group of values x with importances q is stored as a scale d and integer levels
// l_j ∈ [lo, hi] (Q4_0 and I4: −8 … 7), decoded as d·l_j. The objective is the weighted error
// E = Σ q_j·(x_j − d·l_j)². For fixed levels the best scale is the weighted least-squares one,
// d = Σq·x·l / Σq·l², and then E = Σq·x² − (Σq·x·l)² / Σq·l²: minimising E means maximising
// G = (Σq·x·l)² / Σq·l² over the level vectors a scale can produce.
//
// Writing d = s·u (s = ±1, u > 0) and y = s·x, the levels of nearest rounding are
// l_j = clamp(round(y_j·t), lo, hi) with t = 1/u; as t grows from 0 each |l_j| steps up by one
// at t = (k + ½)/|y_j| (k = 0, 1, …), until it reaches hi (y_j > 0) or −lo (y_j < 0). Between
// consecutive steps the levels are constant, so sweeping the sorted steps and updating Σq·y·l
// and Σq·l² at each visits every level vector any scale of that sign gives (llama.cpp's
// make_qx_quants tries 19 of them, all within ±11 % of max/−8). The best one's least-squares
// scale is then rounded to the storage type, the levels re-rounded for the rounded scale (the
// best levels for a fixed scale are the nearest ones, element by element) and the scale refitted,
// a few times until it stops moving. The encoders keep the result only if its weighted error,
// evaluated with the stored scale, is below that of every other candidate they have (llama.cpp's
// weighted search and the unweighted round-to-nearest), so the search never does worse than
// either.
//
// Why it matters little for the planted activation outliers and much for the weight outliers of
// gemma3-brown-tiny-outliers: a column whose activations are 64× larger holds weights 64×
// smaller than its block's; no scale of one block stores them as a nonzero level without
// clipping the other 31 (that costs more, whatever their importance), so every Q4_0 encoder
// rounds them to 0 and the column is lost. A column 8× larger (activations 8× smaller, importance
// 1/64) sets max/−8 for its whole block; the weighted optimum clips it instead and keeps the
// other 31 on a fine grid, a scale far outside llama.cpp's ±11 % candidates.

// wsEvent is one step of the sweep: at t, element j's |level| grows by one.
type wsEvent struct {
	t float32
	j int32
}

// wsScratch holds the sweep's buffers, reused across groups.
type wsScratch struct {
	ev  []wsEvent
	lev []int32
}

// sweep returns, for values y (signs as they are) and importances q, the least-squares scale c
// (in y's units) of the level vector with the largest G, and that G (0 when no level vector
// with a positive Σq·l² exists).
func (s *wsScratch) sweep(y, q []float32, lo, hi int32) (c, gain float64) {
	ev := s.ev[:0]
	for j, v := range y {
		if v == 0 || q[j] == 0 {
			continue
		}
		a := float32(math.Abs(float64(v)))
		n := hi
		if v < 0 {
			n = -lo
		}
		for k := range n {
			ev = append(ev, wsEvent{t: (float32(k) + 0.5) / a, j: int32(j)})
		}
	}
	s.ev = ev
	if len(ev) == 0 {
		return 0, 0
	}
	slices.SortFunc(ev, func(a, b wsEvent) int { return cmp.Compare(a.t, b.t) })
	if cap(s.lev) < len(y) {
		s.lev = make([]int32, len(y))
	}
	lev := s.lev[:len(y)]
	clear(lev)
	var sxl, sl2 float64 // Σq·|y|·|l| (= Σq·y·l) and Σq·l²
	for _, e := range ev {
		j := e.j
		qj := float64(q[j])
		sxl += qj * math.Abs(float64(y[j]))
		sl2 += qj * float64(2*lev[j]+1)
		lev[j]++
		if g := sxl * sxl / sl2; g > gain {
			gain, c = g, sxl/sl2
		}
	}
	return c, gain
}

// searchScale returns the scale d (either sign) whose nearest levels in [lo, hi] give the
// smallest Σq·(x − d·l)² among those the sweep and the refits visit, before any rounding of d
// to the storage type; ok is false when no importance-carrying element is nonzero.
func (s *wsScratch) searchScale(x, q, neg []float32, lo, hi int32) (d float64, ok bool) {
	for i, v := range x {
		neg[i] = -v
	}
	cp, gp := s.sweep(x, q, lo, hi)
	cn, gn := s.sweep(neg, q, lo, hi)
	if gp == 0 && gn == 0 {
		return 0, false
	}
	if gn > gp {
		return -cn, true
	}
	return cp, true
}

// levelFor is the level of x for scale d: clamp(round(x/d), lo, hi) in float64 (ties away from
// zero; either neighbour of a tie gives the same error).
func levelFor(x, d float64, lo, hi int32) int32 {
	if d == 0 {
		return 0
	}
	l := math.Round(x / d)
	return int32(max(float64(lo), min(float64(hi), l)))
}

// refit re-rounds the levels for d and returns their least-squares scale (d itself when the
// levels are all 0 where q > 0).
func refit(x, q []float32, d float64, lo, hi int32) float64 {
	var sxl, sl2 float64
	for i, v := range x {
		l := float64(levelFor(float64(v), d, lo, hi))
		sxl += float64(q[i]) * float64(v) * l
		sl2 += float64(q[i]) * l * l
	}
	if sl2 == 0 {
		return d
	}
	return sxl / sl2
}

// q4WeightedErr is Σq·(x − d·(c−8))² for Q4_0 codes c packed as in a block (low nibbles
// elements 0–15, high nibbles 16–31) and the f16 scale h, in float64.
func q4WeightedErr(x, q []float32, qs []byte, h uint16) float64 {
	d := format.F16ToFloat32(h)
	var e float64
	for j := range bs {
		c := qs[j%(bs/2)]
		if j >= bs/2 {
			c >>= 4
		}
		r := float64(x[j]) - float64(float32(d*float32(int32(c&15)-8)))
		e += float64(q[j]) * r * r
	}
	return e
}

// q4BlockSearch is the exhaustive weighted Q4_0 encoder of one block (see the top of this
// file): it writes the 16 code bytes of the best scale it finds into qs and returns the f16
// bits of that scale and its weighted error, or ok = false when the block has no nonzero
// element of positive importance (the caller keeps its other candidates).
func (s *wsScratch) q4BlockSearch(qs []byte, x, q []float32) (h uint16, e float64, ok bool) {
	var neg [bs]float32
	d, ok := s.searchScale(x[:bs], q[:bs], neg[:], -8, 7)
	if !ok {
		return 0, 0, false
	}
	e = math.Inf(1)
	var cand [bs / 2]byte
	for range 4 {
		ch := format.Float32ToF16(float32(d))
		if ch&0x7C00 == 0x7C00 || ch&0x7FFF == 0 {
			break
		}
		dq := float64(format.F16ToFloat32(ch))
		var codes [bs]byte
		for j, v := range x[:bs] {
			codes[j] = byte(levelFor(float64(v), dq, -8, 7) + 8)
		}
		for j := range bs / 2 {
			cand[j] = codes[j] | codes[j+bs/2]<<4
		}
		if ce := q4WeightedErr(x, q, cand[:], ch); ce < e {
			h, e = ch, ce
			copy(qs[:bs/2], cand[:])
		}
		nd := refit(x[:bs], q[:bs], dq, -8, 7)
		if nd == dq {
			break
		}
		d = nd
	}
	return h, e, !math.IsInf(e, 1)
}
