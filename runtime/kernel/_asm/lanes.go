package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Helpers shared by the generators beside reduce.go: the horizontal reductions (folder: float32
// sums and maxima, float64 sums and maxima, unsigned 32-bit maxima; reduce.go's reduceY is
// one of them), lane moves (half, upper, widenPD) and the simple counted loop with its
// routine header (routine, params, loop).

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

// folder combines the lanes of a register pairwise into lane 0: the high 256 bits onto the
// low (ZMM only, by ext256), the high 128 onto the low (ext128), then within 128 bits a
// shuffle by each of imms (shuf) combined with op, the last one with last (scalar, for
// floats).
type folder struct {
	ext256, ext128 func(i, src, dst Op)
	shuf           func(i, src, dst Op)
	imms           []uint8
	op, last       inst
}

// fold folds v (its Y register when wide is false) and returns its X register.
func (f folder) fold(v reg.VecVirtual, wide bool) reg.Register {
	if wide {
		y := YMM()
		f.ext256(U8(1), v, y)
		f.op(y, v.AsY(), v.AsY())
	}
	x := XMM()
	f.ext128(U8(1), v.AsY(), x)
	f.op(x, v.AsX(), v.AsX())
	for i, imm := range f.imms {
		f.shuf(U8(imm), v.AsX(), x)
		if i == len(f.imms)-1 {
			f.last(x, v.AsX(), v.AsX())
		} else {
			f.op(x, v.AsX(), v.AsX())
		}
	}
	return v.AsX()
}

func ops3(f func(ops ...Op)) func(a, b, c Op) { return func(a, b, c Op) { f(a, b, c) } }

// reduce8 combines the 8 float32 lanes of v's Y register into lane 0 of its X register with
// op (packed) and sop (scalar, the last step), halves of 128, 64 and 32 bits pairwise, the
// high half as op's first (Intel: second) operand; it returns that X register.
func reduce8(v reg.VecVirtual, op, sop inst) reg.Register {
	return folder{ext128: VEXTRACTF128, shuf: ops3(VPERMILPS), imms: []uint8{0x4e, 0xb1}, op: op, last: sop}.fold(v, false)
}

// reducePD combines the float64 lanes of v (in's width) into lane 0 of its X register with op
// (packed) and sop (scalar), halves pairwise; it returns that X register.
func reducePD(in isa, v reg.VecVirtual, op, sop inst) reg.Register {
	return folder{ext256: ops3(VEXTRACTF64X4), ext128: VEXTRACTF128, shuf: ops3(VPERMILPD), imms: []uint8{1}, op: op, last: sop}.fold(v, in.lanes == 16)
}

// umaxZ puts the largest unsigned 32-bit lane of z into lane 0 of z's X register (and
// returns it), halves pairwise.
func umaxZ(z reg.VecVirtual) reg.Register {
	return folder{ext256: ops3(VEXTRACTI64X4), ext128: VEXTRACTI128, shuf: ops3(VPSHUFD), imms: []uint8{0x4e, 0xb1}, op: VPMAXUD, last: VPMAXUD}.fold(z, true)
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
