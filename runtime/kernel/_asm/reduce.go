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

// addPairwise adds the accumulators into acc[0] pairwise, (a0+a1)+(a2+a3), and returns it.
func addPairwise(acc []reg.VecVirtual) reg.VecVirtual {
	switch len(acc) {
	case 2:
		VADDPS(acc[1], acc[0], acc[0])
	case 4:
		VADDPS(acc[1], acc[0], acc[0])
		VADDPS(acc[3], acc[2], acc[2])
		VADDPS(acc[2], acc[0], acc[0])
	}
	return acc[0]
}

// prefetch asks for the weights 4 KiB ahead of p: the software prefetch keeps more weight
// lines in flight than the hardware prefetcher alone (Q8_0 lm_head 27 → 30 GB/s with 2
// threads).
func prefetch(p reg.Register) { PREFETCHT0(Mem{Base: p, Disp: 4096}) }

// table emits (once per generated file) the read-only table name<> of 32-bit values.
func table(name string, vals func(i int) Constant, n int) Mem {
	if m, ok := tables[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := range n {
		DATA(4*i, vals(i))
	}
	tables[name] = m
	return m
}

var tables = map[string]Mem{}

// q4tab holds the 16 Q4_0 / I4 code values −8…7 as float32, indexed by the nibble (VPERMPS
// uses the low four bits of each index lane and ignores the rest).
func q4tab() Mem { return table("q4tab", func(i int) Constant { return F32(float32(i - 8)) }, 16) }

// i4perm interleaves the even-element vector (indices 0–15) and the odd-element vector
// (16–31) of 32 I4 values: lanes 0–15 then (at +64) 16–31 of the result are elements in
// order.
func i4perm() Mem {
	return table("i4perm", func(i int) Constant { return U32(i/2 + 16*(i%2)) }, 32)
}

// storeRow reduces the accumulators (pairwise, then the lanes), lets rowEnd (if set) replace
// the sum, stores it at y, advances y and sets codes to the next row (rowStart + stride).
func storeRow(in isa, acc []reg.VecVirtual, st any, rowEnd func(st any, sum reg.Register), y, codes, rowStart, stride reg.Register) {
	sum := in.reduce(addPairwise(acc))
	if rowEnd != nil {
		rowEnd(st, sum)
	}
	VMOVSS(sum, Mem{Base: y})
	ADDQ(U8(4), y)
	LEAQ(Mem{Base: rowStart, Index: stride, Scale: 1}, codes)
}
