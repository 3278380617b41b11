package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The ModeInt8 activation quantization (package kernel's actquant.go).

// genActQuant emits quantRowsAVX512.
func genActQuant() {
	TEXT("quantRowsAVX512", NOSPLIT, "func(q *int8, d *float32, x *float32, nb int) bool")
	Pragma("noescape")
	Doc("quantRowsAVX512 is quantizeRowGeneric over nb full blocks of 32, bit-exact: the same float32",
		"division, reciprocal and product, VCVTPS2DQ rounding to nearest even; it returns false at",
		"the first block holding a NaN or ±Inf:",
		"",
		"\tamax := max_{j<32} |x[32b+j]|;  d[b] = amax/127 (0 if amax < 2⁻⁶⁴)",
		"\tq[32b+j] = clamp(roundToEven(x[32b+j]·(1/d[b])), −127, 127)   (0 if d[b] = 0)")
	q := loadGP("q")
	d := loadGP("d")
	x := loadGP("x")
	nb := loadGP("nb")
	absMask := broadcastD(0x7fffffff)
	hi, lo := broadcastD(127), broadcastD(0xffffff81) // ±127
	c127, one := XMM(), XMM()
	t := GP32()
	MOVL(U32(0x42fe0000), t) // 127.0
	VMOVD(t, c127)
	MOVL(U32(0x3f800000), t) // 1.0
	VMOVD(t, one)
	TESTQ(nb, nb)
	JZ(LabelRef("ok"))

	Label("block")
	v := []reg.VecVirtual{ZMM(), ZMM()}
	a := []reg.VecVirtual{ZMM(), ZMM()}
	for i := range v {
		VMOVUPS(Mem{Base: x, Disp: 64 * i}, v[i])
		VPANDD(absMask, v[i], a[i])
	}
	VPMAXUD(a[1], a[0], a[0]) // the bits of non-negative floats order like the values
	amax := maxUD(a[0])
	bits := GP32()
	VMOVD(amax, bits)
	CMPL(bits, U32(0x7f800000))
	JAE(LabelRef("bad"))
	CMPL(bits, U32(0x1f800000)) // 2⁻⁶⁴
	JB(LabelRef("zero"))
	db, id := XMM(), XMM()
	VDIVSS(c127, amax, db) // d = amax/127
	VMOVSS(db, Mem{Base: d})
	VDIVSS(db, one, id) // 1/d
	idz := ZMM()
	VBROADCASTSS(id, idz)
	for i := range v {
		VMULPS(idz, v[i], v[i])
		VCVTPS2DQ(v[i], v[i])
		VPMINSD(hi, v[i], v[i])
		VPMAXSD(lo, v[i], v[i])
		VPMOVSDB(v[i], Mem{Base: q, Disp: 16 * i})
	}
	JMP(LabelRef("next"))

	Label("zero")
	MOVL(U32(0), Mem{Base: d})
	z := YMM()
	VPXOR(z, z, z)
	VMOVDQU(z, Mem{Base: q})

	Label("next")
	advance("block", nb, []reg.Register{x, q, d}, []int{128, 32, 4})

	Label("ok")
	ret(1)

	Label("bad")
	ret(0)
}

// ret stores the bool v and returns.
func ret(v uint8) {
	r := GP8()
	MOVB(U8(v), r)
	Store(r, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// maxUD returns the unsigned maximum of the 16 dword lanes of z in lane 0 of z's X register:
// halves of 256, 128, 64 and 32 bits pairwise.
func maxUD(z reg.VecVirtual) reg.Register {
	y, x := YMM(), XMM()
	VEXTRACTI64X4(U8(1), z, y)
	VPMAXUD(y, z.AsY(), z.AsY())
	VEXTRACTI128(U8(1), z.AsY(), x)
	VPMAXUD(x, z.AsX(), z.AsX())
	for _, swap := range []uint8{0x4e, 0xb1} { // 64-bit halves, then 32-bit lanes
		VPSHUFD(U8(swap), z.AsX(), x)
		VPMAXUD(x, z.AsX(), z.AsX())
	}
	return z.AsX()
}
