package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The ModeInt8 prefill (package kernel's int8gemm.go): the 6×32 VNNI micro-kernel and the
// expansion of weight rows to signed bytes, one loop shape parameterised by the loader.

const (
	gemmRows = 6  // weight rows of the micro-kernel
	gemmStep = 4  // columns per VPDPBUSD
	gemmLane = 16 // activation rows per vector
)

// genInt8Gemm emits the prefill routines.
func genInt8Gemm() {
	gemmVNNI(2)
	gemmVNNI(1)
	for _, e := range expanders {
		expandRows(e)
	}
}

// gemmVNNI generates the prefill micro-kernel over halves vectors of 16 activation lanes:
// gemm6x32VNNI (2) computes the int32 block sums of 6 weight rows by 32 activation rows in 12
// accumulators, scaled into 12 float ones; gemm6x16VNNI (1) the first 16 lanes of the same
// panel layout only, for a panel of at most 16 activation rows (half the work).
func gemmVNNI(halves int) {
	lanes := gemmLane * halves
	name := fmt.Sprintf("gemm6x%dVNNI", lanes)
	TEXT(name, NOSPLIT, "func(y *float32, ldy, m, mask0, mask1 int, scale float32, w *int8, ldw int, wd *float32, corr *int32, xp *byte, xd *float32, nb int)")
	Pragma("noescape")
	doc := []string{fmt.Sprintf("%s is the prefill kernel (layouts in int8gemm.go, reference dotRowInt8): for the 6", name),
		fmt.Sprintf("expanded weight rows (stride ldw bytes) and the first %d activation lanes of one packed panel,", lanes),
		"",
		fmt.Sprintf("\tfor r := range 6 { for a := range %d {", lanes),
		"\t\tfor b := range nb {",
		"\t\t\tacc := corr[6b+r] + Σ_{c<32} int32(xp[b][c/4][a][c%4])·int32(w[r·ldw+32b+c])   // xp = q+128",
		"\t\t\tt[r][a] += float32(acc)·xd[32b+a]·wd[6b+r] }",
		"\t\tif r < m && lane a in mask0 | mask1<<16 { y[a·ldy+r] = t[r][a]·scale } } }",
		"",
		fmt.Sprintf("The block body is unrolled: 8 steps of 4 columns, each %d VPDPBUSD (6 rows × %d vector(s) of", 6*halves, halves),
		"16 lanes); the outputs are scattered (VSCATTERDPS) straight into the rows of y."}
	if halves == 1 {
		doc = append(doc, "mask1 is ignored.")
	}
	Doc(doc...)
	w := loadGP("w")
	ldw := loadGP("ldw")
	w3 := GP64() // row 3
	LEAQ(Mem{Base: ldw, Index: ldw, Scale: 2}, w3)
	ADDQ(w, w3)
	wd := loadGP("wd")
	corr := loadGP("corr")
	xp := loadGP("xp")
	xd := loadGP("xd")
	nb := loadGP("nb")
	facc := zeroVecs(avx512, halves*gemmRows)
	TESTQ(nb, nb)
	JZ(LabelRef("store"))

	Label("block")
	acc := make([]reg.VecVirtual, halves*gemmRows)
	for i := range acc {
		acc[i] = ZMM()
		VPBROADCASTD(Mem{Base: corr, Disp: 4 * (i / halves)}, acc[i])
	}
	row := func(r, off int) Mem { // 4 bytes of row r at column off
		base := w
		if r >= 3 {
			base, r = w3, r-3
		}
		if r == 0 {
			return Mem{Base: base, Disp: off}
		}
		return Mem{Base: base, Index: ldw, Scale: byte(r), Disp: off}
	}
	for s := range 32 / gemmStep {
		x := make([]reg.VecVirtual, halves)
		for h := range x {
			x[h] = ZMM()
			VMOVDQU32(Mem{Base: xp, Disp: 128*s + 64*h}, x[h])
		}
		for r := range gemmRows {
			// The weight broadcasts alternate between two physical registers, as in the
			// hand-written kernel this replaces (the allocator folds virtual ones into one
			// register; gemm.go measured that at 0.97 of the hand-written speed).
			b := []reg.Register{reg.Z26, reg.Z27}[r%2]
			VPBROADCASTD(row(r, gemmStep*s), b)
			for h := range x {
				VPDPBUSD(b, x[h], acc[halves*r+h])
			}
		}
	}
	for i, a := range acc { // facc += float32(acc)·xd[lanes]·wd[row]
		VCVTDQ2PS(a, a)
		VMULPS(Mem{Base: xd, Disp: 64 * (i % halves)}, a, a)
		VFMADD231PS_BCST(Mem{Base: wd, Disp: 4 * (i / halves)}, a, facc[i])
	}
	ADDQ(U32(1024), xp)
	ADDQ(U32(128), xd)
	ADDQ(U8(4*gemmRows), wd)
	ADDQ(U8(4*gemmRows), corr)
	ADDQ(U8(32), w)
	ADDQ(U8(32), w3)
	DECQ(nb)
	JNZ(LabelRef("block"))

	Label("store")
	Comment("y[a·ldy + r] = scale·t[r][a] for r < m and the activation lanes in mask0/mask1:",
		"scattered with lane indices a·ldy (second vector at +16·ldy).")
	y := loadGP("y")
	ldy := loadGP("ldy")
	m := loadGP("m")
	mask := []reg.GPVirtual{loadGP("mask0")}
	if halves == 2 {
		mask = append(mask, loadGP("mask1"))
	}
	scale := ZMM()
	sp, err := Param("scale").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(sp.Addr, scale)
	index := ZMM()
	VPBROADCASTD(ldy.As32(), index)
	VPMULLD(iota16(), index, index)
	bases := []reg.GPVirtual{y}
	if halves == 2 {
		SHLQ(U8(6), ldy)
		y16 := GP64()
		LEAQ(Mem{Base: y, Index: ldy, Scale: 1}, y16)
		bases = append(bases, y16)
	}
	for r := range gemmRows {
		CMPQ(m, U8(r+1))
		JLT(LabelRef("done"))
		for h, base := range bases {
			f := facc[halves*r+h]
			VMULPS(scale, f, f)
			k := K()
			KMOVW(mask[h].As32(), k)
			VSCATTERDPS(f, k, Mem{Base: base, Index: index, Scale: 4, Disp: 4 * r})
		}
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// iota16 is the table of dwords 0…15 (emitted once per file).
func iota16() Mem {
	if iota16Mem == nil {
		m := GLOBL("iota16", RODATA|NOPTR)
		for i := range gemmLane {
			DATA(4*i, U32(i))
		}
		iota16Mem = &m
	}
	return *iota16Mem
}

var iota16Mem *Mem

// expander is the loader of expandRows: one block of 32 columns as 32 signed bytes, and the
// sum that gives its offset correction.
type expander struct {
	name       string // symbol infix
	blockBytes int    // code bytes per block
	doc        []string
	// setup emits the per-call constants.
	setup func() []reg.VecVirtual
	// load emits block (codes) as signed bytes in dst and their unsigned sum u in a Y register
	// (the sum of all 32 bytes gives Σ dst + bias).
	load func(c []reg.VecVirtual, codes reg.Register) (dst, u reg.VecVirtual)
	// bias is Σ u − Σ dst: corr = −128·(Σ u − bias).
	bias int
}

var expanders = []expander{
	{
		name: "Q4", blockBytes: 16, bias: 256,
		doc: []string{
			"\tdst[32b+j], dst[32b+16+j] = int8(codes[16b+j]&15)−8, int8(codes[16b+j]>>4)−8   (j < 16)",
			"\tcorr[b·cstride/4] = −128·Σ_{j<32} dst[32b+j]",
		},
		setup: func() []reg.VecVirtual { return []reg.VecVirtual{broadcastY(0x0f0f0f0f), broadcastY(0x08080808)} },
		load: func(c []reg.VecVirtual, codes reg.Register) (dst, u reg.VecVirtual) {
			v, hi := YMM(), XMM()
			VMOVDQU(Mem{Base: codes}, v.AsX())
			VPSRLW(U8(4), v.AsX(), hi)
			VPAND(c[0].AsX(), v.AsX(), v.AsX())
			VPAND(c[0].AsX(), hi, hi)
			VINSERTI128(U8(1), hi, v, v) // the nibbles q: Σ q = Σ dst + 256
			d := YMM()
			VPSUBB(c[1], v, d)
			return d, v
		},
	},
	{
		name: "Q8", blockBytes: 32, bias: 4096,
		doc: []string{
			"\tdst[32b+j] = int8(codes[32b+j])",
			"\tcorr[b·cstride/4] = −128·Σ_{j<32} dst[32b+j]",
		},
		setup: func() []reg.VecVirtual { return []reg.VecVirtual{broadcastY(0x80808080)} },
		load: func(c []reg.VecVirtual, codes reg.Register) (dst, u reg.VecVirtual) {
			dst, u = YMM(), YMM()
			VMOVDQU(Mem{Base: codes}, dst)
			VPXOR(c[0], dst, u) // w+128: Σ = Σ dst + 4096
			return dst, u
		},
	},
}

// broadcastY fills a new YMM register with the 32-bit constant v (AVX-512VL broadcast from a
// general register).
func broadcastY(v uint32) reg.VecVirtual {
	r, y := GP32(), YMM()
	MOVL(U32(v), r)
	VPBROADCASTD(r, y)
	return y
}

// expandRows generates expand<T>AVX512: the prefill's weight rows as signed bytes and the
// offset correction per block (stored every cstride bytes).
func expandRows(e expander) {
	name := fmt.Sprintf("expand%sAVX512", e.name)
	TEXT(name, NOSPLIT, "func(dst *int8, corr *int32, cstride int, codes *byte, nb int)")
	Pragma("noescape")
	Doc(append([]string{fmt.Sprintf("%s is, for b < nb (reference: expandGroup's %s_0 case):", name, e.name), ""}, e.doc...)...)
	dst := loadGP("dst")
	corr := loadGP("corr")
	cstride := loadGP("cstride")
	codes := loadGP("codes")
	nb := loadGP("nb")
	c := e.setup()
	zero := YMM()
	VPXOR(zero, zero, zero)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))

	Label("block")
	d, u := e.load(c, codes)
	s := sumBytes32(u, zero)
	SHLL(U8(7), s)
	NEGL(s)
	ADDL(U32(128*e.bias), s)
	MOVL(s, Mem{Base: corr})
	VMOVDQU(d, Mem{Base: dst})
	ADDQ(U8(e.blockBytes), codes)
	ADDQ(U8(32), dst)
	ADDQ(cstride, corr)
	DECQ(nb)
	JNZ(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

// sumBytes32 returns, in a new 32-bit register, the sum of the 32 unsigned bytes of u (zero: a
// zero register): VPSADBW, then the four quadwords added.
func sumBytes32(u, zero reg.VecVirtual) reg.GPVirtual {
	s, h := YMM(), XMM()
	VPSADBW(zero, u, s)
	VEXTRACTI128(U8(1), s, h)
	VPADDQ(h, s.AsX(), s.AsX())
	VPSHUFD(U8(0x4e), s.AsX(), h)
	VPADDQ(h, s.AsX(), s.AsX())
	r := GP32()
	VMOVD(s.AsX(), r)
	return r
}
