package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// llama.cpp's k-quant and IQ4_NL encoders, ported from ggml-quants.c so that the blocks are
// byte-identical to llama-quantize's without an imatrix (quantize_row_q4_K_ref,
// quantize_row_q5_K_ref, quantize_row_q6_K_ref, quantize_iq4_nl with no weights; Q2_K and Q3_K
// likewise) — checked against blocks llama.cpp wrote (testdata/quant/ggml) — and to its
// importance-weighted quantizers (quantize_row_*_impl) with an imatrix. All arithmetic is
// float32 with each operation rounded (explicit conversions forbid fused multiply-adds), in
// llama.cpp's order. Each function writes one llama.cpp block; [format.PutGGMLBlock] puts it
// in the planar payload.

func absf(v float32) float32 { return float32(math.Abs(float64(v))) }

func sqrtf(v float32) float32 { return float32(math.Sqrt(float64(v))) }

func f16(v float32) uint16 { return format.Float32ToF16(v) }

func f16f(h uint16) float32 { return format.F16ToFloat32(h) }

// makeQKX2Quants is llama.cpp's make_qkx2_quants (asymmetric codes 0…nmax with a min) with
// squared error (absolute error with useMad): it writes L and returns the scale and the
// (negated) min.
func makeQKX2Quants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -mn
	}
	fn := float32(nmax)
	clampU := func(l int32) uint8 { return uint8(max32(0, min(int32(nmax), l))) }
	iscale := fn / (mx - mn)
	scale = 1 / iscale
	var bestErr float32
	for i, v := range x {
		L[i] = clampU(nearestInt(float32(iscale * float32(v-mn))))
		diff := float32(float32(scale*float32(L[i]))+mn) - v
		bestErr += float32(weights[i] * errTerm(diff, useMad))
	}
	if nstep < 1 {
		return scale, -mn
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+fn) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampU(nearestInt(float32(iscale * float32(v-mn))))
			Laux[i] = l
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var cur float32
			for i, v := range x {
				diff := float32(float32(thisScale*float32(Laux[i]))+thisMin) - v
				cur += float32(weights[i] * errTerm(diff, useMad))
			}
			if cur < bestErr {
				copy(L[:n], Laux[:n])
				bestErr, scale, mn = cur, thisScale, thisMin
			}
		}
	}
	return scale, -mn
}

func errTerm(diff float32, useMad bool) float32 {
	if useMad {
		return absf(diff)
	}
	return float32(diff * diff)
}

// impWeights sets w[l] = imp[l]·√(σ² + x[l]²), the weights of llama.cpp's importance-weighted
// k-quant searches, for the values x, and returns their sum (added in order).
func impWeights(w, x, imp []float32, sigma2 float32) float32 {
	var sum float32
	for l, v := range x {
		w[l] = float32(imp[l] * sqrtf(sigma2+float32(v*v)))
		sum += w[l]
	}
	return sum
}

// packScalesK4 stores the 6-bit scale ls and min lm of sub-block j in a Q4_K/Q5_K scales[12].
func packScalesK4(sc []byte, j int, ls, lm uint8) {
	if j < 4 {
		sc[j] = ls
		sc[j+4] = lm
	} else {
		sc[j+4] = ls&0xF | (lm&0xF)<<4
		sc[j-4] |= (ls >> 4) << 6
		sc[j] |= (lm >> 4) << 6
	}
}

