package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The k-quants with sub-blocks of 16 (Q6_K, Q3_K, Q2_K): one int8 row kernel and one decoder
// shape, parameterised by the type's scale and code unpacking. Each super-block has 16 scales
// (one per 16 elements, 4 VPDPBUSD lanes) and, per half n of its 256 elements, two vectors of
// 64 unsigned codes u_j = level_j + off in element order; the int8 kernels read the K6
// activation layout (xa = q, corr[l] = −32·Σ_{j<4} q[4l+j]).

// k16 describes one such type.
type k16 struct {
	name                  string // "Q6K": the routines are mv<name>VNNI and dq<name>AVX512
	mvDoc, dqDoc          []string
	codeBytes, scaleBytes int
	lines                 int // cache lines of codes prefetched per super-block
	off                   int // u_j − level_j: 32, 4 or 0 (a power of two dividing 32)
	mins                  bool
	// consts emits the loop-invariant registers; scales the sub-block factors of the
	// super-block at scales: sd = float32(d·sc_s) and (mins) md = float32(dmin·m_s); codes
	// the unsigned codes of half n of the super-block at codes (lo: elements 128n … 128n+63,
	// hi: the next 64).
	consts func() any
	scales func(st any, scales reg.Register) (sd, md reg.VecVirtual)
	codes  func(st any, codes reg.Register, n int) (lo, hi reg.VecVirtual)
}

func (t k16) mvVNNI() {
	name := "mv" + t.name + "VNNI"
	TEXT(name, NOSPLIT, "func(y *float32, codes, scales *byte, xa *int8, corr *int32, dq *float32, rows, nb int)")
	Pragma("noescape")
	Doc(append([]string{name + " is the " + t.name[:2] + "_K ModeInt8 kernel over the K6 activation layout (actquant.go): xa = q,",
		"corr[l] = −32·Σ_{j<4} q[4l+j], dq the block scales d_b. Rows are contiguous from row 0"}, t.mvDoc...)...)
	var corr reg.Register
	var dup, mins, inv32 reg.VecVirtual
	var perm []reg.VecVirtual
	var st any
	superRowsVNNI(superRows{codeBytes: t.codeBytes, scaleBytes: t.scaleBytes, prefetchLines: t.lines,
		load: func() reg.Register {
			corr = Load(Param("corr"), GP64())
			return Load(Param("dq"), GP64())
		},
		consts: func() {
			st = t.consts()
			perm = []reg.VecVirtual{vecConst(permK6, 0), vecConst(permK6, 64), vecConst(permK6, 128), vecConst(permK6, 192)}
			dup = vecConst(dup2, 0)
			if t.mins {
				inv32 = broadcastD(0x3d000000) // 1/32: corr/32 = −Σq
			}
		},
		rowInit: func() {
			if t.mins {
				mins = ZMM()
				VXORPS(mins, mins, mins)
			}
		},
		body: func(c, scales, xa, dq, o reg.Register, acc reg.VecVirtual) {
			sd, md := t.scales(st, scales)
			db, db16 := YMM(), ZMM()
			VMOVUPS(Mem{Base: dq, Index: o, Scale: 1}, db)
			VPERMPS(db.AsZ(), dup, db16)
			VMULPS(db16, sd, sd)
			if t.mins {
				VMULPS(db16, md, md)
			}
			for n := range 2 {
				lo, hi := t.codes(st, c, n)
				for half, u := range []reg.VecVirtual{lo, hi} {
					off := 128*n + 64*half
					cm := Mem{Base: corr, Index: o, Scale: 8, Disp: off}
					i, sv := ZMM(), ZMM()
					switch t.off {
					case 32:
						VMOVDQU32(cm, i)
					case 0:
						VPXORD(i, i, i)
					default: // corr·off/32
						VPSRAD(U8(5-log2(t.off)), cm, i)
					}
					VPDPBUSD(Mem{Base: xa, Index: o, Scale: 8, Disp: off}, u, i)
					VCVTDQ2PS(i, i)
					VPERMPS(sd, perm[2*n+half], sv)
					VFMADD231PS(sv, i, acc)
					if t.mins {
						qs, mv := ZMM(), ZMM()
						VCVTDQ2PS(cm, qs)
						VPERMPS(md, perm[2*n+half], mv)
						VFMADD231PS(mv, qs, mins)
					}
				}
			}
		},
		rowEnd: func(acc reg.VecVirtual) {
			if t.mins {
				VFMADD231PS(inv32, mins, acc)
			}
		},
	})
}

