package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The constants of expf32 and geluf32 (vecmath.go), as float32 bits.
const (
	cLo    = 0xc2aeac4f // expLo
	cHi    = 0x42b0c09d // expHi
	cLog2e = 0x3fb8aa3b
	cLn2hi = 0x3f318000
	cLn2lo = 0xb95e8083
	cP0    = 0x39506967
	cP1    = 0x3ab743ce
	cP2    = 0x3c088908
	cP3    = 0x3d2aa9c1
	cP4    = 0x3e2aaaaa
	cP5    = 0x3f000000
	cOne   = 0x3f800000
	cI127  = 0x0000007f // int32 127
	cInf   = 0x7f800000
	cGc    = 0x3d372713 // 0.044715
	cG2c   = 0x3fcc422a // 2·√(2/π)
	cSign  = 0x80000000
)

// vconsts holds the vector constants of one routine: in registers (AVX-512: broadcast once,
// there are registers enough) or as memory operands of a table whose entries are replicated
// over 32 bytes (AVX2).
type vconsts struct {
	in   isa
	regs map[uint32]reg.VecVirtual
}

var vcTable struct {
	mem Mem
	off map[uint32]int
}

// vc returns the table entry of the constant bits (AVX2 memory operands), adding it to the
// table of this file the first time.
func vc(bits uint32) Mem {
	if vcTable.off == nil {
		vcTable.mem = GLOBL("vc", RODATA|NOPTR)
		vcTable.off = map[uint32]int{}
	}
	off, ok := vcTable.off[bits]
	if !ok {
		off = 32 * len(vcTable.off)
		vcTable.off[bits] = off
		for i := range 8 {
			DATA(off+4*i, U32(bits))
		}
	}
	return vcTable.mem.Offset(off)
}

func newConsts(in isa, bits ...uint32) *vconsts {
	c := &vconsts{in: in, regs: map[uint32]reg.VecVirtual{}}
	for _, b := range bits {
		vc(b) // the table keeps one order for both instruction sets
	}
	if in.lanes == 16 {
		for _, b := range bits {
			z := ZMM()
			VBROADCASTSS(vc(b), z)
			c.regs[b] = z
		}
	}
	return c
}

// op is the constant as an operand where memory is allowed.
func (c *vconsts) op(bits uint32) Op {
	if r, ok := c.regs[bits]; ok {
		return r
	}
	return vc(bits)
}

// reg is the constant in a register (AVX2: loaded into a new one).
func (c *vconsts) reg(bits uint32) reg.VecVirtual {
	if r, ok := c.regs[bits]; ok {
		return r
	}
	r := c.in.vec()
	VMOVUPS(vc(bits), r)
	return r
}

// copyTo sets dst to the constant.
func (c *vconsts) copyTo(bits uint32, dst reg.VecVirtual) {
	if r, ok := c.regs[bits]; ok {
		VMOVAPS(r, dst)
		return
	}
	VMOVUPS(vc(bits), dst)
}

var expBits = []uint32{cLo, cHi, cLog2e, cLn2hi, cLn2lo, cP0, cP1, cP2, cP3, cP4, cP5, cOne, cI127, cInf}

// exp replaces the lanes of x by expf32(x), the steps of vecmath.go's expf32 with fused
// multiply-adds: x below expLo gives 0, above expHi +Inf, NaN stays NaN.
func exp(c *vconsts, x reg.VecVirtual) {
	in := c.in
	var under, over reg.Register
	if in.lanes == 16 {
		// Physical mask registers: avo takes VXORPS x, x, k, x below for a zeroing idiom that
		// reads nothing, so a virtual k would be seen dead and shared with over.
		under, over = reg.K1, reg.K2
	} else {
		under, over = in.vec(), in.vec()
	}
	VCMPPS(U8(0x11), c.op(cLo), x, under) // x < lo (ordered)
	VCMPPS(U8(0x1e), c.op(cHi), x, over)  // x > hi (ordered)
	t0, t1, t2 := in.vec(), in.vec(), in.vec()
	VMAXPS(x, c.reg(cLo), t0)
	VMINPS(t0, c.reg(cHi), t0)
	VMULPS(c.op(cLog2e), t0, t1)
	if in.lanes == 16 {
		VRNDSCALEPS(U8(0), t1, t1)
	} else {
		VROUNDPS(U8(0), t1, t1)
	}
	VFNMADD231PS(c.op(cLn2hi), t1, t0)
	VFNMADD231PS(c.op(cLn2lo), t1, t0)
	c.copyTo(cP0, t2)
	for _, p := range []uint32{cP1, cP2, cP3, cP4, cP5} {
		VFMADD213PS(c.op(p), t0, t2)
	}
	VMULPS(t0, t0, x)
	VFMADD213PS(t0, x, t2)
	VADDPS(c.op(cOne), t2, t2)
	VCVTPS2DQ(t1, t1)
	VPADDD(c.op(cI127), t1, t1)
	VPSLLD(U8(23), t1, t1)
	VMULPS(t1, t2, x)
	if in.lanes == 16 {
		VXORPS(x, x, under, x)
		VMOVAPS(c.op(cInf), over, x)
	} else {
		VANDNPS(x, under, x)
		VBLENDVPS(over, c.op(cInf), x, x)
	}
}

