package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The k-quant and IQ4_NL kernels (runtime/kernel/kquant.go is their Go reference, actquant.go
// the activation layouts): ModeInt8 row kernels (AVX-512 VNNI) of every k-quant and IQ4_NL,
// the exact row kernel of IQ4_NL and the row decoders of all of them (AVX-512). The types
// with sub-blocks of 16 (Q6_K, Q3_K, Q2_K) are in kquant16.go.

// kpfd is the software prefetch distance of the weight streams in bytes (as the Q4_0 kernels).
const kpfd = 8192

// kvaluesIQ4NL is IQ4_NL's grid (format.KValuesIQ4NL).
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func genKquant() {
	iq4Tables()
	mvIQ4NLVNNI()
	mvIQ4NLAVX512()
	dqIQ4NLAVX512()
	mvQ45KVNNI(false)
	mvQ45KVNNI(true)
	dqQ45KAVX512(false)
	dqQ45KAVX512(true)
	for _, t := range []k16{q6k(), q3k(), q2k()} {
		t.mvVNNI()
		t.dqAVX512()
	}
}

var iq4U, iq4S, perm4, permK4, permK6, dup2, kShift, kShift3, kPermDM, kPermDB Mem

// iq4Tables emits the constants: the IQ4_NL grid as signed bytes and offset by 128 (unsigned),
// and the VPERMPS index vectors.
func iq4Tables() {
	iq4S = GLOBL("iq4s", RODATA|NOPTR)
	for i, v := range kvaluesIQ4NL {
		DATA(i, U8(uint8(v)))
	}
	iq4U = GLOBL("iq4u", RODATA|NOPTR)
	for i, v := range kvaluesIQ4NL {
		DATA(i, U8(uint8(int(v)+128)))
	}
	words := func(name string, idx func(l int) int, n int) Mem {
		m := GLOBL(name, RODATA|NOPTR)
		for l := range n {
			DATA(4*l, U32(uint32(idx(l))))
		}
		return m
	}
	perm4 = words("perm4", func(l int) int { return l / 4 }, 16)
	// Q4_K: f = [sc0–3, m0–3, sc4–7, m4–7] (sub-block s's scale in lane s, or s+4 for s ≥ 4).
	// permK4 holds four index vectors: vector 2g+h spreads the scales of sub-blocks 4g+h and
	// 4g+2+h over eight lanes each.
	lane := func(s int) int {
		if s >= 4 {
			return s + 4
		}
		return s
	}
	permK4 = words("permk4", func(l int) int { v, i := l/16, l%16; return lane(4*(v/2) + v%2 + 2*(i/8)) }, 64)
	kShift = words("kshift", func(l int) int { return 4 * (l % 2) }, 16)  // dword 1: u2>>4
	kShift3 = words("kshift3", func(l int) int { return 2 * (l % 4) }, 4) // Q3_K: dword i >> 2i
	kPermDM = words("kpermdm", func(l int) int { return l / 4 % 2 }, 16)
	kPermDB = words("kpermdb", func(l int) int { return l%4 + 4*(l/8) }, 16)
	// permK6 holds four index vectors: vector v spreads floats 4v … 4v+3 over four lanes each.
	permK6 = words("permk6", func(l int) int { return l / 4 }, 64)
	dup2 = words("dup2", func(l int) int { return l / 2 }, 16)
}

// vecConst loads 16 dwords from m+off into a new ZMM register.
func vecConst(m Mem, off int) reg.VecVirtual {
	z := ZMM()
	VMOVDQU32(m.Offset(off), z)
	return z
}

// nibbles splits the 64 code bytes in t into low nibbles (t) and high nibbles (returned).
func nibbles(t, mask reg.VecVirtual) reg.VecVirtual {
	hi := ZMM()
	VPSRLW(U8(4), t, hi)
	VPANDD(mask, t, t)
	VPANDD(mask, hi, hi)
	return hi
}

// reduceRow adds the lanes of acc and stores the sum at y, then advances y.
func storeSum(acc reg.VecVirtual, y reg.Register) {
	s := reduceZ(acc)
	VMOVSS(s, Mem{Base: y})
	ADDQ(U8(4), y)
}

func mvIQ4NLVNNI() {
	TEXT("mvIQ4NLVNNI", NOSPLIT, "func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)")
	Pragma("noescape")
	Doc("mvIQ4NLVNNI is the IQ4_NL ModeInt8 kernel over the Q4_0 activation layout (actquant.go): per",
		"step k (4 blocks, 64 code bytes at codes+r·stride+64k), with u(n) = kvalues[n]+128 and the",
		"layout's corr (−8·Σq per lane) scaled by 16 to −128·Σq:",
		"",
		"\tlo, hi := u(codes[…]&15), u(codes[…]>>4)",
		"\tacc := 16·corr[16k:16k+16] + VPDPBUSD(lo, xa[128k:]) + VPDPBUSD(hi, xa[128k+64:])",
		"\tsum += float32(acc) · (f16(scales[r·nb+4k+l/4]) · dl[16k+l])   (per lane l)",
		"",
		"so acc is lane l's exact Σ kvalues·q (reference: dotRowInt8K).")
	y := Load(Param("y"), GP64())
	codes := Load(Param("codes"), GP64())
	stride := Load(Param("stride"), GP64())
	scales := Load(Param("scales"), GP64())
	nb := Load(Param("nb"), GP64())
	xa := Load(Param("xa"), GP64())
	corr := Load(Param("corr"), GP64())
	dl := Load(Param("dl"), GP64())
	rows := Load(Param("rows"), GP64())
	steps := Load(Param("steps"), GP64())
	SHLQ(U8(6), steps) // code bytes per row covered
	SHLQ(U8(1), nb)    // scale bytes per row
	mask := broadcastD(0x0f0f0f0f)
	tab := ZMM()
	VBROADCASTI32X4(iq4U, tab)
	p4 := vecConst(perm4, 0)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	acc := ZMM()
	VXORPS(acc, acc, acc)
	k, sp := GP64(), GP64()
	XORQ(k, k)
	MOVQ(scales, sp)

	Label("step")
	PREFETCHT0(Mem{Base: codes, Index: k, Scale: 1, Disp: kpfd})
	lo := ZMM()
	VMOVDQU64(Mem{Base: codes, Index: k, Scale: 1}, lo)
	hi := nibbles(lo, mask)
	VPSHUFB(lo, tab, lo)
	VPSHUFB(hi, tab, hi)
	t := ZMM()
	VMOVDQU32(Mem{Base: corr, Index: k, Scale: 1}, t)
	VPSLLD(U8(4), t, t)
	VPDPBUSD(Mem{Base: xa, Index: k, Scale: 2}, lo, t)
	VPDPBUSD(Mem{Base: xa, Index: k, Scale: 2, Disp: 64}, hi, t)
	VCVTDQ2PS(t, t)
	d4, s := XMM(), ZMM()
	VCVTPH2PS(Mem{Base: sp}, d4)
	VPERMPS(d4.AsZ(), p4, s)
	VMULPS(Mem{Base: dl, Index: k, Scale: 1}, s, s)
	VFMADD231PS(s, t, acc)
	ADDQ(U8(8), sp)
	ADDQ(U8(64), k)
	CMPQ(k, steps)
	JB(LabelRef("step"))

	storeSum(acc, y)
	ADDQ(stride, codes)
	ADDQ(nb, scales)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// iq4Block decodes IQ4_NL block b (16 code bytes at codes, f16 scale at scales) into two
// ZMM registers of float32 values d·kvalues[n], elements 0–15 and 16–31.
func iq4Block(codes, scales reg.Register, mask, tab reg.VecVirtual) (reg.VecVirtual, reg.VecVirtual) {
	lo, hi := XMM(), XMM()
	VMOVDQU(Mem{Base: codes}, lo)
	VPSRLW(U8(4), lo, hi)
	VPAND(mask.AsX(), lo, lo)
	VPAND(mask.AsX(), hi, hi)
	VPSHUFB(lo, tab.AsX(), lo)
	VPSHUFB(hi, tab.AsX(), hi)
	v0, v1 := ZMM(), ZMM()
	VPMOVSXBD(lo, v0)
	VPMOVSXBD(hi, v1)
	VCVTDQ2PS(v0, v0)
	VCVTDQ2PS(v1, v1)
	h, d := YMM(), ZMM()
	VPBROADCASTW(Mem{Base: scales}, h)
	VCVTPH2PS(h, d)
	VMULPS(d, v0, v0)
	VMULPS(d, v1, v1)
	return v0, v1
}

func mvIQ4NLAVX512() {
	TEXT("mvIQ4NLAVX512", NOSPLIT, "func(y *float32, codes, scales *byte, x *float32, rows, nb int)")
	Pragma("noescape")
	Doc("mvIQ4NLAVX512 is the exact IQ4_NL row kernel (rows of nb blocks, codes and scales",
		"contiguous from row 0):",
		"",
		"\tfor b := range nb { d := f16(scales[r·nb+b]); for j := range 16 {",
		"\t\tsum += float32(d·kvalues[codes[16(r·nb+b)+j]&15])·x[32b+j]",
		"\t\tsum += float32(d·kvalues[codes[16(r·nb+b)+j]>>4])·x[32b+16+j] } }",
		"\ty[r] = sum   (in two accumulators of 16 lanes)")
	p := params("y", "codes", "scales", "x", "rows", "nb")
	y, codes, scales, x, rows, nb := p[0], p[1], p[2], p[3], p[4], p[5]
	mask := broadcastD(0x0f0f0f0f)
	tab := XMM()
	VMOVDQU(iq4S, tab)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	TESTQ(nb, nb)
	JZ(LabelRef("done"))

	Label("row")
	acc := zeroVecs(avx512, 2)
	xp, cnt := GP64(), GP64()
	MOVQ(x, xp)
	MOVQ(nb, cnt)

	Label("block")
	PREFETCHT0(Mem{Base: codes, Disp: kpfd})
	v0, v1 := iq4Block(codes, scales, mask, tab)
	VFMADD231PS(Mem{Base: xp}, v0, acc[0])
	VFMADD231PS(Mem{Base: xp, Disp: 64}, v1, acc[1])
	advance("block", cnt, []reg.Register{codes, scales, xp}, []int{16, 2, 128})

	VADDPS(acc[1], acc[0], acc[0])
	storeSum(acc[0], y)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// dequantLoop emits a block decoder func(dst *float32, codes, scales *byte, nb int): setup
// once, then body per block, which advances codes by cb, scales by sb and dst by 4·n bytes.
func dequantLoop(name string, doc []string, cb, sb, n int, setup func() any, body func(st any, dst, codes, scales reg.Register)) {
	TEXT(name, NOSPLIT, "func(dst *float32, codes, scales *byte, nb int)")
	Pragma("noescape")
	Doc(doc...)
	dst := Load(Param("dst"), GP64())
	codes := Load(Param("codes"), GP64())
	scales := Load(Param("scales"), GP64())
	nb := Load(Param("nb"), GP64())
	st := setup()
	TESTQ(nb, nb)
	JZ(LabelRef("done"))

	Label("block")
	body(st, dst, codes, scales)
	ADDQ(U32(cb), codes)
	ADDQ(U32(sb), scales)
	ADDQ(U32(4*n), dst)
	DECQ(nb)
	JNZ(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

func dqIQ4NLAVX512() {
	dequantLoop("dqIQ4NLAVX512", []string{"dqIQ4NLAVX512 decodes nb IQ4_NL blocks (format.DecodeGGMLBlock, bit-exact):",
		"",
		"\tdst[32b+j], dst[32b+16+j] = d_b·kvalues[codes[16b+j]&15], d_b·kvalues[codes[16b+j]>>4]"},
		16, 2, 32, func() any {
			tab := XMM()
			VMOVDQU(iq4S, tab)
			return [2]reg.VecVirtual{broadcastD(0x0f0f0f0f), tab}
		}, func(st any, dst, codes, scales reg.Register) {
			c := st.([2]reg.VecVirtual)
			v0, v1 := iq4Block(codes, scales, c[0], c[1])
			VMOVUPS(v0, Mem{Base: dst})
			VMOVUPS(v1, Mem{Base: dst, Disp: 64})
		})
}

// mvQ45KVNNI emits the Q4_K (q5 false) or Q5_K ModeInt8 kernel: the two share the scale
// fields and the K4 activation layout; Q5_K's codes plane starts with qh[32], whose bit 2g+h
// of byte l adds 16 to the level of element 64g+32h+l.
func mvQ45KVNNI(q5 bool) {
	name, codeBytes, qsOff, lines := "mvQ4KVNNI", 128, 0, 2
	doc := []string{"mvQ4KVNNI is the Q4_K ModeInt8 kernel over the K4 activation layout (actquant.go): xa holds",
		"each super-block's quantized activations in the order of its code nibbles, dq the block",
		"scales d_b and qs the block sums float32(Σ_{j∈b} q_j). Rows are contiguous from row 0 (128",
		"code bytes and 16 scale bytes d, dmin, scales[12] per super-block). Per super-block S of",
		"row r, with sc_s, m_s the 6-bit scales and mins (llama.cpp's get_scale_min_k4), b = 8S+s:",
		"",
		"\tfor s := range 8 {",
		"\t\tis := Σ_{j∈s} nibble_j·q_j                                  (VPDPBUSD, in 8 lanes)",
		"\t\tsum  += float32(is) · float32(float32(d·sc_s)·dq[b])          (per lane)",
		"\t\tmins += qs[b] · float32(float32(dmin·m_s)·dq[b]) }",
		"\ty[r] = sum − mins"}
	if q5 {
		name, codeBytes, qsOff, lines = "mvQ5KVNNI", 160, 32, 3
		doc = []string{"mvQ5KVNNI is the Q5_K ModeInt8 kernel over the K4 activation layout (actquant.go), as",
			"mvQ4KVNNI with 160 code bytes per super-block (qh[32], then qs[128] as Q4_K's) and the",
			"5-bit levels level_j = nibble_j + 16·(qh[l]>>(2g+h)&1) of element j = 64g+32h+l:",
			"",
			"\tfor s := range 8 {",
			"\t\tis := Σ_{j∈s} level_j·q_j                                   (VPDPBUSD, in 8 lanes)",
			"\t\tsum  += float32(is) · float32(float32(d·sc_s)·dq[b])          (per lane)",
			"\t\tmins += qs[b] · float32(float32(dmin·m_s)·dq[b]) }",
			"\ty[r] = sum − mins"}
	}
	TEXT(name, NOSPLIT, "func(y *float32, codes, scales *byte, xa *int8, dq, qs *float32, rows, nb int)")
	Pragma("noescape")
	Doc(doc...)
	var qs reg.Register
	var kc *q4kConsts
	var pdb, m10 reg.VecVirtual
	var perm []reg.VecVirtual
	var mins reg.VecVirtual
	var kmin reg.OpmaskVirtual
	superRowsVNNI(superRows{codeBytes: codeBytes, scaleBytes: 16, prefetchLines: lines,
		load: func() reg.Register {
			dq := Load(Param("dq"), GP64())
			qs = Load(Param("qs"), GP64())
			return dq
		},
		consts: func() {
			kc = newQ4KConsts()
			pdb = vecConst(kPermDB, 0)
			perm = []reg.VecVirtual{vecConst(permK4, 0), vecConst(permK4, 64), vecConst(permK4, 128), vecConst(permK4, 192)}
			km := GP32()
			kmin = K()
			MOVL(U32(0xf0f0), km) // the lanes of f holding mins
			KMOVW(km, kmin)
			if q5 {
				m10 = broadcastD(0x10101010)
			}
		},
		rowInit: func() {
			mins = ZMM()
			VXORPS(mins, mins, mins)
		},
		body: func(c, scales, xa, dq, o reg.Register, acc reg.VecVirtual) {
			// f = [sc0–3, m0–3, sc4–7, m4–7] as float32 from the 12 bytes u0, u1, u2 at scales+4:
			// sc0–3 = u0&0x3f…, m0–3 = u1&0x3f…, sc4–7 = u2&0x0f… | (u0>>2)&0x30…,
			// m4–7 = (u2>>4)&0x0f… | (u1>>2)&0x30…; times d (sc) and dmin (m).
			f := q4kScales(scales, kc)
			m := ZMM()
			db, q := YMM(), YMM()
			VMOVUPS(Mem{Base: dq, Index: o, Scale: 1}, db)
			VPERMPS(db.AsZ(), pdb, m)
			VMULPS(m, f, f) // · d_b
			VMOVUPS(Mem{Base: qs, Index: o, Scale: 1}, q)
			VPERMPS(q.AsZ(), pdb, m)
			VFMADD231PS(m, f, kmin, mins)

			a, b := ZMM(), ZMM()
			VMOVDQU64(Mem{Base: c, Disp: qsOff}, a)
			VMOVDQU64(Mem{Base: c, Disp: qsOff + 64}, b)
			ah := nibbles(a, kc.m0f)
			bh := nibbles(b, kc.m0f)
			var hb reg.VecVirtual
			if q5 {
				hb = q5kHighBits(c)
			}
			for v, u := range []reg.VecVirtual{a, ah, b, bh} {
				if q5 {
					// Vector v = 2G+h holds, in 32-byte half k, sub-block 4G+2k+h: bit 4G+h of hb.
					highBit(u, hb, 4*(v/2)+v%2, 4, m10)
				}
				i, sv := ZMM(), ZMM()
				VPXORD(i, i, i)
				VPDPBUSD(Mem{Base: xa, Index: o, Scale: 8, Disp: 64 * v}, u, i)
				VCVTDQ2PS(i, i)
				VPERMPS(f, perm[v], sv)
				VFMADD231PS(sv, i, acc)
			}
		},
		rowEnd: func(acc reg.VecVirtual) { VSUBPS(mins, acc, acc) },
	})
}

// q5kHighBits loads Q5_K's qh[32] at codes as hb = [qh, qh>>2] (qh>>2 in the upper 32 bytes,
// as words: the bits that matter stay in their byte).
func q5kHighBits(codes reg.Register) reg.VecVirtual {
	qh, qh2, hb := YMM(), YMM(), ZMM()
	VMOVDQU64(Mem{Base: codes}, qh)
	VPSRLW(U8(2), qh, qh2)
	VINSERTI64X4(U8(1), qh2, qh.AsZ(), hb)
	return hb
}

// highBit ORs bit p of each byte of h into bit k of the same byte of u (m: 1<<k in every byte,
// of u's size). It shifts words: bit p moves within its byte, and m drops what crossed over.
func highBit(u, h reg.Register, p, k int, m reg.Register) {
	t := h
	if p != k {
		if u.Size() == 64 {
			t = ZMM()
		} else {
			t = YMM()
		}
		if p < k {
			VPSLLW(U8(k-p), h, t)
		} else {
			VPSRLW(U8(p-k), h, t)
		}
	}
	VPTERNLOGD(U8(0xf8), m, t, u) // u | (t & m)
}

// superRows describes a k-quant int8 row kernel for superRowsVNNI: per super-block of a row,
// codeBytes code bytes and scaleBytes scale bytes, and 32 bytes of dq (the activation block
// scales of its 8 blocks of 32, indexed by o).
type superRows struct {
	codeBytes, scaleBytes, prefetchLines int
	load                                 func() (dq reg.Register) // the kernel's own arguments after y, codes, scales, xa
	consts                               func()                   // loop-invariant registers
	rowInit                              func()                   // before a row's first super-block
	body                                 func(c, scales, xa, dq, o reg.Register, acc reg.VecVirtual)
	rowEnd                               func(acc reg.VecVirtual) // after its last (nil: nothing)
}

// superRowsVNNI emits the row loop of a k-quant int8 kernel (signature func(y *float32, codes,
// scales *byte, xa *int8, …, rows, nb int)): for each of rows contiguous rows, acc sums
// body over the row's nb super-blocks, then y[r] = Σ lanes of acc.
func superRowsVNNI(k superRows) {
	y := Load(Param("y"), GP64())
	c := Load(Param("codes"), GP64())
	scales := Load(Param("scales"), GP64())
	xa := Load(Param("xa"), GP64())
	dq := k.load()
	rows := Load(Param("rows"), GP64())
	end := Load(Param("nb"), GP64())
	SHLQ(U8(5), end) // 32 bytes of dq per super-block
	k.consts()
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	acc := ZMM()
	VXORPS(acc, acc, acc)
	if k.rowInit != nil {
		k.rowInit()
	}
	o := GP64()
	XORQ(o, o)

	Label("super")
	for i := range k.prefetchLines {
		PREFETCHT0(Mem{Base: c, Disp: kpfd + 64*i})
	}
	k.body(c, scales, xa, dq, o, acc)
	ADDQ(U32(k.codeBytes), c)
	ADDQ(U8(k.scaleBytes), scales)
	ADDQ(U8(32), o)
	CMPQ(o, end)
	JB(LabelRef("super"))

	if k.rowEnd != nil {
		k.rowEnd(acc)
	}
	storeSum(acc, y)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// q4kScales computes, for the Q4_K super-block whose scale fields are at scales, the 16
// float32 f = [float32(d·sc_0…3), float32(dmin·m_0…3), float32(d·sc_4…7), float32(dmin·m_4…7)]
// (sc_s, m_s the 6-bit scales and mins: see mvQ4KVNNI).
func q4kScales(scales reg.Register, c *q4kConsts) reg.VecVirtual {
	lo, u2, t := XMM(), XMM(), XMM()
	VMOVQ(Mem{Base: scales, Disp: 4}, lo)
	VPBROADCASTD(Mem{Base: scales, Disp: 12}, u2)
	VPSRLVD(c.sh.AsX(), u2, u2)
	VPAND(c.m0f.AsX(), u2, u2)
	VPSRLD(U8(2), lo, t)
	VPAND(c.m30.AsX(), t, t)
	VPOR(t, u2, u2)
	VPAND(c.m3f.AsX(), lo, lo)
	VPUNPCKLQDQ(u2, lo, lo)
	f := ZMM()
	VPMOVZXBD(lo, f)
	VCVTDQ2PS(f, f)
	dd, m := XMM(), ZMM()
	VMOVD(Mem{Base: scales}, dd)
	VCVTPH2PS(dd, dd)
	VPERMPS(dd.AsZ(), c.pdm, m)
	VMULPS(m, f, f)
	return f
}

type q4kConsts struct{ m0f, m3f, m30, sh, pdm reg.VecVirtual }

func newQ4KConsts() *q4kConsts {
	return &q4kConsts{broadcastD(0x0f0f0f0f), broadcastD(0x3f3f3f3f), broadcastD(0x30303030), vecConst(kShift, 0), vecConst(kPermDM, 0)}
}

// dqQ45KAVX512 emits the Q4_K (q5 false) or Q5_K super-block decoder (the high bits of Q5_K
// as in mvQ45KVNNI).
func dqQ45KAVX512(q5 bool) {
	type state struct {
		c   *q4kConsts
		m10 reg.VecVirtual
		tmp Mem
	}
	name, codeBytes, qsOff := "dqQ4KAVX512", 128, 0
	doc := []string{"dqQ4KAVX512 decodes nb Q4_K super-blocks (format.DecodeGGMLBlock, bit-exact): for sub-block",
		"s = 2g+h of super-block S (g < 4, h the nibble), with f as in mvQ4KVNNI,",
		"",
		"\tdst[256S+32s+l] = float32(float32(d·sc_s)·nibble_h(codes[128S+32g+l])) − float32(dmin·m_s)   (l < 32)"}
	if q5 {
		name, codeBytes, qsOff = "dqQ5KAVX512", 160, 32
		doc = []string{"dqQ5KAVX512 decodes nb Q5_K super-blocks (format.DecodeGGMLBlock, bit-exact): for sub-block",
			"s = 2g+h of super-block S (g < 4, h the nibble), with f as in mvQ4KVNNI and qh = codes[160S:],",
			"",
			"\tlevel := nibble_h(codes[160S+32+32g+l]) + 16·(qh[l]>>s&1)",
			"\tdst[256S+32s+l] = float32(float32(d·sc_s)·level) − float32(dmin·m_s)   (l < 32)"}
	}
	dequantLoop(name, doc, codeBytes, 16, 256, func() any {
		st := state{c: newQ4KConsts(), tmp: AllocLocal(64)}
		if q5 {
			st.m10 = broadcastD(0x10101010)
		}
		return st
	},
		func(sti any, dst, codes, scales reg.Register) {
			st := sti.(state)
			c, tmp := st.c, st.tmp
			VMOVUPS(q4kScales(scales, c), tmp)
			var qh reg.VecVirtual
			if q5 {
				qh = YMM()
				VMOVDQU64(Mem{Base: codes}, qh)
			}
			for g := range 4 {
				q, qh4 := YMM(), YMM()
				VMOVDQU(Mem{Base: codes, Disp: qsOff + 32*g}, q)
				VPSRLW(U8(4), q, qh4)
				VPAND(c.m0f.AsY(), q, q)
				VPAND(c.m0f.AsY(), qh4, qh4)
				for h, v := range []reg.VecVirtual{q, qh4} {
					s := 2*g + h
					if q5 {
						highBit(v, qh, s, 4, st.m10.AsY())
					}
					lane := s // f's lane of sub-block s
					if s >= 4 {
						lane = s + 4
					}
					sc, mn := ZMM(), ZMM()
					VBROADCASTSS(tmp.Offset(4*lane), sc)
					VBROADCASTSS(tmp.Offset(4*lane+16), mn)
					up := XMM()
					VEXTRACTI128(U8(1), v, up)
					for k, part := range []reg.Register{v.AsX(), up} {
						z := ZMM()
						VPMOVZXBD(part, z)
						VCVTDQ2PS(z, z)
						VMULPS(sc, z, z)
						VSUBPS(mn, z, z)
						VMOVUPS(z, Mem{Base: dst, Disp: 4 * (32*s + 16*k)})
					}
				}
			}
		})
}