func (t k16) dqAVX512() {
	type state struct {
		st  any
		off reg.VecVirtual
		tmp Mem
	}
	name := "dq" + t.name + "AVX512"
	doc := append([]string{name + " decodes nb " + t.name[:2] + "_K super-blocks (format.DecodeGGMLBlock, bit-exact): with"}, t.dqDoc...)
	dequantLoop(name, doc, t.codeBytes, t.scaleBytes, 256, func() any {
		size := 64 // sd, and md after it
		if t.mins {
			size = 128
		}
		s := state{st: t.consts(), tmp: AllocLocal(size)}
		if t.off != 0 {
			s.off = broadcastD(uint32(t.off))
		}
		return s
	}, func(sti any, dst, codes, scales reg.Register) {
		s := sti.(state)
		sd, md := t.scales(s.st, scales)
		VMOVUPS(sd, s.tmp)
		if t.mins {
			VMOVUPS(md, s.tmp.Offset(64))
		}
		for n := range 2 {
			lo, hi := t.codes(s.st, codes, n)
			for half, u := range []reg.VecVirtual{lo, hi} {
				for k := range 4 {
					sb := 8*n + 4*half + k
					x, z, sc := XMM(), ZMM(), ZMM()
					VEXTRACTI32X4(U8(k), u, x)
					VPMOVZXBD(x, z)
					if t.off != 0 {
						VPSUBD(s.off, z, z)
					}
					VCVTDQ2PS(z, z)
					VBROADCASTSS(s.tmp.Offset(4*sb), sc)
					VMULPS(sc, z, z)
					if t.mins {
						mn := ZMM()
						VBROADCASTSS(s.tmp.Offset(64+4*sb), mn)
						VSUBPS(mn, z, z)
					}
					VMOVUPS(z, Mem{Base: dst, Disp: 4 * 16 * sb})
				}
			}
		}
	})
}

// f16Times multiplies the 16 float32 of v by the f16 at m.
func f16Times(m Mem, v reg.VecVirtual) {
	h, d := YMM(), ZMM()
	VPBROADCASTW(m, h)
	VCVTPH2PS(h, d)
	VMULPS(d, v, v)
}

func q6k() k16 {
	type consts struct{ m0f, m30 reg.VecVirtual }
	return k16{name: "Q6K", codeBytes: 192, scaleBytes: 18, lines: 3, off: 32,
		mvDoc: []string{"(ql, qh: 192 code bytes; scales[16], d: 18 scale bytes per super-block). Per super-block",
			"S of row r, with u_j = level_j+32 the unsigned 6-bit code and b = 8S+s/2:",
			"",
			"\tfor s := range 16 {",
			"\t\tis := corr… + Σ_{j∈s} u_j·q_j = Σ_{j∈s} level_j·q_j          (VPDPBUSD, in 4 lanes)",
			"\t\tsum += float32(is) · float32(float32(d·int8(scales[s]))·dq[b]) }   (per lane)",
			"\ty[r] = sum"},
		dqDoc: []string{"level_j the signed 6-bit code of element j (as mvQ6KVNNI unpacks it),",
			"",
			"\tdst[256S+j] = float32(d·int8(scales[18S+j/16])) · level_j   (j < 256)"},
		consts: func() any { return consts{broadcastD(0x0f0f0f0f), broadcastD(0x30303030)} },
		scales: func(_ any, scales reg.Register) (sd, _ reg.VecVirtual) {
			sd = ZMM()
			VPMOVSXBD(Mem{Base: scales}, sd)
			VCVTDQ2PS(sd, sd)
			f16Times(Mem{Base: scales, Disp: 16}, sd) // float32(d·sc_s)
			return sd, nil
		},
		codes: func(st any, codes reg.Register, n int) (lo, hi reg.VecVirtual) {
			c := st.(consts)
			return q6kCodes(codes, n, c.m0f, c.m30)
		},
	}
}

