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
	name  string // symbol infix: F32, F16, …
	width int    // bytes per element
	// doc is the Go loop the routine implements (its doc comment).
	doc []string
	// setup emits code run once per call (constants); it returns the state load and the
	// row hooks use.
	setup func() any
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
//	for r := range rows { y[r] = Σ_{c<n} w(codes[r·stride+width·c:])·x[c] }   (n a multiple of L)
//
// in steps of 4L columns into four accumulators, then steps of L into the first; the four
// are added pairwise ((a0+a1)+(a2+a3)) and the lanes reduced by in.reduce.
func rowsElem(l elemLoader, in isa) {
	name := "mv" + l.name + in.name
	L := in.lanes
	TEXT(name, NOSPLIT, "func(y *float32, codes *byte, stride int, x *float32, rows, n int)")
	Pragma("noescape")
	Doc(append([]string{fmt.Sprintf("%s is, for n a multiple of %d:", name, L), ""}, l.doc...)...)
	y := Load(Param("y"), GP64())
	codes := Load(Param("codes"), GP64())
	stride := Load(Param("stride"), GP64())
	x := Load(Param("x"), GP64())
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	st := l.setup()
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	if l.rowStart != nil {
		l.rowStart(st)
	}
	acc := zeroVecs(in, 4)
	rowStart, xp, cnt := GP64(), GP64(), GP64()
	MOVQ(codes, rowStart)
	MOVQ(x, xp)
	MOVQ(n, cnt)
	SHRQ(U8(log2(4*L)), cnt)
	JZ(LabelRef("tail"))

	Label("big")
	w := []reg.VecVirtual{in.vec(), in.vec(), in.vec(), in.vec()}
	l.load(st, in, codes, w)
	ADDQ(U32(4*L*l.width), codes)
	for i := range 4 {
		VFMADD231PS(Mem{Base: xp, Disp: 4 * L * i}, w[i], acc[i])
	}
	ADDQ(U32(16*L), xp)
	DECQ(cnt)
	JNZ(LabelRef("big"))

	Label("tail")
	MOVQ(n, cnt)
	ANDQ(U8(4*L-1), cnt)
	SHRQ(U8(log2(L)), cnt)
	JZ(LabelRef("rowdone"))

	Label("small")
	w1 := []reg.VecVirtual{in.vec()}
	l.load(st, in, codes, w1)
	ADDQ(U32(L*l.width), codes)
	VFMADD231PS(Mem{Base: xp}, w1[0], acc[0])
	ADDQ(U32(4*L), xp)
	DECQ(cnt)
	JNZ(LabelRef("small"))

	Label("rowdone")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	sum := in.reduce(acc[0])
	if l.rowEnd != nil {
		l.rowEnd(st, sum)
	}
	VMOVSS(sum, Mem{Base: y})
	ADDQ(U8(4), y)
	LEAQ(Mem{Base: rowStart, Index: stride, Scale: 1}, codes)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// nanRows is the state of the 8-bit float loaders: the codes that mean NaN are looked for
// with a byte compare (after or-ing orMask, when set) and collected in a mask register; a row
// that met one stores NaN.
type nanRows struct {
	orMask, nanCode reg.VecVirtual // orMask nil: compare the codes as they are
	seen            reg.OpmaskVirtual
	consts          []reg.VecVirtual
}

func (s *nanRows) rowStart() { KXORQ(s.seen, s.seen, s.seen) }

// check records, in s.seen, the NaN codes among the len(dst)·16 bytes at codes.
func (s *nanRows) check(codes reg.Register, nvec int) {
	k := K()
	if nvec == 4 {
		b := ZMM()
		VMOVDQU8(Mem{Base: codes}, b)
		if s.orMask != nil {
			VPORD(s.orMask, b, b)
		}
		VPCMPEQB(s.nanCode, b, k)
	} else {
		b := XMM()
		VMOVDQU8(Mem{Base: codes}, b)
		if s.orMask != nil {
			VPORD(s.orMask.AsX(), b, b)
		}
		VPCMPEQB(s.nanCode.AsX(), b, k)
	}
	KORQ(k, s.seen, s.seen)
}

func (s *nanRows) rowEnd(sum reg.Register) {
	KORTESTQ(s.seen, s.seen)
	JZ(LabelRef("store"))
	r := GP32()
	MOVL(U32(0x7fc00000), r) // a NaN code in the row: the sum is NaN
	VMOVD(r, sum)
	Label("store")
}

var elemLoaders = []elemLoader{
	{
		name: "F32", width: 4, isas: []isa{avx512, avx2},
		doc:   []string{"\ty[r] = Σ_{c<n} f32(codes[r·stride+4c:])·x[c]"},
		setup: func() any { return nil },
		load: func(_ any, in isa, codes reg.Register, dst []reg.VecVirtual) {
			for i, z := range dst {
				VMOVUPS(Mem{Base: codes, Disp: 4 * in.lanes * i}, z)
			}
		},
	},
	{
		name: "F16", width: 2, isas: []isa{avx512, avx2},
		doc:   []string{"\ty[r] = Σ_{c<n} f16(codes[r·stride+2c:])·x[c]   (VCVTPH2PS: exact)"},
		setup: func() any { return nil },
		load: func(_ any, in isa, codes reg.Register, dst []reg.VecVirtual) {
			for i, z := range dst {
				VCVTPH2PS(Mem{Base: codes, Disp: 2 * in.lanes * i}, z)
			}
		},
	},
	{
		name: "BF16", width: 2, isas: []isa{avx512, avx2},
		doc:   []string{"\ty[r] = Σ_{c<n} bf16(codes[r·stride+2c:])·x[c]   (bf16 bits << 16)"},
		setup: func() any { return nil },
		load: func(_ any, in isa, codes reg.Register, dst []reg.VecVirtual) {
			for i, z := range dst {
				VPMOVZXWD(Mem{Base: codes, Disp: 2 * in.lanes * i}, z)
			}
			for _, z := range dst {
				VPSLLD(U8(16), z, z)
			}
		},
	},
	{
		name: "FP8", width: 1, isas: []isa{avx512},
		doc: []string{
			"\ty[r] = Σ_{c<n} e4m3(codes[r·stride+c])·x[c]   (unscaled; a row holding a NaN code gets NaN)",
			"",
			"The decode: bits = (sext(code) << 20) & 0x87f00000 is the E4M3 value scaled by 2⁻¹²⁰",
			"(subnormal codes become float32 subnormals), so value = bits·2¹²⁰ exactly. NaN codes",
			"(0x7f, 0xff; 480·sign here) are found with a byte compare of code|0x80 with 0xff.",
		},
		setup: func() any {
			s := &nanRows{seen: K()}
			mask, scale := broadcastD(0x87f00000), broadcastD(0x7b800000) // 2¹²⁰
			s.orMask = broadcastD(0x80808080)
			s.nanCode = ZMM()
			VPTERNLOGD(U8(0xff), s.nanCode, s.nanCode, s.nanCode) // all ones
			s.consts = []reg.VecVirtual{mask, scale}
			return s
		},
		rowStart: func(st any) { st.(*nanRows).rowStart() },
		load: func(st any, _ isa, codes reg.Register, dst []reg.VecVirtual) {
			s := st.(*nanRows)
			s.check(codes, len(dst))
			for i, z := range dst {
				VPMOVSXBD(Mem{Base: codes, Disp: 16 * i}, z)
				VPSLLD(U8(20), z, z)
				VPANDD(s.consts[0], z, z)
				VMULPS(s.consts[1], z, z)
			}
		},
		rowEnd: func(st any, sum reg.Register) { st.(*nanRows).rowEnd(sum) },
	},
	{
		name: "SFP8", width: 1, isas: []isa{avx512},
		doc: []string{
			"\ty[r] = Σ_{c<n} sfp(codes[r·stride+c])·x[c]   (unscaled; a row holding the reserved code 0x80 gets NaN)",
			"",
			"The decode: c = code&0x7f; small codes (bit 6 clear) are the float32 bits",
			"c<<21 + 0x34000000, large ones c<<20 + 0x38000000, code 0 is +0, the sign is bit 7.",
		},
		setup: func() any {
			s := &nanRows{seen: K(), nanCode: broadcastD(0x80808080)}
			s.consts = []reg.VecVirtual{broadcastD(0x7f), broadcastD(0x34000000), broadcastD(0x38000000), broadcastD(0x40), broadcastD(0x80000000)}
			return s
		},
		rowStart: func(st any) { st.(*nanRows).rowStart() },
		load: func(st any, _ isa, codes reg.Register, dst []reg.VecVirtual) {
			s := st.(*nanRows)
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
		},
		rowEnd: func(st any, sum reg.Register) { st.(*nanRows).rowEnd(sum) },
	},
}

func log2(n int) int { return bits.Len(uint(n)) - 1 }