// q45KBlock encodes 256 values as one Q4_K (nmax 15) or Q5_K (nmax 31) block
// (quantize_row_q4_K_ref / quantize_row_q5_K_ref; with importance weights imp,
// quantize_row_q4_K_impl / quantize_row_q5_K_impl).
func q45KBlock(blk []byte, x []float32, t format.DType, imp []float32) {
	nmax, rmin, nstep := 15, float32(-1), 20
	if t == format.Q5_K {
		nmax, rmin, nstep = 31, -0.5, 15
	}
	var L [256]uint8
	var Laux [32]uint8
	var weights [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	if imp != nil {
		var sumX2 float32
		for _, v := range x[:256] {
			sumX2 += float32(v * v)
		}
		sigma2 := float32(2*sumX2) / 256
		var sw [8]float32
		for j := range 8 {
			xs := x[32*j : 32*j+32]
			sw[j] = impWeights(weights[:], xs, imp[32*j:], sigma2)
			scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:], Laux[:], -0.9, 0.05, 36, false)
		}
		var Ls, Lm [8]uint8
		dBlock := makeQPQuants(63, scales[:], Ls[:], sw[:])
		mBlock := makeQPQuants(63, mins[:], Lm[:], sw[:])
		sc := blk[4:16]
		clear(sc)
		for j := range 8 {
			packScalesK4(sc, j, min(63, Ls[j]), min(63, Lm[j]))
		}
		binary.LittleEndian.PutUint16(blk[0:], f16(dBlock))
		binary.LittleEndian.PutUint16(blk[2:], f16(mBlock))
		kCodes(blk, x, t, nmax, &L)
		return
	}
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrtf(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + absf(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:], Laux[:], rmin, 0.1, nstep, false)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	sc := blk[4:16]
	clear(sc)
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	for j := range 8 {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		packScalesK4(sc, j, ls, lm)
	}
	binary.LittleEndian.PutUint16(blk[0:], f16(maxScale/63))
	binary.LittleEndian.PutUint16(blk[2:], f16(maxMin/63))
	kCodes(blk, x, t, nmax, &L)
}

