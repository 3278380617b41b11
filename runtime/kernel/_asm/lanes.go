package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Horizontal reductions and lane moves beside reduce.go's float32 sums: a float32 reduction
// with another operation (max), float64 sums and maxima, unsigned 32-bit maxima.

// inst is an avo instruction taking its operands in Go assembler order.
type inst func(ops ...Op)

// half is the register of the low half of v's lanes.
func (in isa) half(v reg.VecVirtual) reg.Register {
	if in.lanes == 16 {
		return v.AsY()
	}
	return v.AsX()
}

// upper sets the low half of dst to the high half of v.
func (in isa) upper(v, dst reg.VecVirtual) {
	if in.lanes == 16 {
		VEXTRACTF32X8(U8(1), v, dst.AsY())
	} else {
		VEXTRACTF128(U8(1), v.AsY(), dst.AsX())
	}
}

// reduce8 combines the 8 float32 lanes of v's Y register into lane 0 of its X register with
// op (packed) and sop (scalar, the last step), halves of 128, 64 and 32 bits pairwise, the
// high half as op's first (Intel: second) operand; it returns that X register.
func reduce8(v reg.VecVirtual, op, sop inst) reg.Register {
	x1 := XMM()
	VEXTRACTF128(U8(1), v.AsY(), x1)
	op(x1, v.AsX(), v.AsX())
	VPERMILPS(U8(0x4e), v.AsX(), x1)
	op(x1, v.AsX(), v.AsX())
	VPERMILPS(U8(0xb1), v.AsX(), x1)
	sop(x1, v.AsX(), v.AsX())
	return v.AsX()
}

// reducePD combines the float64 lanes of v (in's width) into lane 0 of its X register with op
// (packed) and sop (scalar), halves pairwise; it returns that X register.
func reducePD(in isa, v reg.VecVirtual, op, sop inst) reg.Register {
	if in.lanes == 16 {
		y := YMM()
		VEXTRACTF64X4(U8(1), v, y)
		op(y, v.AsY(), v.AsY())
	}
	x := XMM()
	VEXTRACTF128(U8(1), v.AsY(), x)
	op(x, v.AsX(), v.AsX())
	VPERMILPD(U8(1), v.AsX(), x)
	sop(x, v.AsX(), v.AsX())
	return v.AsX()
}

// umaxZ puts the largest unsigned 32-bit lane of z into lane 0 of z's X register (and
// returns it), halves pairwise.
func umaxZ(z reg.VecVirtual) reg.Register {
	y := YMM()
	VEXTRACTI64X4(U8(1), z, y)
	VPMAXUD(y, z.AsY(), z.AsY())
	x := XMM()
	VEXTRACTI128(U8(1), z.AsY(), x)
	VPMAXUD(x, z.AsX(), z.AsX())
	VPSHUFD(U8(0x4e), z.AsX(), x)
	VPMAXUD(x, z.AsX(), z.AsX())
	VPSHUFD(U8(0xb1), z.AsX(), x)
	VPMAXUD(x, z.AsX(), z.AsX())
	return z.AsX()
}

// widenPD widens the 16 float32 lanes of a and b to float64 eight at a time (the low half,
// then the high one) and passes each pair to f.
func widenPD(a, b reg.VecVirtual, f func(half int, fa, fb reg.VecVirtual)) {
	for half := range 2 {
		fa, fb := ZMM(), ZMM()
		if half == 0 {
			VCVTPS2PD(a.AsY(), fa)
			VCVTPS2PD(b.AsY(), fb)
		} else {
			ha, hb := YMM(), YMM()
			VEXTRACTF64X4(U8(1), a, ha)
			VEXTRACTF64X4(U8(1), b, hb)
			VCVTPS2PD(ha, fa)
			VCVTPS2PD(hb, fb)
		}
		f(half, fa, fb)
	}
}

// routine starts the routine name with Go signature sig and doc comment doc (noescape:
// the pointers do not outlive the call).
func routine(name, sig string, doc ...string) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc...)
}

// params loads the named integer and pointer parameters into new registers.
func params(names ...string) []reg.Register {
	rs := make([]reg.Register, len(names))
	for i, s := range names {
		rs[i] = Load(Param(s), GP64())
	}
	return rs
}

// loop emits the counted loop of the simple shapes, under labels prefixed by name:
//
//	for n >>= shift; n != 0; n-- { body(); ptrs[i] += step }
//
// leaving the code after it at the label name+"done".
func loop(name string, n reg.Register, shift, step int, ptrs []reg.Register, body func()) {
	SHRQ(U8(shift), n)
	JZ(LabelRef(name + "done"))
	Label(name + "loop")
	body()
	for _, p := range ptrs {
		ADDQ(U32(step), p)
	}
	DECQ(n)
	JNZ(LabelRef(name + "loop"))
	Label(name + "done")
}
