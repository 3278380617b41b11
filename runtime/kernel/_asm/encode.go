package main

import (
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genEncode emits quantize's AVX-512 encoders (encode.go): Q4_0 and Q8_0 blocks, FP8 and
// SFP8 values, each with its error statistics accumulated in the same pass, and the helpers
// of the encoding loop (bf16 widening, the i4 scale search's error, max |x|).
func genEncode() {
	encBlocks("encQ4AVX512", []string{
		"encQ4AVX512 encodes up to nb Q4_0 blocks of x and returns how many it encoded; sums gets",
		"Σw², Σ(w − ŵ)² added and max |w − ŵ| merged. Reference: package quantize's Q4_0 encoder",
		"(llama.cpp's quantize_row_q4_0_ref), bytes equal; per block b:",
		"",
		"\tm := the signed value of the first w[i] with |w[i]| = amax; d := m/−8; id := 1/d (0 for d = 0)",
		"\tfor j := range 16 { q(i) := min(15, trunc(float32(float32(w[i]·id) + 8.5)))",
		"\t\tcodes[16b+j] = q(32b+j) | q(32b+j+16)<<4 }; scales[2b:] = f16(d)",
		"\tŵ[i] = float32(q(i)−8)·f16(d)",
		"",
		"It stops at a block with a non-finite value, a scale that overflows f16 or a reciprocal",
		"that overflows float32 (the caller encodes that block).",
	}, 16, func() []reg.VecVirtual {
		return broadcastDs(0x41080000, 15, 8, 0xc1000000) // 8.5, 15, 8, −8.0
	}, q4Block)
	encBlocks("encQ8AVX512", []string{
		"encQ8AVX512 is encQ4AVX512 for Q8_0 (reference: quantize_row_q8_0_ref, bytes equal):",
		"",
		"\td := amax/127; id := 1/d (0 for d = 0)",
		"\tfor j := range 32 { codes[32b+j] = roundf(float32(w[32b+j]·id)) }; scales[2b:] = f16(d)",
		"\tŵ[i] = float32(code(i))·f16(d)",
		"",
		"roundf rounds ties away from zero: truncate, then step away when the exact remainder",
		"is ≥ 0.5.",
	}, 32, func() []reg.VecVirtual {
		return broadcastDs(0x42fe0000, 0x3f000000, 0x80000000, 0x3f800000) // 127.0, 0.5, sign, 1.0
	}, q8Block)
	widenBF16()
	i4Err()
	encSFP8()
	maxAbsBits()
	encFP8()
}

// errSums are the three float64 accumulators of an encoder's error (EncodeSums): Σw²,
// Σ(w − ŵ)², max |w − ŵ|, each in the lanes of a ZMM register.
type errSums struct {
	signal, noise, maxErr reg.VecVirtual
	abs64                 reg.VecVirtual // float64 |·| mask
}

func newErrSums() *errSums {
	s := &errSums{signal: ZMM(), noise: ZMM(), maxErr: ZMM(), abs64: ZMM()}
	r := GP64()
	MOVQ(U64(0x7fffffffffffffff), r)
	VPBROADCASTQ(r, s.abs64)
	for _, z := range []reg.VecVirtual{s.signal, s.noise, s.maxErr} {
		VPXORQ(z, z, z)
	}
	return s
}

// add accumulates 16 values w and their decodings v (float32, in ZMM registers), widened to
// float64 eight at a time.
func (s *errSums) add(w, v reg.VecVirtual) {
	widenPD(w, v, func(_ int, fw, fv reg.VecVirtual) {
		VSUBPD(fv, fw, fv)
		VFMADD231PD(fw, fw, s.signal)
		VFMADD231PD(fv, fv, s.noise)
		VANDPD(s.abs64, fv, fv)
		VMAXPD(fv, s.maxErr, s.maxErr)
	})
}

// store adds the lane sums to sums[0], sums[1] and merges the maximum into sums[2].
func (s *errSums) store(sums reg.Register) {
	for i, z := range []reg.VecVirtual{s.signal, s.noise, s.maxErr} {
		op, sop := inst(VADDPD), inst(VADDSD)
		if i == 2 {
			op, sop = VMAXPD, VMAXSD
		}
		x := reducePD(avx512, z, op, sop)
		sop(Mem{Base: sums, Disp: 8 * i}, x, x)
		VMOVSD(x, Mem{Base: sums, Disp: 8 * i})
	}
}

// broadcastDs is broadcastD for each of vs.
func broadcastDs(vs ...uint32) []reg.VecVirtual {
	zs := make([]reg.VecVirtual, len(vs))
	for i, v := range vs {
		zs[i] = broadcastD(v)
	}
	return zs
}

// blockEnc is the state of a block encoder's loop: the block's 32 values in w[0], w[1].
type blockEnc struct {
	name            string
	codes, scales   reg.Register
	abs32, one      reg.VecVirtual // float32 |·| mask; 1.0 in lane 0 of an X register
	w               [2]reg.VecVirtual
	x               reg.Register
	bail            string // the label that ends the call
	dbits           reg.GPVirtual
	d16, id, dFloat reg.VecVirtual
}

// encBlocks generates an encoder of 32-value blocks (codeBytes code bytes and a 2-byte f16
// scale each) of the shape
//
//	for b := 0; b < nb; b++ { if !block(b) { break } }; return b
//
// block emits the block's scale, codes and error statistics, jumping to e.bail to stop.
func encBlocks(name string, doc []string, codeBytes int, setup func() []reg.VecVirtual, block func(e *blockEnc, s *errSums, c []reg.VecVirtual)) {
	TEXT(name, NOSPLIT, "func(codes, scales *byte, x *float32, nb int, sums *[3]float64) int")
	Pragma("noescape")
	Doc(doc...)
	e := &blockEnc{name: name, bail: name + "done"}
	e.codes = Load(Param("codes"), GP64())
	e.scales = Load(Param("scales"), GP64())
	e.x = Load(Param("x"), GP64())
	nb := Load(Param("nb"), GP64())
	sums := Load(Param("sums"), GP64())
	done := GP64()
	XORQ(done, done)
	e.abs32 = broadcastD(0x7fffffff)
	s := newErrSums()
	e.one = XMM()
	r := GP32()
	MOVL(U32(0x3f800000), r)
	VMOVD(r, e.one)
	c := setup()

	Label(name + "block")
	CMPQ(done, nb)
	JAE(LabelRef(e.bail))
	e.w = [2]reg.VecVirtual{ZMM(), ZMM()}
	VMOVUPS(Mem{Base: e.x}, e.w[0])
	VMOVUPS(Mem{Base: e.x, Disp: 64}, e.w[1])
	block(e, s, c)
	ADDQ(U8(128), e.x)
	ADDQ(U8(codeBytes), e.codes)
	ADDQ(U8(2), e.scales)
	INCQ(done)
	JMP(LabelRef(name + "block"))

	Label(e.bail)
	s.store(sums)
	Store(done, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// amax returns max |w| over the block: its bits in a GP register (jumping to e.bail when
// not finite), the value in lane 0 of an X register, and |w| of both halves.
func (e *blockEnc) amax() (bits reg.GPVirtual, m reg.Register, a [2]reg.VecVirtual) {
	a = [2]reg.VecVirtual{ZMM(), ZMM()}
	VPANDD(e.abs32, e.w[0], a[0])
	VPANDD(e.abs32, e.w[1], a[1])
	z := ZMM()
	VPMAXUD(a[1], a[0], z)
	m = umaxZ(z)
	bits = GP32()
	VMOVD(m, bits)
	CMPL(bits, U32(0x7f800000))
	JAE(LabelRef(e.bail))
	return bits, m, a
}

// scale sets, from the scale d (lane 0 of d), e.dbits and e.d16 to its f16 bits (jumping to
// e.bail when it overflows f16), e.id to its reciprocal broadcast (0 for d = 0; jumping to
// e.bail when the reciprocal overflows) and e.dFloat to f16(d) broadcast.
func (e *blockEnc) scale(d reg.VecVirtual) {
	e.d16 = XMM()
	VCVTPS2PH(U8(0), d, e.d16)
	e.dbits = GP32()
	VMOVD(e.d16, e.dbits)
	ANDL(U32(0xffff), e.dbits)
	t := GP32()
	MOVL(e.dbits, t)
	ANDL(U32(0x7c00), t)
	CMPL(t, U32(0x7c00))
	JEQ(LabelRef(e.bail))
	id := XMM()
	VXORPS(id, id, id)
	VUCOMISS(id, d)
	JEQ(LabelRef(e.name + "id"))
	VDIVSS(d, e.one, id)
	VMOVD(id, t)
	ANDL(U32(0x7fffffff), t)
	CMPL(t, U32(0x7f800000))
	JEQ(LabelRef(e.bail))
	Label(e.name + "id")
	e.id = ZMM()
	VBROADCASTSS(id, e.id)
}

// storeScale writes the f16 scale and returns f16(d) as float32 broadcast.
func (e *blockEnc) storeScale() reg.VecVirtual {
	MOVW(e.dbits.As16(), Mem{Base: e.scales})
	x, z := XMM(), ZMM()
	VCVTPH2PS(e.d16, x)
	VBROADCASTSS(x, z)
	return z
}

func q4Block(e *blockEnc, s *errSums, c []reg.VecVirtual) {
	half, fifteen, eight, minus8 := c[0], c[1], c[2], c[3]
	bits, m, a := e.amax()
	// The signed value of amax's first occurrence (0 when amax = 0).
	first := XMM()
	VXORPS(first, first, first)
	TESTL(bits, bits)
	JZ(LabelRef(e.name + "max"))
	mb := ZMM()
	VPBROADCASTD(m, mb)
	k1, k2 := K(), K()
	VPCMPEQD(mb, a[0], k1)
	VPCMPEQD(mb, a[1], k2)
	lo, hi := GP32(), GP32()
	KMOVW(k1, lo)
	KMOVW(k2, hi)
	SHLL(U8(16), hi)
	ORL(hi, lo)
	BSFL(lo, lo)
	VMOVSS(Mem{Base: e.x, Index: lo.As64(), Scale: 4}, first)
	Label(e.name + "max")
	d := XMM()
	VDIVSS(minus8.AsX(), first, d)
	e.scale(d)
	var q [2]reg.VecVirtual
	for i := range 2 {
		q[i] = ZMM()
		VMULPS(e.id, e.w[i], q[i])
		VADDPS(half, q[i], q[i])
		VCVTTPS2DQ(q[i], q[i])
		VPMINSD(fifteen, q[i], q[i])
	}
	packed := ZMM()
	VPSLLD(U8(4), q[1], packed)
	VPORD(packed, q[0], packed)
	VPMOVDB(packed, Mem{Base: e.codes})
	df := e.storeScale()
	for i := range 2 {
		VPSUBD(eight, q[i], q[i])
		VCVTDQ2PS(q[i], q[i])
		VMULPS(df, q[i], q[i])
	}
	s.add(e.w[0], q[0])
	s.add(e.w[1], q[1])
}

func q8Block(e *blockEnc, s *errSums, c []reg.VecVirtual) {
	c127, half, sign, one := c[0], c[1], c[2], c[3]
	_, m, _ := e.amax()
	d := XMM()
	VDIVSS(c127.AsX(), m, d)
	e.scale(d)
	var q [2]reg.VecVirtual
	for i := range 2 {
		y, t, r, step := ZMM(), ZMM(), ZMM(), ZMM()
		k := K()
		VMULPS(e.id, e.w[i], y)
		VRNDSCALEPS(U8(3), y, t) // truncate
		VSUBPS(t, y, r)
		VPANDD(e.abs32, r, r)
		VCMPPS(U8(0x1d), half, r, k) // |remainder| ≥ 0.5
		VPANDD(sign, y, step)
		VPORD(one, step, step) // ±1
		VADDPS(step, t, k, t)
		q[i] = ZMM()
		VCVTTPS2DQ(t, q[i])
	}
	VPMOVSDB(q[0], Mem{Base: e.codes})
	VPMOVSDB(q[1], Mem{Base: e.codes, Disp: 16})
	df := e.storeScale()
	for i := range 2 {
		VCVTDQ2PS(q[i], q[i])
		VMULPS(df, q[i], q[i])
	}
	s.add(e.w[0], q[0])
	s.add(e.w[1], q[1])
}

func widenBF16() {
	routine("widenBF16AVX512", "func(dst *float32, src *byte, n int)", "widenBF16AVX512 is, for n a multiple of 64 (reference: WidenBF16's loop):", "",
		"\tfor i := range n { dst[i] = float32frombits(uint32(le16(src[2i:])) << 16) }")
	p := params("dst", "src", "n")
	dst, src := p[0], p[1]
	loop("wb", p[2], 6, 128, []reg.Register{src}, func() {
		zs := []reg.VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
		for i, z := range zs {
			VPMOVZXWD(Mem{Base: src, Disp: 32 * i}, z)
		}
		for _, z := range zs {
			VPSLLD(U8(16), z, z)
		}
		for i, z := range zs {
			VMOVUPS(z, Mem{Base: dst, Disp: 64 * i})
		}
		ADDQ(U32(256), dst)
	})
	VZEROUPPER()
	RET()
}

func i4Err() {
	routine("i4ErrAVX512", "func(x *float32, n int, scales *float32, ns int, errs *float64)", "i4ErrAVX512 is I4SqErrs over n elements (a multiple of 16) and ns ≥ 1 scales (reference:",
		"package quantize's i4 scale search):", "",
		"\tfor k := range ns { s := scales[k]; for i := range n {",
		"\t\tq := float32(clamp(rne(float32(x[i]/s)), −8, 7)·s); errs[k] += (float64(x[i]) − float64(q))² } }",
		"",
		"(each square rounded to float64; the sum in 8+8 float64 lanes, then halves pairwise)")
	ps := params("x", "n", "scales", "ns", "errs")
	x, n, scales, ns, errs := ps[0], ps[1], ps[2], ps[3], ps[4]
	SHRQ(U8(4), n)
	cs := broadcastDs(0x40e00000, 0xc1000000, 0x4b400000) // 7, −8, 1.5·2²³ (round to even)
	seven, minus8, magic := cs[0], cs[1], cs[2]

	Label("i4scale")
	s := ZMM()
	VBROADCASTSS(Mem{Base: scales}, s)
	acc := []reg.VecVirtual{ZMM(), ZMM()}
	for _, a := range acc {
		VPXORQ(a, a, a)
	}
	p, cnt := GP64(), GP64()
	MOVQ(x, p)
	MOVQ(n, cnt)

	Label("i4elem")
	w, q := loadScaled(p, VDIVPS, s)
	VMINPS(seven, q, q)
	VMAXPS(minus8, q, q)
	VADDPS(magic, q, q)
	VSUBPS(magic, q, q)
	VMULPS(s, q, q)
	widenPD(w, q, func(half int, fw, fq reg.VecVirtual) {
		VSUBPD(fq, fw, fw)
		VMULPD(fw, fw, fw)
		VADDPD(fw, acc[half], acc[half])
	})
	ADDQ(U8(64), p)
	DECQ(cnt)
	JNZ(LabelRef("i4elem"))

	VADDPD(acc[1], acc[0], acc[0])
	VMOVSD(reducePD(avx512, acc[0], VADDPD, VADDSD), Mem{Base: errs})
	ADDQ(U8(4), scales)
	ADDQ(U8(8), errs)
	DECQ(ns)
	JNZ(LabelRef("i4scale"))
	VZEROUPPER()
	RET()
}

func encSFP8() {
	routine("encSFP8AVX512", "func(codes *byte, x *float32, n int, inv, limit, scale float32, sums *[3]float64) bool", docLines(`
encSFP8AVX512 encodes n values (a multiple of 16) as SFP8 and reports whether every
|float32(w·inv)| stayed within limit (else the codes are incomplete). Reference: package
quantize's SFP8 encoder (gemma.cpp's), bytes equal; per element:

	y := float32(w·inv); a := min(|y|, 1.875) as bits; t := a>>17   (bf16 truncation, its
		mantissa LSB dropped: exponent·64 + 6 mantissa bits)
	t ≥ 119·64+60: 3 mantissa bits, else 2, rounded to nearest even by t' = (t + half−1 + lsb) >> drop
		(the carry reaching the exponent)
	code (3 bits) = 0x40 + t' − 960; (2 bits) = 0 below t' = 416, 1 at 416 (the lifted smallest
		value), 0x40 at 480, else t' − 416; the sign of y on nonzero codes
	ŵ = the code's value (t'<<20 or (code+416)<<21 as bits, signed)·scale`)...)
	p := params("codes", "x", "n", "sums")
	codes, x, n, sums := p[0], p[1], p[2], p[3]
	inv, limit, scale := ZMM(), ZMM(), ZMM()
	VBROADCASTSS(paramAddr("inv"), inv)
	VBROADCASTSS(paramAddr("limit"), limit)
	VBROADCASTSS(paramAddr("scale"), scale)
	cs := broadcastDs(0x7fffffff, 0x3ff00000, 0x80000000, 7676, 1, 7, 3, 416, 896, 64)
	abs, clamp, sign, c7676, one, seven, c3, c416, c896, c64 := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6], cs[7], cs[8], cs[9]
	s := newErrSums()
	ymax, zero := ZMM(), ZMM()
	VPXORQ(ymax, ymax, ymax)
	VPXORQ(zero, zero, zero)
	loop("sf", n, 4, 64, []reg.Register{x}, func() {
		w, y := loadScaled(x, VMULPS, inv)
		a, sg := absSign(y, abs, sign)
		VPMAXUD(a, ymax, ymax)
		VPMINUD(clamp, a, a)
		t := ZMM()
		VPSRLD(U8(17), a, t)
		k3bits := K()
		VPCMPUD(U8(5), c7676, t, k3bits) // t ≥ 119·64+60: three mantissa bits
		// t2, t3: t rounded to 2 and 3 mantissa bits.
		t2, t3 := ZMM(), ZMM()
		for _, r := range []struct {
			dst  reg.VecVirtual
			drop int
			add  reg.VecVirtual
		}{{t2, 4, seven}, {t3, 3, c3}} {
			VPSRLD(U8(r.drop), t, r.dst)
			VPANDD(one, r.dst, r.dst)
			VPADDD(r.dst, t, r.dst)
			VPADDD(r.add, r.dst, r.dst)
			VPSRLD(U8(r.drop), r.dst, r.dst)
		}
		c2 := ZMM()
		VPSUBD(c416, t2, c2)
		VPMAXSD(zero, c2, c2)
		VPMINSD(c64, c2, c2)
		kLift := K()
		VPCMPEQD(c416, t2, kLift)
		VMOVDQA32(one, kLift, c2)
		c8, code := ZMM(), ZMM()
		VPSUBD(c896, t3, c8)
		VPBLENDMD(c8, c2, k3bits, code)
		nz := K()
		VPTESTMD(code, code, nz)
		sb := ZMM()
		VPSRLD(U8(24), sg, sb)
		VPORD(sb, code, nz, code)
		VPMOVDB(code, Mem{Base: codes})
		v, v3 := ZMM(), ZMM()
		VPADDD(c416, c2, v)
		VPSLLD(U8(21), v, v)
		VPSLLD(U8(20), t3, v3)
		VMOVDQA32(v3, k3bits, v)
		VMOVDQA32_Z(v, nz, v)
		VPORD(sg, v, nz, v)
		VMULPS(scale, v, v)
		s.add(w, v)
		ADDQ(U8(16), codes)
	})

	over := K()
	VPCMPUD(U8(6), limit, ymax, over) // a lane's max |y| above limit
	KORTESTW(over, over)
	ok := GP8()
	SETEQ(ok)
	Store(ok, ReturnIndex(0))
	s.store(sums)
	VZEROUPPER()
	RET()
}

func maxAbsBits() {
	routine("maxAbsBitsAVX512", "func(x *float32, n int) uint32", "maxAbsBitsAVX512 is, for n a multiple of 64 (reference: MaxAbsBits's loop):", "",
		"\tfor i := range n { m = max(m, float32bits(x[i]) & 0x7fffffff) }")
	xn := params("x", "n")
	x := xn[0]
	abs := broadcastD(0x7fffffff)
	acc := []reg.VecVirtual{ZMM(), ZMM()}
	for _, a := range acc {
		VPXORQ(a, a, a)
	}
	loop("ma", xn[1], 6, 256, []reg.Register{x}, func() {
		zs := []reg.VecVirtual{ZMM(), ZMM(), ZMM(), ZMM()}
		for i, z := range zs {
			VPANDD(Mem{Base: x, Disp: 64 * i}, abs, z)
		}
		for i, z := range zs {
			VPMAXUD(z, acc[i%2], acc[i%2])
		}
	})
	VPMAXUD(acc[1], acc[0], acc[0])
	r := GP32()
	VMOVD(umaxZ(acc[0]), r)
	Store(r, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func encFP8() {
	routine("encFP8AVX512", "func(codes *byte, x *float32, n int, s float32, sums *[3]float64)", docLines(`
encFP8AVX512 encodes n values (a multiple of 16) as E4M3 codes of w/s (reference: package
quantize's E4M3 encoder, bytes equal); per element:

	y := w/s; a := |y| as bits
	a ≥ 448: code 0x7E; a < 2⁻⁶: the subnormal code rne(|y|·512)
	else code = ((a + 0x7FFFF + lsb) >> 20) − 960   (ties to even on the 20 dropped bits, the
		carry reaching the exponent)
	the sign of y on every code; ŵ = value(code)·s`)...)
	p := params("codes", "x", "n", "sums")
	codes, x, n, sums := p[0], p[1], p[2], p[3]
	sc := ZMM()
	VBROADCASTSS(paramAddr("s"), sc)
	cs := broadcastDs(0x7fffffff, 0x80000000, 0x43e00000, 0x3c800000, 0x44000000, 0x3b000000, 0x7ffff, 1, 960, 0x7e)
	abs, sign, c448, minNormal, c512, c2m9, half, one, c960, c7e := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6], cs[7], cs[8], cs[9]
	s := newErrSums()
	loop("f8", n, 4, 64, []reg.Register{x}, func() {
		w, y := loadScaled(x, VDIVPS, sc)
		a, sg := absSign(y, abs, sign)
		// Normal: the rounded bits v, the code c.
		lsb, v, c := ZMM(), ZMM(), ZMM()
		VPSRLD(U8(20), a, lsb)
		VPANDD(one, lsb, lsb)
		VPADDD(lsb, a, v)
		VPADDD(half, v, v)
		VPSRLD(U8(20), v, c)
		VPSLLD(U8(20), c, v)
		VPSUBD(c960, c, c)
		// Subnormal: q = rne(|y|·512), value q·2⁻⁹.
		sub := K()
		VPCMPUD(U8(1), minNormal, a, sub)
		qf, qi := ZMM(), ZMM()
		VMULPS(c512, a, qf)
		VRNDSCALEPS(U8(0), qf, qf)
		VCVTPS2DQ(qf, qi)
		VMULPS(c2m9, qf, qf)
		VMOVDQA32(qi, sub, c)
		VMOVDQA32(qf, sub, v)
		// Saturation.
		sat := K()
		VPCMPUD(U8(5), c448, a, sat)
		VMOVDQA32(c7e, sat, c)
		VMOVDQA32(c448, sat, v)
		sb := ZMM()
		VPSRLD(U8(24), sg, sb)
		VPORD(sb, c, c)
		VPMOVDB(c, Mem{Base: codes})
		VPORD(sg, v, v)
		VMULPS(sc, v, v)
		s.add(w, v)
		ADDQ(U8(16), codes)
	})
	s.store(sums)
	VZEROUPPER()
	RET()
}

// loadScaled loads the 16 float32 at x into w and sets y to w op s (w·s or w/s).
func loadScaled(x reg.Register, op inst, s reg.VecVirtual) (w, y reg.VecVirtual) {
	w, y = ZMM(), ZMM()
	VMOVUPS(Mem{Base: x}, w)
	op(s, w, y)
	return w, y
}

// absSign splits the lanes of y into |y| and the sign bit with the masks abs and sign.
func absSign(y, abs, sign reg.VecVirtual) (a, sg reg.VecVirtual) {
	a, sg = ZMM(), ZMM()
	VPANDD(abs, y, a)
	VPANDD(sign, y, sg)
	return a, sg
}

// docLines splits a raw-string doc comment into its lines (the first newline dropped).
func docLines(doc string) []string { return strings.Split(strings.TrimPrefix(doc, "\n"), "\n") }
