package quantize

import (
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// Importance-weighted encoders (used when [Options.Importance] is set).
//
// Q4_0 follows llama.cpp's quantize_row_q4_0_impl with quant_weights (ggml-quants.c), so the
// bytes equal llama-quantize --imatrix's for the same importance values: per row,
// σ² = Σx²/n (float32, in order); per block of 32, the weight of element j is
// qw_j·√(σ² + x_j²) (qw_j the importance of its column), and the block scale is chosen by
// make_qx_quants(32, 8, x, rmse_type 1, weights): start from d = max/−8 (max the signed value
// of largest magnitude), codes l = clamp(nearest(x/d), −8, 7), the least-squares scale
// Σw·x·l / Σw·l² of those codes; then for is = −9 … 9 (is ≠ 0) try iscale = −(8 + 0.1·is)/max,
// keep the candidate whose codes give a larger (Σw·x·l)²/Σw·l² (strictly), and store the
// least-squares scale of the winner. All arithmetic is float32, each operation rounded; an
// all-zero block (amax < 1e-15) stores d = 0 and codes 0.
//
// I4's weighted search is our rule: the clipping ratios of [I4Search], choosing the one with
// the smallest Σ_j qw_j·(w_j − ŵ_j)² (float64 sum; a tie keeps the larger ratio), then the
// exhaustive search of wsearch.go over every positive scale, kept where its error is smaller.

// nearestInt rounds |f| ≤ 2²² to the nearest integer, ties to even (llama.cpp's nearest_int).
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x7FFFFF) - 0x400000
}

// groupMaxEps is llama.cpp's GROUP_MAX_EPS: a group whose largest magnitude is below it is
// encoded as zeros.
const groupMaxEps = float32(1e-15)

// makeQxQuants is llama.cpp's make_qx_quants with rmse_type 1 and explicit weights qw: it
// writes codes L[i] ∈ [0, 2·nmax) and returns the scale.
func makeQxQuants(nmax int, x []float32, L []int8, qw []float32) float32 {
	var max, amax float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	fn := float32(nmax)
	clampL := func(l int32) int32 { return min(int32(nmax)-1, max32(-int32(nmax), l)) }
	iscale := -fn / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampL(nearestInt(float32(iscale * v)))
		L[i] = int8(l + int32(nmax))
		w := qw[i]
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fn + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i, v := range x {
			fl := float32(clampL(nearestInt(float32(iscale * v))))
			w := qw[i]
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(clampL(nearestInt(float32(iscale*v))) + int32(nmax))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

func max32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// rowSigma2 is Σx²/n in float32, summed in order (llama.cpp's sigma2).
func rowSigma2(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s / float32(len(x))
}

// q4BlockGGML encodes one Q4_0 block as llama.cpp's weighted Q4_0 does, with importance
// weights imp (32 values) and the row's σ², writing 16 code bytes and returning the f16 bits of
// the scale.
func q4BlockGGML(qs []byte, x, imp []float32, sigma2 float32) (uint16, error) {
	var w [bs]float32
	var L [bs]int8
	for j, v := range x[:bs] {
		w[j] = float32(imp[j] * float32(math.Sqrt(float64(sigma2+float32(v*v)))))
	}
	d := makeQxQuants(8, x[:bs], L[:], w[:])
	h := format.Float32ToF16(d)
	if h&0x7C00 == 0x7C00 {
		return 0, fmt.Errorf("q4_0 block scale %g: %w", d, ErrScaleOverflow)
	}
	for j := range bs / 2 {
		qs[j] = byte(L[j]) | byte(L[j+bs/2])<<4
	}
	return h, nil
}

// q4BlockWeighted encodes one Q4_0 block with importance weights imp (32 values), writing 16
// code bytes and returning the f16 bits of the scale: of llama.cpp's weighted choice
// ([q4BlockGGML], given the row's σ²), the unweighted one ([q4Block]) and the exhaustive search
// (wsearch.go), the one with the smallest Σ imp·(x − x̂)² (the earlier on a tie).
func q4BlockWeighted(qs []byte, x, imp []float32, sigma2 float32, s *wsScratch) (uint16, error) {
	h, err := q4BlockGGML(qs, x, imp, sigma2)
	if err != nil {
		return 0, err
	}
	best := q4WeightedErr(x, imp, qs, h)
	var cand [bs / 2]byte
	if ch, err := q4Block(cand[:], x); err == nil {
		if e := q4WeightedErr(x, imp, cand[:], ch); e < best {
			h, best = ch, e
			copy(qs[:bs/2], cand[:])
		}
	}
	if ch, e, ok := s.q4BlockSearch(cand[:], x, imp); ok && e < best {
		h = ch
		copy(qs[:bs/2], cand[:])
	}
	return h, nil
}

// i4WeightedErr is Σ imp_j·(x_j − float32(q_j·s))² in float64, stopping early past limit.
func i4WeightedErr(x, imp []float32, s float32, limit float64) float64 {
	var sum float64
	for i, v := range x {
		dec := float32(i4Level(v, s) * s)
		d := float64(v) - float64(dec)
		sum += float64(imp[i]) * d * d
		if i&63 == 63 && sum > limit {
			return sum
		}
	}
	return sum
}

// i4ScaleWeighted returns the I4 row scale that minimises the importance-weighted error over
// the clipping ratios k/100, k = 100 … 50, or the exhaustive search's where that is smaller.
func i4ScaleWeighted(x, imp []float32) float32 {
	s, best := i4ScaleClip(x, imp)
	if best == 0 {
		return s
	}
	return i4SweepScale(x, imp, s, best)
}

// i4ScaleClip is the clipping search of [i4ScaleWeighted]: its scale and weighted error.
func i4ScaleClip(x, imp []float32) (float32, float64) {
	amax := MaxAbs(x)
	if amax == 0 {
		return 1, 0
	}
	s0 := amax / 7
	if s0 == 0 {
		s0 = minScale
	}
	s, best := s0, i4WeightedErr(x, imp, s0, math.Inf(1))
	for k := 99; k >= 50 && best > 0; k-- {
		sk := s0 * (float32(k) / 100)
		if sk == 0 {
			continue
		}
		if e := i4WeightedErr(x, imp, sk, best); e < best {
			s, best = sk, e
		}
	}
	return s, best
}

// i4SweepScale returns the scale of the exhaustive search (wsearch.go) over positive scales
// and its least-squares refits if one has a weighted error below best (that of scale s), else
// s.
func i4SweepScale(x, imp []float32, s float32, best float64) float32 {
	var ws wsScratch
	c, gain := ws.sweep(x, imp, -8, 7)
	for i := 0; i < 4 && gain > 0 && best > 0; i++ {
		sc := float32(c)
		if !(sc > 0) || math.IsInf(float64(sc), 0) {
			break
		}
		if e := i4WeightedErr(x, imp, sc, best); e < best {
			s, best = sc, e
		}
		nc := refit(x, imp, float64(sc), -8, 7)
		if nc == float64(sc) {
			break
		}
		c = nc
	}
	return s
}
