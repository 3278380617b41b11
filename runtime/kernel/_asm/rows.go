package main

import (
	"fmt"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
	"math/bits"
)

// elemLoader decodes the weights of an element-wise type for the row loop (rowsElem).
type elemLoader struct {
	name string // symbol infix: F32, F16, …
	bits int    // bits per element
	// doc is the Go loop the routine implements (its doc comment).
	doc []string
	// shape gives, for an instruction set, the vectors of a main-loop step (one accumulator
	// each) and of a tail step (the loader's granule, into the first accumulators); nil: 4
	// and 1.
	shape func(in isa) (unroll, group int)
	// setup emits code run once per call (constants); it returns the state load and the
	// row hooks use.
	setup func(in isa) any
	// rowStart emits code run at the start of every row.
	rowStart func(st any)
	// isas are the instruction sets the loader is written for.
	isas []isa
	// load decodes len(dst) vectors of weights (the ISA's lanes each) from codes into dst
	// (consecutive elements) without moving codes.
	load func(st any, in isa, codes reg.Register, dst []reg.VecVirtual)
	// rowEnd may replace the row sum sum (lane 0) before it is stored.
	rowEnd func(st any, sum reg.Register)
}

// rowsElem generates the row kernel of an element-wise type for instruction set in (L lanes):
//
//	for r := range rows { y[r] = Σ_{c<n} w(codes[r·stride+bits·c/8:])·x[c] }   (n a multiple of G·L)
//
// in steps of U·L columns into U accumulators (U, G: l.shape), then steps of G·L into the
// first G; the accumulators are added pairwise ((a0+a1)+(a2+a3)) and the lanes reduced by
// in.reduce.
func rowsElem(l elemLoader, in isa) {
	name := "mv" + l.name + in.name
	L := in.lanes
	U, G := 4, 1
	if l.shape != nil {
		U, G = l.shape(in)
	}
	doc := append(append([]string{fmt.Sprintf("%s is, for n a multiple of %d:", name, L*G), ""}, l.doc...),
		"", "Reference: dotRowUnscaled (matvec_generic.go), in another summation order.")
	routine(name, "func(y *float32, codes *byte, stride int, x *float32, rows, n int)", doc...)
	a := params("y", "codes", "stride", "x", "rows", "n")
	y, codes, stride, x, rows, n := a[0], a[1], a[2], a[3], a[4], a[5]
	st := l.setup(in)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	if l.rowStart != nil {
		l.rowStart(st)
	}
	acc := zeroVecs(in, U)
	rowStart, xp, cnt := GP64(), GP64(), GP64()
	MOVQ(codes, rowStart)
	MOVQ(x, xp)
	MOVQ(n, cnt)
	SHRQ(U8(log2(U*L)), cnt)
	JZ(LabelRef("tail"))

	Label("big")
	elemStep(l, st, in, codes, xp, acc)
	DECQ(cnt)
	JNZ(LabelRef("big"))

	Label("tail")
	MOVQ(n, cnt)
	ANDQ(U8(U*L-1), cnt)
	SHRQ(U8(log2(G*L)), cnt)
	JZ(LabelRef("rowdone"))

	Label("small")
	elemStep(l, st, in, codes, xp, acc[:G])
	DECQ(cnt)
	JNZ(LabelRef("small"))

	Label("rowdone")
	storeRow(in, acc, st, l.rowEnd, y, codes, rowStart, stride)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// elemStep decodes len(acc) vectors of weights at codes, multiply-adds them with the
// activations at xp into acc and advances both pointers.
func elemStep(l elemLoader, st any, in isa, codes, xp reg.Register, acc []reg.VecVirtual) {
	L := in.lanes
	w := make([]reg.VecVirtual, len(acc))
	for i := range w {
		w[i] = in.vec()
	}
	l.load(st, in, codes, w)
	ADDQ(U32(len(acc)*L*l.bits/8), codes)
	for i := range acc {
		VFMADD231PS(Mem{Base: xp, Disp: 4 * L * i}, w[i], acc[i])
	}
	ADDQ(U32(4*L*len(acc)), xp)
}

// nanRows is the state of the 8-bit float loaders: the codes that mean NaN are looked for
// with a compare and collected per row (AVX-512: in a mask register, AVX2: or-ed into a
// vector register); a row that met one stores NaN.
type nanRows struct {
	in              isa
	orMask, nanCode reg.VecVirtual // orMask nil: compare the codes as they are
	seen            reg.Register   // reg.OpmaskVirtual (AVX-512) or reg.VecVirtual (AVX2)
	consts          []reg.VecVirtual
}

func newNanRows(in isa) *nanRows {
	s := &nanRows{in: in}
	if in.lanes == 16 {
		s.seen = K()
	} else {
		s.seen = YMM()
	}
	return s
}

func (s *nanRows) rowStart() {
	if s.in.lanes == 16 {
		KXORQ(s.seen, s.seen, s.seen)
		return
	}
	VPXOR(s.seen, s.seen, s.seen)
}

// check records, in s.seen, the NaN codes among the nvec·16 bytes at codes (AVX-512).
func (s *nanRows) check(codes reg.Register, nvec int) {
	k := K()
	width := ZMM // 4 vectors: 64 bytes; 1: 16
	if nvec != 4 {
		width = XMM
	}
	b := width()
	VMOVDQU8(Mem{Base: codes}, b)
	if s.orMask != nil {
		VPORD(asWidth(s.orMask, b), b, b)
	}
	VPCMPEQB(asWidth(s.nanCode, b), b, k)
	KORQ(k, s.seen, s.seen)
}

// or32 records, in s.seen, the lanes of the dword compare result m (AVX2).
func (s *nanRows) or32(m reg.VecVirtual) { VPOR(m, s.seen, s.seen) }

func (s *nanRows) rowEnd(sum reg.Register) {
	if s.in.lanes == 16 {
		KORTESTQ(s.seen, s.seen)
	} else {
		VPTEST(s.seen, s.seen)
	}
	JZ(LabelRef("store"))
	r := GP32()
	MOVL(U32(0x7fc00000), r) // a NaN code in the row: the sum is NaN
	VMOVD(r, sum)
	Label("store")
}

// asWidth returns v as a register of b's width.
func asWidth(v reg.VecVirtual, b reg.Register) reg.Register {
	switch b.Size() {
	case 16:
		return v.AsX()
	case 32:
		return v.AsY()
	}
	return v.AsZ()
}

// broadcast fills a new vector register of in with the 32-bit constant v.
func broadcast(in isa, v uint32) reg.VecVirtual {
	if in.lanes == 16 {
		return broadcastD(v)
	}
	r, y := GP32(), YMM()
	MOVL(U32(v), r)
	VMOVD(r, y.AsX())
	VPBROADCASTD(y.AsX(), y)
	return y
}

func noSetup(isa) any { return nil }

// fourOrTwo is the shape of the 8-bit float loaders: four accumulators on AVX-512, two on
// AVX2 (whose decode needs more registers), one vector per tail step.
func fourOrTwo(in isa) (int, int) {
	if in.lanes == 16 {
		return 4, 1
	}
	return 2, 1
}

// fp8Decode turns the E4M3 codes sign-extended into the dwords of z into their values
// (unscaled): fp8Bits, times 2¹²⁰.
func fp8Decode(z, mask, scale reg.VecVirtual) {
	fp8Bits(z, mask)
	VMULPS(scale, z, z)
}

// fp8Bits turns the E4M3 codes sign-extended into the dwords of z into the float32 bits
// (code << 20) & 0x87f00000 (mask): the value scaled by 2⁻¹²⁰.
func fp8Bits(z, mask reg.VecVirtual) {
	VPSLLD(U8(20), z, z)
	VPANDD(mask, z, z)
}

// i4Tables are the AVX-512 I4 loader's registers: the value table (−8…7, possibly scaled)
// and the two interleaving permutations.
type i4Tables struct{ tab, perm0, perm1 reg.VecVirtual }

func newI4Tables() *i4Tables {
	t := &i4Tables{tab: ZMM(), perm0: ZMM(), perm1: ZMM()}
	VMOVUPS(q4tab(), t.tab)
	VMOVUPS(i4perm(), t.perm0)
	VMOVUPS(i4perm().Offset(64), t.perm1)
	return t
}

// i4Load512 decodes the 32 I4 values of the 16 bytes at codes (byte c/2: low nibble c even)
// into d0 (columns 0–15) and d1 (16–31) through the table.
func i4Load512(t *i4Tables, codes Op, d0, d1 reg.VecVirtual) {
	odd := ZMM()
	VPMOVZXBD(codes, d1)
	VPSRLD(U8(4), d1, odd)
	VPERMPS(t.tab, d1, d1)   // even elements 2i: q−8
	VPERMPS(t.tab, odd, odd) // odd elements 2i+1
	VMOVAPS(d1, d0)
	VPERMT2PS(odd, t.perm0, d0) // elements 0..15
	VPERMT2PS(odd, t.perm1, d1) // elements 16..31
}

var elemLoaders = []elemLoader{
	{
		name: "F32", bits: 32, isas: []isa{avx512, avx2},
		doc:   []string{"\ty[r] = Σ_{c<n} f32(codes[r·stride+4c:])·x[c]"},
		setup: noSetup,
		load: func(_ any, in isa, codes reg.Register, dst []reg.VecVirtual) {
			for i, z := range dst {
				VMOVUPS(Mem{Base: codes, Disp: 4 * in.lanes * i}, z)
			}
		},
	},
	{
		name: "F16", bits: 16, isas: []isa{avx512, avx2},
		doc:   []string{"\ty[r] = Σ_{c<n} f16(codes[r·stride+2c:])·x[c]   (VCVTPH2PS: exact)"},
		setup: noSetup,
		load:  loadF16,
	},
	{
		name: "BF16", bits: 16, isas: []isa{avx512, avx2},
		doc:   []string{"\ty[r] = Σ_{c<n} bf16(codes[r·stride+2c:])·x[c]   (bf16 bits << 16)"},
		setup: noSetup,
		load:  loadBF16,
	},
	{
		name: "FP8", bits: 8, isas: []isa{avx512, avx2},
		shape: fourOrTwo,
		doc: []string{
			"\ty[r] = Σ_{c<n} e4m3(codes[r·stride+c])·x[c]   (unscaled; a row holding a NaN code gets NaN)",
			"",
			"The decode: bits = (code << 20) & 0x87f00000 (AVX2: magnitude and sign apart) is the",
			"E4M3 value scaled by 2⁻¹²⁰ (subnormal codes become float32 subnormals), so",
			"value = bits·2¹²⁰ exactly. NaN codes (0x7f, 0xff; 480·sign here) are found with a",
			"compare of code|0x80 with 0xff (AVX2: code&0x7f with 0x7f).",
		},
		setup:    fp8Setup,
		rowStart: nanRowStart,
		load:     loadFP8,
		rowEnd:   nanRowEnd,
	},
	{
		name: "SFP8", bits: 8, isas: []isa{avx512, avx2},
		shape: fourOrTwo,
		doc: []string{
			"\ty[r] = Σ_{c<n} sfp(codes[r·stride+c])·x[c]   (unscaled; a row holding the reserved code 0x80 gets NaN)",
			"",
			"The decode: c = code&0x7f; small codes (bit 6 clear) are the float32 bits",
			"c<<21 + 0x34000000, large ones c<<20 + 0x38000000, code 0 is +0, the sign is bit 7.",
		},
		setup:    sfp8Setup,
		rowStart: nanRowStart,
		load:     loadSFP8,
		rowEnd:   nanRowEnd,
	},
	{
		name: "I4", bits: 4, isas: []isa{avx512, avx2},
		shape: func(in isa) (int, int) {
			if in.lanes == 16 {
				return 2, 2
			}
			return 4, 2
		},
		doc: []string{
			"\ty[r] = Σ_{c<n} float32(nibble(codes[r·stride:], c)−8)·x[c]   (unscaled)",
			"",
			"nibble c is the low half of byte c/2 for even c, the high half for odd c.",
		},
		setup: func(in isa) any {
			if in.lanes == 16 {
				return newI4Tables()
			}
			return []reg.VecVirtual{broadcast(in, 0x0f), broadcast(in, 0x41000000)} // 8.0
		},
		load: func(st any, in isa, codes reg.Register, dst []reg.VecVirtual) {
			if in.lanes == 16 {
				i4Load512(st.(*i4Tables), Mem{Base: codes}, dst[0], dst[1])
				return
			}
			c := st.([]reg.VecVirtual)
			low4, eight := c[0], c[1]
			for g := 0; g < len(dst); g += 2 {
				v, lo, hi := YMM(), YMM(), YMM()
				VPMOVZXBD(Mem{Base: codes, Disp: 4 * g}, v)
				VPAND(low4, v, lo)
				VPSRLD(U8(4), v, hi)
				VCVTDQ2PS(lo, lo)
				VCVTDQ2PS(hi, hi)
				VSUBPS(eight, lo, lo)
				VSUBPS(eight, hi, hi)
				a, b := YMM(), YMM()
				VUNPCKLPS(hi, lo, a)
				VUNPCKHPS(hi, lo, b)
				VPERM2F128(U8(0x20), b, a, dst[g])
				VPERM2F128(U8(0x31), b, a, dst[g+1])
			}
		},
	},
}

// fp8Setup and sfp8Setup emit the constants of the 8-bit float loaders.
func fp8Setup(in isa) any {
	s := newNanRows(in)
	if in.lanes == 16 {
		mask, scale := broadcastD(0x87f00000), broadcastD(0x7b800000) // 2¹²⁰
		s.orMask = broadcastD(0x80808080)
		s.nanCode = ZMM()
		VPTERNLOGD(U8(0xff), s.nanCode, s.nanCode, s.nanCode) // all ones
		s.consts = []reg.VecVirtual{mask, scale}
		return s
	}
	s.consts = []reg.VecVirtual{broadcast(in, 0x7f), broadcast(in, 0x7b800000), broadcast(in, 0x80000000)}
	return s
}

func sfp8Setup(in isa) any {
	s := newNanRows(in)
	if in.lanes == 16 {
		s.nanCode = broadcastD(0x80808080)
		s.consts = []reg.VecVirtual{broadcastD(0x7f), broadcastD(0x34000000), broadcastD(0x38000000), broadcastD(0x40), broadcastD(0x80000000)}
		return s
	}
	zero := YMM()
	s.consts = []reg.VecVirtual{broadcast(in, 0x7f), broadcast(in, 0x34000000), broadcast(in, 0x80000000), broadcast(in, 0x80), broadcast(in, 0x38000000), zero}
	VPXOR(zero, zero, zero)
	return s
}

func nanRowStart(st any)                 { st.(*nanRows).rowStart() }
func nanRowEnd(st any, sum reg.Register) { st.(*nanRows).rowEnd(sum) }

// loadFP8 and loadSFP8 decode the 8-bit float codes, recording the NaN codes.
func loadFP8(st any, in isa, codes reg.Register, dst []reg.VecVirtual) {
	s := st.(*nanRows)
	if in.lanes == 16 {
		s.check(codes, len(dst))
		for i, z := range dst {
			VPMOVSXBD(Mem{Base: codes, Disp: 16 * i}, z)
			fp8Decode(z, s.consts[0], s.consts[1])
		}
		return
	}
	low7, scale, sign := s.consts[0], s.consts[1], s.consts[2]
	for i, y := range dst {
		v, t := YMM(), YMM()
		VPMOVZXBD(Mem{Base: codes, Disp: 8 * i}, v)
		VPAND(low7, v, y)
		VPCMPEQD(low7, y, t)
		s.or32(t)
		VPSLLD(U8(20), y, y)
		VMULPS(scale, y, y)
		VPSLLD(U8(24), v, t)
		VPAND(sign, t, t)
		VPOR(t, y, y)
	}
}

func loadSFP8(st any, in isa, codes reg.Register, dst []reg.VecVirtual) {
	s := st.(*nanRows)
	if in.lanes == 16 {
		s.check(codes, len(dst))
		low7, small, large, bit6, sign := s.consts[0], s.consts[1], s.consts[2], s.consts[3], s.consts[4]
		for i, z := range dst {
			v, c, l := ZMM(), ZMM(), ZMM()
			k4, k5 := K(), K()
			VPMOVSXBD(Mem{Base: codes, Disp: 16 * i}, v)
			VPANDD(low7, v, c)
			VPSLLD(U8(21), c, z)
			VPADDD(small, z, z)
			VPSLLD(U8(20), c, l)
			VPADDD(large, l, l)
			VPTESTMD(bit6, c, k4)
			VMOVDQA32(l, k4, z)
			VPTESTMD(c, c, k5)
			VPTERNLOGD_Z(U8(0xf8), sign, v, k5, z)
		}
		return
	}
	low7, small, sign, reserved, large, zero := s.consts[0], s.consts[1], s.consts[2], s.consts[3], s.consts[4], s.consts[5]
	for i, y := range dst {
		v, c, t, l := YMM(), YMM(), YMM(), YMM()
		VPMOVZXBD(Mem{Base: codes, Disp: 8 * i}, v)
		VPCMPEQD(reserved, v, t)
		s.or32(t)
		VPAND(low7, v, c)
		VPSLLD(U8(21), c, y)
		VPADDD(small, y, y)
		VPSLLD(U8(20), c, l)
		VPADDD(large, l, l)
		VPSLLD(U8(25), c, t)
		VBLENDVPS(t, l, y, y) // bit 6 set: the large form
		VPCMPEQD(zero, c, t)
		VPANDN(y, t, y) // code 0: +0
		VPSLLD(U8(24), v, t)
		VPAND(sign, t, t)
		VPOR(t, y, y)
	}
}

func loadF16(_ any, in isa, codes reg.Register, dst []reg.VecVirtual) {
	for i, z := range dst {
		VCVTPH2PS(Mem{Base: codes, Disp: 2 * in.lanes * i}, z)
	}
}

func loadBF16(_ any, in isa, codes reg.Register, dst []reg.VecVirtual) {
	for i, z := range dst {
		VPMOVZXWD(Mem{Base: codes, Disp: 2 * in.lanes * i}, z)
	}
	for _, z := range dst {
		VPSLLD(U8(16), z, z)
	}
}

func log2(n int) int { return bits.Len(uint(n)) - 1 }