// q6kCodes unpacks half n of the Q6_K super-block at codes (ql at +0, qh at +128) into the
// unsigned 6-bit codes (level+32) of its elements 128n … 128n+63 (lo) and 128n+64 … 128n+127
// (hi), in element order.
func q6kCodes(codes reg.Register, n int, m0f, m30 reg.VecVirtual) (lo, hi reg.VecVirtual) {
	ql := ZMM()
	VMOVDQU64(Mem{Base: codes, Disp: 64 * n}, ql)
	hb := pairShift(Mem{Base: codes, Disp: 128 + 32*n}, 2)
	// lo: ql&0x0f | (hb<<4)&0x30; hi: (ql>>4)&0x0f | hb&0x30.
	t := ZMM()
	lo, hi = ZMM(), ZMM()
	VPSLLW(U8(4), hb, t)
	VPANDD(m30, t, t)
	VPANDD(m0f, ql, lo)
	VPORD(t, lo, lo)
	VPSRLW(U8(4), ql, hi)
	VPANDD(m0f, hi, hi)
	VPANDD(m30, hb, t)
	VPORD(t, hi, hi)
	return lo, hi
}

// pairShift loads the 32 bytes at m as [b, b>>k] (a word shift: the low 8−k bits of each
// byte are its own).
func pairShift(m Mem, k int) reg.VecVirtual {
	b, b2, z := YMM(), YMM(), ZMM()
	VMOVDQU64(m, b)
	VPSRLW(U8(k), b, b2)
	VINSERTI64X4(U8(1), b2, b.AsZ(), z)
	return z
}

// crumbs splits the 2-bit codes of half n of a Q2_K/Q3_K qs at m (32 bytes, element 128n +
// 32i + l in bits 2i of byte l) into elements 128n … 128n+63 (lo) and the next 64 (hi).
func crumbs(m Mem, m03 reg.VecVirtual) (lo, hi reg.VecVirtual) {
	qq := pairShift(m, 2)
	lo, hi = ZMM(), ZMM()
	VPANDD(m03, qq, lo)
	VPSRLW(U8(4), qq, hi)
	VPANDD(m03, hi, hi)
	return lo, hi
}

