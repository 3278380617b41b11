package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// cSoftLo is the clamp of the softmax exp: −104 (exp(−104) rounds to zero in float32).
const cSoftLo = 0xc2d00000

// genSoftmaxBF16 emits the softmax step of the bf16 attention (kernel.softmaxRowBF16): the
// row's scaled scores' maximum with the running one, then the exponentials rounded to bf16
// and their float64 sum, in one routine. Its exp is the one of vecmath.go's expf32 for
// arguments ≤ 0 (they are, after the shift): the clamp at −104 and VSCALEFPS replace the
// range checks and the exponent arithmetic. Physical registers throughout, as VCVTNEPS2BF16
// is emitted as bytes.
func genSoftmaxBF16() {
	TEXT("softmaxBF16AVX512", NOSPLIT, "func(s *float32, p *uint16, n int, sc float32, m float32) (mx float32, sum float64)")
	Pragma("noescape")
	Doc("softmaxBF16AVX512 is, for n a multiple of 16 (reference: softmaxRowBF16Generic):",
		"",
		"\tmx = m; for i := range n { mx = max(mx, float32(s[i]·sc)) }",
		"\tfor i := range n { e := exp(float32(s[i]·sc) − mx); p[i] = bf16(e); sum += float64(e) }",
		"",
		"(the sum in 16 float32 lane sums, added in float64 at the end; a NaN score may be skipped by",
		"the maximum, it still makes the sum NaN). exp is expf32 for arguments in [expLo, 0]; below,",
		"it gives expf32's steps scaled by VSCALEFPS (subnormal or zero, where expf32 gives zero), and",
		"bf16 flushes subnormals to zero.")
	s, p, n := reg.RSI, reg.RDI, reg.RCX
	s2, n2 := reg.R8, reg.R9
	Load(Param("s"), s)
	Load(Param("p"), p)
	Load(Param("n"), n)
	MOVQ(s, s2)
	MOVQ(n, n2)
	sc, mx, mb := reg.Z8, reg.Z12, reg.Z9
	VBROADCASTSS(paramAddr("sc"), sc)
	VBROADCASTSS(paramAddr("m"), mx)
	SHRQ(U8(4), n)
	JZ(LabelRef("maxdone"))
	Label("maxloop")
	VMULPS(Mem{Base: s}, sc, reg.Z7)
	VMAXPS(reg.Z7, mx, mx)
	ADDQ(U8(64), s)
	DECQ(n)
	JNZ(LabelRef("maxloop"))
	Label("maxdone")
	foldPhys(mx, reg.Z13, VMAXPS, VMAXPS, VPERMILPS, 0x4e, 0xb1)
	Store(reg.X12, ReturnIndex(0))
	VBROADCASTSS(reg.X12, mb)

	consts := []uint32{cSoftLo, cLog2e, cLn2hi, cLn2lo, cP0, cP1, cP2, cP3, cP4, cP5, cOne}
	cr := map[uint32]reg.VecPhysical{}
	for i, b := range consts {
		cr[b] = zmm[16+i]
		VBROADCASTSS(vc(b), zmm[16+i])
	}
	acc := reg.Z10
	VXORPS(acc, acc, acc)
	SHRQ(U8(4), n2)
	JZ(LabelRef("done"))
	Label("loop")
	x, t0, t1, t2 := reg.Z0, reg.Z2, reg.Z3, reg.Z4
	VMULPS(Mem{Base: s2}, sc, x)
	VSUBPS(mb, x, x)
	VMAXPS(x, cr[cSoftLo], t0) // NaN x stays NaN
	VMULPS(cr[cLog2e], t0, t1)
	VRNDSCALEPS(U8(0), t1, t1)
	VFNMADD231PS(cr[cLn2hi], t1, t0)
	VFNMADD231PS(cr[cLn2lo], t1, t0)
	VMOVAPS(cr[cP0], t2)
	for _, c := range []uint32{cP1, cP2, cP3, cP4, cP5} {
		VFMADD213PS(cr[c], t0, t2)
	}
	VMULPS(t0, t0, x)
	VFMADD213PS(t0, x, t2)
	VADDPS(cr[cOne], t2, t2)
	VSCALEFPS(t1, t2, x)
	vcvtneps2bf16(1, 0)
	VMOVDQU(reg.Y1, Mem{Base: p})
	VADDPS(x, acc, acc)
	ADDQ(U8(64), s2)
	ADDQ(U8(32), p)
	DECQ(n2)
	JNZ(LabelRef("loop"))
	Label("done")
	VCVTPS2PD(reg.Y10, reg.Z5)
	VEXTRACTF64X4(U8(1), acc, reg.Y6)
	VCVTPS2PD(reg.Y6, reg.Z6)
	VADDPD(reg.Z6, reg.Z5, reg.Z10)
	foldPhys(reg.Z10, reg.Z11, VADDPD, VADDSD, VPERMILPD, 1)
	Store(reg.X10, ReturnIndex(1))
	VZEROUPPER()
	RET()
}

// foldPhys combines the lanes of the physical register v into lane 0 of its X register, halves
// pairwise (through t): the 256-bit and 128-bit halves with op, then, per shuffle immediate,
// the lanes shuf brings together with last.
func foldPhys(v, t reg.VecPhysical, op, last, shuf func(...Op), imms ...uint8) {
	VEXTRACTF64X4(U8(1), v, t.AsY())
	op(t.AsY(), v.AsY(), v.AsY())
	VEXTRACTF128(U8(1), v.AsY(), t.AsX())
	op(t.AsX(), v.AsX(), v.AsX())
	for _, imm := range imms {
		shuf(U8(imm), v.AsX(), t.AsX())
		last(t.AsX(), v.AsX(), v.AsX())
	}
}
