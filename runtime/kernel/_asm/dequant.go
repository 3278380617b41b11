package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// dqElemLoader decodes the values of an element-wise type for the row dequantization
// (dequantElem).
type dqElemLoader struct {
	name   string // symbol infix
	bits   int    // bits per element
	group  int    // vectors per step (n a multiple of 16·group)
	scaled bool   // the routine takes the row scale s and applies it
	doc    string // the Go loop
	// setup emits the constants (s: the row scale's memory operand, when scaled).
	setup func(s Mem) any
	// load decodes len(dst) vectors of values at codes into dst.
	load func(st any, codes reg.Register, dst []reg.VecVirtual)
}

var dqElemLoaders = []dqElemLoader{
	{name: "F16", bits: 16, group: 1, doc: "\tdst[c] = f16(codes[2c:])",
		setup: func(Mem) any { return nil },
		load:  func(st any, codes reg.Register, dst []reg.VecVirtual) { loadF16(st, avx512, codes, dst) }},
	{name: "BF16", bits: 16, group: 1, doc: "\tdst[c] = bf16(codes[2c:])",
		setup: func(Mem) any { return nil },
		load:  func(st any, codes reg.Register, dst []reg.VecVirtual) { loadBF16(st, avx512, codes, dst) }},
	{name: "FP8", bits: 8, group: 1, scaled: true, doc: "\tdst[c] = e4m3(codes[c])·s   (NaN codes: the quiet NaN 0x7fc00000)",
		setup: func(s Mem) any {
			sv := ZMM()
			VBROADCASTSS(s, sv)
			return []reg.VecVirtual{sv, broadcastD(0x87f00000), broadcastD(0x7b800000), broadcastD(0x7ff00000), broadcastD(0x07f00000), broadcastD(0x7fc00000)}
		},
		load: func(st any, codes reg.Register, dst []reg.VecVirtual) {
			c := st.([]reg.VecVirtual)
			s, mask, pow120, magExp, nanMag, nan := c[0], c[1], c[2], c[3], c[4], c[5]
			z, m, k := dst[0], ZMM(), K()
			VPMOVSXBD(Mem{Base: codes}, z)
			fp8Bits(z, mask)
			VPANDD(magExp, z, m)
			VPCMPEQD(nanMag, m, k) // the magnitude bits of the NaN codes
			VMULPS(pow120, z, z)
			VMULPS(s, z, z)
			VMOVAPS(nan, k, z)
		}},
	{name: "I4", bits: 4, group: 2, scaled: true, doc: "\tdst[c] = float32(nibble(codes, c)−8)·s",
		setup: func(s Mem) any {
			t := newI4Tables()
			VMULPS_BCST(s, t.tab, t.tab) // the table of the values times s
			return t
		},
		load: func(st any, codes reg.Register, dst []reg.VecVirtual) {
			i4Load512(st.(*i4Tables), Mem{Base: codes}, dst[0], dst[1])
		}},
}

// genDequant emits the AVX-512 row dequantization of the element-wise and block types.
func genDequant() {
	for _, l := range dqElemLoaders {
		dequantElem(l)
	}
	for _, l := range blockLoaders {
		dequantBlock(l)
	}
}

// dequantElem generates the AVX-512 row dequantization of an element-wise type:
//
//	for c := range n { dst[c] = value(codes, c) }   (n a multiple of 16·group)
func dequantElem(l dqElemLoader) {
	name := "dq" + l.name + "AVX512"
	sig := "func(dst *float32, codes *byte, n int)"
	if l.scaled {
		sig = "func(dst *float32, codes *byte, n int, s float32)"
	}
	doc := []string{fmt.Sprintf("%s is, for n a multiple of %d:", name, 16*l.group), "", l.doc, "",
		"Reference: dequantRowGeneric (dequant_generic.go), bit-exact."}
	routine(name, sig, doc...)
	a := params("dst", "codes", "n")
	dst, codes, cnt := a[0], a[1], a[2]
	var s Mem
	if l.scaled {
		s = paramAddr("s")
	}
	st := l.setup(s)
	SHRQ(U8(log2(16*l.group)), cnt)
	JZ(LabelRef("done"))

	Label("loop")
	w := make([]reg.VecVirtual, l.group)
	for i := range w {
		w[i] = ZMM()
	}
	l.load(st, codes, w)
	for i, z := range w {
		VMOVUPS(z, Mem{Base: dst, Disp: 64 * i})
	}
	ADDQ(U8(16*l.group*l.bits/8), codes)
	ADDQ(U32(64*l.group), dst)
	DECQ(cnt)
	JNZ(LabelRef("loop"))

	Label("done")
	VZEROUPPER()
	RET()
}
