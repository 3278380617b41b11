package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// isa is an instruction set a loop shape is generated for: its vector width and registers.
type isa struct {
	name  string // symbol suffix: "AVX512", "AVX2"
	lanes int    // float32 lanes per vector
	vec   func() reg.VecVirtual
	// reduce sums the lanes of v into lane 0 of v's X register and returns that register.
	reduce func(v reg.VecVirtual) reg.Register
}

var (
	avx512 = isa{name: "AVX512", lanes: 16, vec: ZMM, reduce: reduceZ}
	avx2   = isa{name: "AVX2", lanes: 8, vec: YMM, reduce: reduceY}
)

// reduceZ sums the 16 float32 lanes of z into lane 0 of z's X register and returns it: the
// 256-bit halves are added, then as reduceY.
func reduceZ(z reg.VecVirtual) reg.Register {
	y1 := YMM()
	VEXTRACTF64X4(U8(1), z, y1)
	VADDPS(y1, z.AsY(), z.AsY())
	return reduceY(z)
}

// reduceY sums the 8 float32 lanes of v's Y register into lane 0 of its X register and
// returns it: halves of 128, 64 and 32 bits are added pairwise.
func reduceY(v reg.VecVirtual) reg.Register { return reduce8(v, VADDPS, VADDSS) }

// broadcastD fills a new ZMM register with the 32-bit constant v.
func broadcastD(v uint32) reg.VecVirtual {
	r, z := GP32(), ZMM()
	MOVL(U32(v), r)
	VPBROADCASTD(r, z)
	return z
}

// zeroVecs returns n new vector registers of in set to zero.
func zeroVecs(in isa, n int) []reg.VecVirtual {
	vs := make([]reg.VecVirtual, n)
	for i := range vs {
		vs[i] = in.vec()
		VXORPS(vs[i], vs[i], vs[i])
	}
	return vs
}