// kCodes writes the codes of a Q4_K / Q5_K block whose d, dmin and scales are set: each value
// rounded against its sub-block's decoded scale and min, then packed.
func kCodes(blk []byte, x []float32, t format.DType, nmax int, L *[256]uint8) {
	sc := blk[4:16]
	d, dmin := f16f(binary.LittleEndian.Uint16(blk[0:])), f16f(binary.LittleEndian.Uint16(blk[2:]))
	top := int32(nmax)
	for j := range 8 {
		s, m := format.ScaleMinK4(j, sc)
		dd := float32(d * float32(s))
		if dd == 0 {
			continue
		}
		dm := float32(dmin * float32(m))
		for i := range 32 {
			l := nearestInt(float32(x[32*j+i]+dm) / dd)
			L[32*j+i] = uint8(max32(0, min(top, l)))
		}
	}
	if t == format.Q4_K {
		q := blk[16:144]
		for j := 0; j < 256; j += 64 {
			for l := range 32 {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
		return
	}
	qh, ql := blk[16:48], blk[48:176]
	clear(qh)
	m1, m2 := byte(1), byte(2)
	for n := 0; n < 256; n += 64 {
		for j := range 32 {
			l1, l2 := L[n+j], L[n+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[j] = l1 | l2<<4
		}
		m1, m2 = m1<<2, m2<<2
		ql = ql[32:]
	}
}

// q6KBlock encodes 256 values as one Q6_K block (quantize_row_q6_K_ref, or _impl with
// importance weights imp).
func q6KBlock(blk []byte, x []float32, imp []float32) {
	var L [256]int8
	var scales [16]float32
	var weights [16]float32
	var maxScale, maxAbsScale float32
	for ib := range 16 {
		xs := x[16*ib : 16*ib+16]
		var qw []float32
		if imp == nil {
			for i, v := range xs {
				weights[i] = float32(v * v) // make_qx_quants' rmse_type 1 weights
			}
		} else {
			copy(weights[:], imp[16*ib:16*ib+16]) // llama.cpp's _impl uses the importance as is
		}
		qw = weights[:]
		scale := makeQxQuants(32, xs, L[16*ib:], qw)
		scales[ib] = scale
		if a := absf(scale); a > maxAbsScale {
			maxAbsScale, maxScale = a, scale
		}
	}
	clear(blk[:210])
	if maxAbsScale < groupMaxEps {
		binary.LittleEndian.PutUint16(blk[208:], f16(0))
		return
	}
	iscale := -128 / maxScale
	binary.LittleEndian.PutUint16(blk[208:], f16(1/iscale))
	sc := blk[192:208]
	for ib := range 16 {
		sc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	d0 := f16f(binary.LittleEndian.Uint16(blk[208:]))
	for j := range 16 {
		d := float32(d0 * float32(int8(sc[j])))
		if d == 0 {
			continue
		}
		for i := range 16 {
			l := nearestInt(x[16*j+i] / d)
			L[16*j+i] = int8(max32(-32, min(31, l)) + 32)
		}
	}
	ql, qh := blk[0:128], blk[128:192]
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			q1, q2, q3, q4 := byte(L[j+l])&0xF, byte(L[j+l+32])&0xF, byte(L[j+l+64])&0xF, byte(L[j+l+96])&0xF
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = byte(L[j+l])>>4 | byte(L[j+l+32])>>4<<2 | byte(L[j+l+64])>>4<<4 | byte(L[j+l+96])>>4<<6
		}
		ql, qh = ql[64:], qh[32:]
	}
}

// bestIndexInt8 is llama.cpp's best_index_int8: the index of the grid value nearest x
// (the lower one on a tie... as llama.cpp decides it).
func bestIndexInt8(val *[16]int8, x float32) int {
	if x <= float32(val[0]) {
		return 0
	}
	if x >= float32(val[15]) {
		return 15
	}
	ml, mu := 0, 15
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(val[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if float32(x-float32(val[mu-1])) < float32(float32(val[mu])-x) {
		return mu - 1
	}
	return mu
}

// iq4NLBlock encodes 32 values as one IQ4_NL block (quantize_row_iq4_nl_impl with a
// super-block of 32 and ntry 7; imp the importance weights or nil).
func iq4NLBlock(blk []byte, x []float32, imp []float32) {
	values := &format.KValuesIQ4NL
	var sigma2 float32
	for _, v := range x[:32] {
		sigma2 += float32(v * v)
	}
	sigma2 = float32(sigma2 * (2.0 / 32))
	var weight [32]float32
	var L [32]uint8
	for j, v := range x[:32] {
		if imp != nil {
			weight[j] = float32(imp[j] * sqrtf(sigma2+float32(v*v)))
		} else {
			weight[j] = float32(v * v)
		}
	}
	clear(blk[:18])
	var amax, mx float32
	for _, v := range x[:32] {
		if a := absf(v); a > amax {
			amax, mx = a, v
		}
	}
	var d float32
	if amax >= groupMaxEps {
		v0 := float32(values[0])
		d = -mx / v0
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range x[:32] {
			l := bestIndexInt8(values, float32(id*v))
			L[j] = uint8(l)
			q := float32(values[l])
			w := weight[j]
			sumqx += float32(float32(w*q) * v)
			sumq2 += float32(float32(w*q) * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := float32(d * sumqx)
		for itry := -7; itry <= 7; itry++ {
			id = float32(float32(itry)+v0) / mx
			sumqx, sumq2 = 0, 0
			for j, v := range x[:32] {
				l := bestIndexInt8(values, float32(id*v))
				q := float32(values[l])
				w := weight[j]
				sumqx += float32(float32(w*q) * v)
				sumq2 += float32(float32(w*q) * q)
			}
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
				d = sumqx / sumq2
				best = float32(d * sumqx)
			}
		}
	}
	binary.LittleEndian.PutUint16(blk, f16(d))
	var id float32 // the unrounded d, as llama.cpp; an all-zero block gets the code of 1 (index 8)
	if d != 0 {
		id = 1 / d
	}
	for j, v := range x[:32] {
		L[j] = uint8(bestIndexInt8(values, float32(id*v)))
	}
	for j := range 16 {
		blk[2+j] = L[j] | L[16+j]<<4
	}
}

// encodeKRow encodes row r (finite values x) of a k-quant or IQ4_NL tensor; every type uses
// the importance weights imp when set (as llama.cpp's quantize_* with quant_weights, byte for
// byte).
func encodeKRow(l format.Layout, payload []byte, r int, x, imp []float32) error {
	n, _, _, _ := format.SuperBlock(l.DType)
	var blk [256]byte
	for b := range len(x) / n {
		xb := x[b*n : (b+1)*n]
		var ib []float32
		if imp != nil {
			ib = imp[b*n : (b+1)*n]
		}
		switch l.DType {
		case format.Q4_K, format.Q5_K:
			q45KBlock(blk[:], xb, l.DType, ib)
		case format.Q6_K:
			q6KBlock(blk[:], xb, ib)
		case format.IQ4_NL:
			iq4NLBlock(blk[:], xb, ib)
		case format.Q2_K:
			q2KBlock(blk[:], xb, ib)
		case format.Q3_K:
			q3KBlock(blk[:], xb, ib)
		}
		if err := checkKScales(l.DType, blk[:]); err != nil {
			return fmt.Errorf("col %d: %w", b*n, err)
		}
		format.PutGGMLBlock(payload, l, r, b, blk[:format.GGMLBlockSize(l.DType)])
	}
	return nil
}

// checkKScales rejects a block whose f16 scale overflowed (llama.cpp would store Inf).
func checkKScales(t format.DType, blk []byte) error {
	var offs []int
	switch t {
	case format.Q4_K, format.Q5_K:
		offs = []int{0, 2}
	case format.Q6_K:
		offs = []int{208}
	case format.IQ4_NL:
		offs = []int{0}
	case format.Q2_K:
		offs = []int{80, 82}
	case format.Q3_K:
		offs = []int{108}
	}
	for _, o := range offs {
		if h := binary.LittleEndian.Uint16(blk[o:]); h&0x7C00 == 0x7C00 {
			return fmt.Errorf("%v block scale %#04x: %w", t, h, ErrScaleOverflow)
		}
	}
	return nil
}

// q2KBlock encodes 256 values as one Q2_K block (quantize_row_q2_K_ref, or
// quantize_row_q2_K_impl with importance weights imp).
func q2KBlock(blk []byte, x []float32, imp []float32) {
	var L [256]uint8
	var Laux [16]uint8
	var weights [16]float32
	var scales, mins [16]float32
	var maxScale, maxMin float32
	sc := blk[0:16]
	clear(blk[:84])
	if imp != nil {
		q2KScalesWeighted(blk, x, imp, &L)
		q2KCodes(blk, x, &L)
		return
	}
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = absf(v)
		}
		scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:], Laux[:], -0.5, 0.1, 15, true)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range 16 {
			sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
		}
		binary.LittleEndian.PutUint16(blk[80:], f16(maxScale/15))
	} else {
		binary.LittleEndian.PutUint16(blk[80:], f16(0))
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range 16 {
			sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
		}
		binary.LittleEndian.PutUint16(blk[82:], f16(maxMin/15))
	} else {
		binary.LittleEndian.PutUint16(blk[82:], f16(0))
	}
	q2KCodes(blk, x, &L)
}

// q2KScalesWeighted sets the scales, d and dmin of a Q2_K block as quantize_row_q2_K_impl
// does: per 16 values the weights imp·√(σ² + x²) (σ² = Σx²/256 over the block), a weighted
// asymmetric search (make_qkx3_quants, which with explicit weights is make_qkx2_quants)
// writing codes into L, then the 16 scales and the 16 mins each quantized to 4 bits by
// make_qp_quants weighted by the sub-blocks' total weight.
func q2KScalesWeighted(blk []byte, x, imp []float32, L *[256]uint8) {
	var Laux [16]uint8
	var weight [16]float32
	var scales, mins, sw [16]float32
	sigma2 := rowSigma2(x[:256])
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		sw[j] = impWeights(weight[:], xs, imp[16*j:], sigma2)
		scales[j], mins[j] = makeQKX2Quants(3, xs, weight[:], L[16*j:], Laux[:], -0.9, 0.05, 36, false)
	}
	var Ls, Lm [16]uint8
	dm := makeQPQuants(15, scales[:], Ls[:], sw[:])
	mm := makeQPQuants(15, mins[:], Lm[:], sw[:])
	binary.LittleEndian.PutUint16(blk[80:], f16(dm))
	binary.LittleEndian.PutUint16(blk[82:], f16(mm))
	for j := range 16 {
		blk[j] = Ls[j] | Lm[j]<<4
	}
}