func q3k() k16 {
	type consts struct{ m03, m04, m0f, m30, b32, sh reg.VecVirtual }
	var hh reg.VecVirtual
	return k16{name: "Q3K", codeBytes: 96, scaleBytes: 14, lines: 2, off: 4,
		mvDoc: []string{"(hmask, qs: 96 code bytes; scales[12], d: 14 scale bytes per super-block). Per super-block",
			"S of row r, with sc_s the 6-bit scale (unpackQ3), u_j = level_j+4 (the 2-bit code plus",
			"4·the hmask bit) and b = 8S+s/2:",
			"",
			"\tfor s := range 16 {",
			"\t\tis := corr…/8 + Σ_{j∈s} u_j·q_j = Σ_{j∈s} level_j·q_j        (VPDPBUSD, in 4 lanes)",
			"\t\tsum += float32(is) · float32(float32(d·(sc_s−32))·dq[b]) }   (per lane)",
			"\ty[r] = sum"},
		dqDoc: []string{"level_j the signed 3-bit level of element j and sc_s the 6-bit scale (as mvQ3KVNNI),",
			"",
			"\tdst[256S+j] = float32(d·(sc_{j/16}−32)) · level_j   (j < 256)"},
		consts: func() any {
			return consts{broadcastD(0x03030303), broadcastD(0x04040404), broadcastD(0x0f0f0f0f), broadcastD(0x30303030), broadcastD(32), vecConst(kShift3, 0)}
		},
		scales: func(st any, scales reg.Register) (sd, _ reg.VecVirtual) {
			// sc_j = (j < 8 ? b[j]&15 : b[j−8]>>4) | (b[8+j%4]>>(2·(j/4))&3)<<4 (b = the 12 bytes).
			c := st.(consts)
			lo, lo4, h := XMM(), XMM(), XMM()
			VMOVQ(Mem{Base: scales}, lo)
			VPSRLW(U8(4), lo, lo4)
			VPUNPCKLQDQ(lo4, lo, lo)
			VPANDD(c.m0f.AsX(), lo, lo)
			VPBROADCASTD(Mem{Base: scales, Disp: 8}, h)
			VPSRLVD(c.sh.AsX(), h, h)
			VPSLLD(U8(4), h, h)
			VPTERNLOGD(U8(0xf8), c.m30.AsX(), h, lo) // lo | (h & 0x30)
			sd = ZMM()
			VPMOVZXBD(lo, sd)
			VPSUBD(c.b32, sd, sd)
			VCVTDQ2PS(sd, sd)
			f16Times(Mem{Base: scales, Disp: 12}, sd)
			return sd, nil
		},
		codes: func(st any, codes reg.Register, n int) (lo, hi reg.VecVirtual) {
			c := st.(consts)
			if n == 0 {
				hh = pairShift(Mem{Base: codes}, 1) // element 32m+l's bit m of hmask[l], m = 4n+2·half+k
			}
			lo, hi = crumbs(Mem{Base: codes, Disp: 32 + 32*n}, c.m03)
			highBit(lo, hh, 4*n, 2, c.m04)
			highBit(hi, hh, 4*n+2, 2, c.m04)
			return lo, hi
		},
	}
}

func q2k() k16 {
	type consts struct{ m03, m0f reg.VecVirtual }
	return k16{name: "Q2K", codeBytes: 64, scaleBytes: 20, lines: 1, off: 0, mins: true,
		mvDoc: []string{"(qs: 64 code bytes; scales[16], d, dmin: 20 scale bytes per super-block). Per super-block",
			"S of row r, with level_j the 2-bit code, sc_s = scales[s]&15, m_s = scales[s]>>4 and b = 8S+s/2:",
			"",
			"\tfor s := range 16 {",
			"\t\tis := Σ_{j∈s} level_j·q_j                                    (VPDPBUSD, in 4 lanes)",
			"\t\tsum  += float32(is) · float32(float32(d·sc_s)·dq[b])           (per lane)",
			"\t\tmins += float32(corr…) · float32(float32(dmin·m_s)·dq[b]) }   (corr… = −32·Σ_{j∈lane} q_j)",
			"\ty[r] = sum + mins/32"},
		dqDoc: []string{"level_j the 2-bit code of element j, sc_s and m_s as in mvQ2KVNNI,",
			"",
			"\tdst[256S+j] = float32(float32(d·sc_{j/16})·level_j) − float32(dmin·m_{j/16})   (j < 256)"},
		consts: func() any { return consts{broadcastD(0x03030303), broadcastD(0x0f0f0f0f)} },
		scales: func(st any, scales reg.Register) (sd, md reg.VecVirtual) {
			c := st.(consts)
			sd, md = ZMM(), ZMM()
			VPMOVZXBD(Mem{Base: scales}, sd)
			VPSRLD(U8(4), sd, md)
			VPANDD(c.m0f, sd, sd)
			VCVTDQ2PS(sd, sd)
			VCVTDQ2PS(md, md)
			f16Times(Mem{Base: scales, Disp: 16}, sd)
			f16Times(Mem{Base: scales, Disp: 18}, md)
			return sd, md
		},
		codes: func(st any, codes reg.Register, n int) (lo, hi reg.VecVirtual) {
			return crumbs(Mem{Base: codes, Disp: 32 * n}, st.(consts).m03)
		},
	}
}