// genVecmath emits the vector exp (softmax's exp-and-sum), GELU and maximum.
func genVecmath() {
	for _, in := range []isa{avx512, avx2} {
		expSum(in)
		gelu(in)
	}
	maxLoop(avx2)
}

// expSum generates expSum for in: x[i] = expf32(x[i] − m), the sum in float64 over two
// vector accumulators (the low and the high half of every vector's lanes).
func expSum(in isa) {
	L := in.lanes
	name, x, n := overX(in, "expSum", "func(x *float32, n int, m float32) float64", "softmaxGeneric's second loop",
		fmt.Sprintf("for i := range n { x[i] = expf32(x[i] − m); sum += float64(x[i]) }   (%d+%d float64 partial sums)", L/2, L/2))
	m := in.vec()
	VBROADCASTSS(paramAddr("m"), m)
	c := newConsts(in, expBits...)
	lo, hi := in.vec(), in.vec()
	VXORPD(lo, lo, lo)
	VXORPD(hi, hi, hi)
	loop(name, n, log2(L), 4*L, []reg.Register{x}, func() {
		v := in.vec()
		VMOVUPS(Mem{Base: x}, v)
		VSUBPS(m, v, v)
		exp(c, v)
		VMOVUPS(v, Mem{Base: x})
		d0, d1 := in.vec(), in.vec()
		VCVTPS2PD(in.half(v), d0)
		in.upper(v, d1)
		VCVTPS2PD(in.half(d1), d1)
		VADDPD(d0, lo, lo)
		VADDPD(d1, hi, hi)
	})
	VADDPD(hi, lo, lo)
	Store(reducePD(in, lo, VADDPD, VADDSD), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// gelu generates gelu for in: x[i] = geluf32(x[i]) = x / (1 + exp(−u2)),
// u2 = float32(x·2√(2/π))·(x²·0.044715 + 1).
func gelu(in isa) {
	L := in.lanes
	name, x, n := overX(in, "gelu", "func(x *float32, n int)", "geluGeneric", "for i := range n { x[i] = geluf32(x[i]) }")
	c := newConsts(in, append(expBits, cGc, cG2c, cSign)...)
	loop(name, n, log2(L), 4*L, []reg.Register{x}, func() {
		v, t, u := in.vec(), in.vec(), in.vec()
		VMOVUPS(Mem{Base: x}, v)
		VMULPS(v, v, t)
		VFMADD213PS(c.op(cOne), c.reg(cGc), t)
		VMULPS(c.op(cG2c), v, u)
		VMULPS(t, u, u)
		VXORPS(c.op(cSign), u, u)
		exp(c, u)
		VADDPS(c.op(cOne), u, u)
		VDIVPS(u, v, v)
		VMOVUPS(v, Mem{Base: x})
	})
	VZEROUPPER()
	RET()
}

// maxLoop generates the maximum of n float32 (a multiple of L) from −Inf, VMAXPS's NaN
// rule (a NaN element is taken, a later element replaces it: NaN entries may be skipped).
func maxLoop(in isa) {
	L := in.lanes
	name, x, n := overX(in, "max", "func(x *float32, n int) float32", "expShiftGeneric's first loop",
		"m := −Inf; for i := range n { m = max(m, x[i]) }   (NaN entries may be skipped: softmax then gets a NaN sum, as the reference)")
	m := in.vec()
	VBROADCASTSS(vc(cInf), m)
	VXORPS(vc(cSign), m, m) // −Inf
	loop(name, n, log2(L), 4*L, []reg.Register{x}, func() { VMAXPS(Mem{Base: x}, m, m) })
	Store(reduce8(m, VMAXPS, VMAXSS), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// overX starts the routine op+in.name over x[:n] (n a multiple of in's lanes) with Go
// signature sig, documented by the Go loop it implements and its reference; it returns the
// name and the registers of x and n.
func overX(in isa, op, sig, ref, loop string) (name string, x, n reg.Register) {
	name = op + in.name
	routine(name, sig, fmt.Sprintf("%s is, for n a multiple of %d (reference: %s):", name, in.lanes, ref), "", "\t"+loop)
	xn := params("x", "n")
	return name, xn[0], xn[1]
}
