package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// blockLoader decodes the blocks of a block type (32 weights and one f16 scale d each) for
// the row loop over blocks (rowsBlock) and the row dequantization (dequantBlock).
type blockLoader struct {
	name  string // symbol infix: Q4, Q8
	bytes int    // code bytes per block
	// doc is the Go loop of the row kernel (its doc comment), dqDoc the dequantization's.
	doc, dqDoc []string
	// setup emits the constants the decoder uses (once per call).
	setup func(in isa) any
	// decode writes the 32 weights of the block at codes, times d, into dst (32/L vectors,
	// consecutive columns). AVX-512: d is the float32 scale in memory; AVX2: a register
	// holding it in every lane.
	decode func(st any, in isa, codes reg.Register, d Op, dst []reg.VecVirtual)
}

var blockLoaders = []blockLoader{
	{
		name: "Q4", bytes: 16,
		doc: []string{
			"\tfor b := range nb { d := f16(scales[r·nb+b]); for j := range 16 {",
			"\t\tsum += float32(lo(codes[16b+j])−8)·d·x[32b+j] + float32(hi(codes[16b+j])−8)·d·x[32b+j+16] } }",
		},
		dqDoc: []string{"\tdst[32b+j] = float32(lo(codes[16b+j])−8)·d_b, dst[32b+j+16] = float32(hi(codes[16b+j])−8)·d_b"},
		setup: func(in isa) any {
			if in.lanes == 16 {
				t := ZMM()
				VMOVUPS(q4tab(), t)
				return t
			}
			return []reg.VecVirtual{broadcast(in, 0x0f0f0f0f), broadcast(in, 8)}
		},
		decode: func(st any, in isa, codes reg.Register, d Op, dst []reg.VecVirtual) {
			if in.lanes == 16 {
				lo, hi, td := ZMM(), ZMM(), ZMM()
				VPMOVZXBD(Mem{Base: codes}, lo)
				VPSRLD(U8(4), lo, hi)
				VMULPS_BCST(d, st.(reg.VecVirtual), td) // q4tab·d: the 16 values of the block
				VPERMPS(td, lo, dst[0])
				VPERMPS(td, hi, dst[1])
				return
			}
			c := st.([]reg.VecVirtual)
			low4, eight := c[0], c[1]
			VPMOVZXBD(Mem{Base: codes}, dst[0])
			VPMOVZXBD(Mem{Base: codes, Disp: 8}, dst[1])
			VPSRLD(U8(4), dst[0], dst[2])
			VPSRLD(U8(4), dst[1], dst[3])
			VPAND(low4, dst[0], dst[0])
			VPAND(low4, dst[1], dst[1])
			for _, v := range dst {
				VPSUBD(eight, v, v)
				VCVTDQ2PS(v, v)
				VMULPS(d, v, v)
			}
		},
	},
	{
		name: "Q8", bytes: 32,
		doc: []string{
			"\tfor b := range nb { d := f16(scales[r·nb+b]); for j := range 32 { sum += float32(int8(codes[32b+j]))·d·x[32b+j] } }",
		},
		dqDoc: []string{"\tdst[32b+j] = float32(int8(codes[32b+j]))·d_b"},
		setup: noSetup,
		decode: func(_ any, in isa, codes reg.Register, d Op, dst []reg.VecVirtual) {
			if in.lanes == 16 {
				VPMOVSXBD(Mem{Base: codes}, dst[0])
				VPMOVSXBD(Mem{Base: codes, Disp: 16}, dst[1])
				VCVTDQ2PS(dst[0], dst[0])
				VCVTDQ2PS(dst[1], dst[1])
				dz := ZMM()
				VBROADCASTSS(d, dz)
				VMULPS(dz, dst[0], dst[0])
				VMULPS(dz, dst[1], dst[1])
				return
			}
			for i, v := range dst {
				VPMOVSXBD(Mem{Base: codes, Disp: 8 * i}, v)
				VCVTDQ2PS(v, v)
				VMULPS(d, v, v)
			}
		},
	},
}

// genBlock emits the row kernels over blocks of the block types (Q4_0, Q8_0).
func genBlock() {
	for _, l := range blockLoaders {
		for _, in := range []isa{avx512, avx2} {
			rowsBlock(l, in)
		}
	}
}

// scaleChunk converts the next min(left, 16) f16 block scales at scales to float32 in buf
// (AVX-512, masked load: no byte past the scales is read), advances scales, decrements left
// and returns the count.
func scaleChunk(scales, left reg.Register, buf Mem) reg.Register {
	cnt, sixteen, bits := GP64(), GP64(), GP32()
	MOVQ(left, cnt)
	MOVQ(U32(16), sixteen)
	CMPQ(cnt, sixteen)
	CMOVQGT(sixteen, cnt)
	MOVL(U32(0xffff), bits)
	BZHIL(cnt.As32(), bits, bits) // the low cnt bits
	k := K()
	KMOVW(bits, k)
	h, f := YMM(), ZMM()
	VMOVDQU16_Z(Mem{Base: scales}, k, h)
	VCVTPH2PS(h, f)
	VMOVUPS(f, buf)
	LEAQ(Mem{Base: scales, Index: cnt, Scale: 2}, scales)
	SUBQ(cnt, left)
	return cnt
}

