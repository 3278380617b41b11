package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// reduceZ sums the 16 float32 lanes of z into lane 0 of z's X register and returns it:
// halves of 256, 128, 64 and 32 bits are added pairwise (lanes i and i+8, i and i+4, …).
func reduceZ(z reg.VecVirtual) reg.Register {
	y1, x1 := YMM(), XMM()
	VEXTRACTF64X4(U8(1), z, y1)
	VADDPS(y1, z.AsY(), z.AsY())
	VEXTRACTF128(U8(1), z.AsY(), x1)
	VADDPS(x1, z.AsX(), z.AsX())
	VPERMILPS(U8(0x4e), z.AsX(), x1)
	VADDPS(x1, z.AsX(), z.AsX())
	VPERMILPS(U8(0xb1), z.AsX(), x1)
	VADDSS(x1, z.AsX(), z.AsX())
	return z.AsX()
}

// broadcastD fills a new ZMM register with the 32-bit constant v.
func broadcastD(v uint32) reg.VecVirtual {
	r, z := GP32(), ZMM()
	MOVL(U32(v), r)
	VPBROADCASTD(r, z)
	return z
}

// zeroZ returns n new ZMM registers set to zero.
func zeroZ(n int) []reg.VecVirtual {
	zs := make([]reg.VecVirtual, n)
	for i := range zs {
		zs[i] = ZMM()
		VXORPS(zs[i], zs[i], zs[i])
	}
	return zs
}