// q2KCodes writes the codes of a Q2_K block whose scales, d and dmin are set: each value
// rounded against its sub-block's decoded scale and min (a sub-block of scale 0 keeps the
// codes of its search, in L), then packed.
func q2KCodes(blk []byte, x []float32, L *[256]uint8) {
	sc := blk[0:16]
	d0, m0 := f16f(binary.LittleEndian.Uint16(blk[80:])), f16f(binary.LittleEndian.Uint16(blk[82:]))
	for j := range 16 {
		d := float32(d0 * float32(sc[j]&0xF))
		if d == 0 {
			continue
		}
		dm := float32(m0 * float32(sc[j]>>4))
		for i := range 16 {
			l := nearestInt(float32(x[16*j+i]+dm) / d)
			L[16*j+i] = uint8(max32(0, min(3, l)))
		}
	}
	qs := blk[16:80]
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// makeQ3Quants is llama.cpp's make_q3_quants with do_rmse: signed codes −nmax…nmax−1
// refined by coordinate descent on the x²-weighted error; it writes L (plus nmax) and
// returns the scale.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	var mx, amax float32
	for _, v := range x {
		if a := absf(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	n32 := int32(nmax)
	clampS := func(l int32) int32 { return max32(-n32, min(n32-1, l)) }
	iscale := float32(-nmax) / mx
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampS(nearestInt(float32(iscale * v)))
		L[i] = int8(l)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for range 5 {
		changed := 0
		for i, v := range x {
			w := float32(v * v)
			fl := float32(L[i])
			slx := sumlx - float32(float32(w*v)*fl)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*fl)*fl)
				newL := clampS(nearestInt(float32(v*sl2) / slx))
				if newL != int32(L[i]) {
					nl := float32(newL)
					slx += float32(float32(w*v) * nl)
					sl2 += float32(float32(w*nl) * nl)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i], sumlx, suml2 = int8(newL), slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// q3KBlock encodes 256 values as one Q3_K block (quantize_row_q3_K_ref, or
// quantize_row_q3_K_impl with importance weights imp).
func q3KBlock(blk []byte, x []float32, imp []float32) {
	var L [256]int8
	var scales [16]float32
	clear(blk[:110])
	hm, qs, sc := blk[0:32], blk[32:96], blk[96:108]
	if imp != nil {
		// quantize_row_q3_K_impl: per 16 values the weights imp·√(σ² + x²) (σ² = 2Σx²/256
		// over the block) and make_qx_quants' weighted search for a signed scale; the 16
		// scales then quantized to 6 bits by make_qx_quants weighted by the sub-blocks'
		// total weight.
		var weight, sw [16]float32
		var sumX2 float32
		for _, v := range x[:256] {
			sumX2 += float32(v * v)
		}
		sigma2 := float32(2*sumX2) / 256
		for j := range 16 {
			xs := x[16*j : 16*j+16]
			sw[j] = impWeights(weight[:], xs, imp[16*j:], sigma2)
			scales[j] = makeQxQuants(4, xs, L[16*j:], weight[:])
		}
		var Ls [16]int8
		dBlock := makeQxQuants(32, scales[:], Ls[:], sw[:])
		for j := range 16 {
			packQ3Scale(sc, j, byte(Ls[j]))
		}
		binary.LittleEndian.PutUint16(blk[108:], f16(dBlock))
	} else {
		var maxScale, amax float32
		for j := range 16 {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:])
			if a := absf(scales[j]); a > amax {
				amax, maxScale = a, scales[j]
			}
		}
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := range 16 {
				packQ3Scale(sc, j, byte(max32(-32, min(31, int32(int8(nearestInt(float32(iscale*scales[j]))))))+32))
			}
			binary.LittleEndian.PutUint16(blk[108:], f16(1/iscale))
		} else {
			binary.LittleEndian.PutUint16(blk[108:], f16(0))
		}
	}
	d0 := f16f(binary.LittleEndian.Uint16(blk[108:]))
	for j := range 16 {
		var s byte
		if j < 8 {
			s = sc[j] & 0xF
		} else {
			s = sc[j-8] >> 4
		}
		s |= (sc[8+j%4] >> (2 * (j / 4)) & 3) << 4
		d := float32(d0 * float32(int8(s)-32))
		if d == 0 {
			continue
		}
		for i := range 16 {
			l := nearestInt(x[16*j+i] / d)
			L[16*j+i] = int8(max32(-4, min(3, l)) + 4)
		}
	}
	m, h := 0, byte(1)
	for j := range 256 {
		if L[j] > 3 {
			hm[m] |= h
			L[j] -= 4
		}
		if m++; m == 32 {
			m, h = 0, h<<1
		}
	}
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			qs[j/4+l] = byte(L[j+l]) | byte(L[j+l+32])<<2 | byte(L[j+l+64])<<4 | byte(L[j+l+96])<<6
		}
	}
}