// rowsBlock generates the row kernel of a block type for instruction set in (L lanes):
//
//	for r := range rows { y[r] = Σ_b Σ_j w_b[j]·x[32b+j] }
//
// Each block's 32/L vectors go to a group of accumulators, G = 4L/32 groups of the four:
// AVX-512 takes the block scales 16 at a time to the stack and blocks in pairs (block 2i of
// a chunk into the first group, 2i+1 into the second, a last odd one into the first,
// prefetching 4 KiB ahead); AVX2 broadcasts each block's scale and has one group. The
// accumulators are added pairwise ((a0+a1)+(a2+a3)) and the lanes reduced by in.reduce.
func rowsBlock(l blockLoader, in isa) {
	name := "mv" + l.name + in.name
	doc := append(append([]string{fmt.Sprintf("%s is, for %s rows of nb blocks (codes and scales row after row):", name, l.name), ""}, l.doc...),
		"", "Reference: dotRowGeneric (matvec_generic.go), in another summation order.")
	routine(name, "func(y *float32, codes, scales *byte, x *float32, rows, nb int)", doc...)
	a := params("y", "codes", "scales", "x", "rows", "nb")
	y, codes, scales, x, rows, nb := a[0], a[1], a[2], a[3], a[4], a[5]
	var buf Mem
	if in.lanes == 16 {
		buf = AllocLocal(64)
	}
	st := l.setup(in)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	acc := zeroVecs(in, 4)
	per := 32 / in.lanes
	groups := [][]reg.VecVirtual{acc[:per], acc[per:]}
	left, xp := GP64(), GP64()
	MOVQ(nb, left)
	MOVQ(x, xp)
	block := func(g []reg.VecVirtual, d Op) {
		w := make([]reg.VecVirtual, per)
		for i := range w {
			w[i] = in.vec()
		}
		l.decode(st, in, codes, d, w)
		for i := range w {
			VFMADD231PS(Mem{Base: xp, Disp: 4 * in.lanes * i}, w[i], g[i])
		}
		ADDQ(U8(l.bytes), codes)
		ADDQ(U32(128), xp)
	}
	if in.lanes == 16 {
		Label("chunk")
		TESTQ(left, left)
		JZ(LabelRef("rowdone"))
		cnt := scaleChunk(scales, left, buf)
		idx, last := GP64(), GP64()
		XORQ(idx, idx)
		MOVQ(cnt, last)
		SUBQ(U8(1), last)
		d := Mem{Base: buf.Base, Disp: buf.Disp, Index: idx, Scale: 4}

		Label("pair")
		CMPQ(idx, last)
		JGE(LabelRef("single"))
		prefetch(codes)
		block(groups[0], d)
		INCQ(idx)
		block(groups[1], d)
		INCQ(idx)
		JMP(LabelRef("pair"))

		Label("single")
		CMPQ(idx, cnt)
		JGE(LabelRef("chunk"))
		block(groups[0], d)
		INCQ(idx)
		JMP(LabelRef("chunk"))
	} else {
		Label("block")
		h, d := XMM(), YMM()
		VPBROADCASTW(Mem{Base: scales}, h)
		VCVTPH2PS(h, d)
		block(groups[0], d)
		ADDQ(U8(2), scales)
		DECQ(left)
		JNZ(LabelRef("block"))
	}

	Label("rowdone")
	sum := in.reduce(addPairwise(acc))
	VMOVSS(sum, Mem{Base: y})
	ADDQ(U8(4), y)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// dequantBlock generates the AVX-512 row dequantization of a block type: the blocks'
// decoded values in order, the scales taken 16 at a time as in rowsBlock.
func dequantBlock(l blockLoader) {
	in := avx512
	name := "dq" + l.name + in.name
	doc := append(append([]string{fmt.Sprintf("%s is, for the nb blocks of a %s row:", name, l.name), ""}, l.dqDoc...),
		"", "Reference: dequantRowGeneric (dequant_generic.go), bit-exact.")
	routine(name, "func(dst *float32, codes, scales *byte, nb int)", doc...)
	a := params("dst", "codes", "scales", "nb")
	dst, codes, scales, left := a[0], a[1], a[2], a[3]
	buf := AllocLocal(64)
	st := l.setup(in)

	Label("chunk")
	TESTQ(left, left)
	JZ(LabelRef("done"))
	cnt := scaleChunk(scales, left, buf)
	idx := GP64()
	XORQ(idx, idx)

	Label("block")
	w := []reg.VecVirtual{ZMM(), ZMM()}
	l.decode(st, in, codes, Mem{Base: buf.Base, Disp: buf.Disp, Index: idx, Scale: 4}, w)
	VMOVUPS(w[0], Mem{Base: dst})
	VMOVUPS(w[1], Mem{Base: dst, Disp: 64})
	ADDQ(U8(l.bytes), codes)
	ADDQ(U32(128), dst)
	INCQ(idx)
	CMPQ(idx, cnt)
	JLT(LabelRef("block"))
	JMP(LabelRef("chunk"))

	Label("done")
	VZEROUPPER()
	RET()
}