// packQ3Scale stores the 6-bit scale l (0…63, offset by 32) of sub-block j in a Q3_K
// scales[12] (zeroed beforehand): the low 4 bits in a nibble of bytes 0…7, the high 2 bits in
// bytes 8…11.
func packQ3Scale(sc []byte, j int, l byte) {
	if j < 8 {
		sc[j] = l & 0xF
	} else {
		sc[j-8] |= (l & 0xF) << 4
	}
	sc[j%4+8] |= (l >> 4) << (2 * (j / 4))
}

// makeQPQuants is llama.cpp's make_qp_quants: non-negative x quantized to 0…nmax with one
// scale, weighted by qw, refined by coordinate descent; it writes L and returns the scale.
func makeQPQuants(nmax int, x []float32, L []uint8, qw []float32) float32 {
	var mx float32
	for _, v := range x {
		mx = max(mx, v)
	}
	if mx < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	fn := float32(nmax)
	n32 := int32(nmax)
	iscale := fn / mx
	for i, v := range x {
		L[i] = uint8(nearestInt(float32(iscale * v)))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(float32(qw[i]*diff) * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := float32(float32(0.1*float32(is))+fn) / mx
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(n32, nearestInt(float32(iscaleIs*v)))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(qw[i]*diff) * diff)
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(n32, nearestInt(float32(iscale*v)))
		L[i] = uint8(l)
		w, fl := qw[i], float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for range 5 {
		changed := 0
		for i, v := range x {
			w, fl := qw[i], float32(L[i])
			slx := sumlx - float32(float32(w*v)*fl)
			sl2 := suml2 - float32(float32(w*fl)*fl)
			if slx > 0 && sl2 > 0 {
				newL := min(n32, nearestInt(float32(v*sl2)/slx))
				if newL != int32(L[i]) {
					nl := float32(newL)
					slx += float32(float32(w*v) * nl)
					sl2 += float32(float32(w*nl) * nl)
					if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i], sumlx, suml2 = uint8(newL), slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
