package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The ModeInt8 row kernels (package kernel's int8rows.go, reference dotRowInt8): one loop
// shape (rowsInt8) parameterised by the weight-block loader (Q4_0 nibbles, I4 nibbles, Q8_0
// bytes), the instruction set (AVX-512 VNNI, AVX2) and the rows run at once (1, 2).

// int8Loader is the weight-block loader of a row kernel.
type int8Loader struct {
	name   string // symbol infix: Q4, I4, Q8
	nibble bool   // two 4-bit codes per byte (64 code bytes, 16 lanes per step), else signed bytes (128, 32)
	scaled bool   // f16 block scales (the scales and nb parameters)
	doc    []string
}

// stepBytes is the code bytes of one step (128 columns); lanes the int32 lanes it yields.
func (l int8Loader) stepBytes() int { return map[bool]int{true: 64, false: 128}[l.nibble] }
func (l int8Loader) lanes() int     { return l.stepBytes() / 4 }

// lanesPerBlock is how many lanes one block of 32 columns spans (its scale is spread over them).
func (l int8Loader) lanesPerBlock() int { return l.lanes() / 4 }

var (
	q4Int8 = int8Loader{name: "Q4", nibble: true, scaled: true, doc: []string{
		"per step k (4 blocks, 64 code bytes at codes+r·stride+64k):",
		"",
		"\tlo, hi := codes[64k:64k+64]&15, codes[64k:64k+64]>>4",
		"\tacc := corr[16k:16k+16] + VPDPBUSD(lo, xa[128k:]) + VPDPBUSD(hi, xa[128k+64:])",
		"\tsum += float32(acc) · (f16(scales[r·nb+4k+l/4]) · dl[16k+l])   (per lane l < 16)",
	}}
	i4Int8 = int8Loader{name: "I4", nibble: true, doc: []string{
		"per step k (no block scales; the row scale is applied by the caller):",
		"",
		"\tacc := corr[16k:16k+16] + VPDPBUSD(codes[64k:]&15, xa[128k:]) + VPDPBUSD(codes[64k:]>>4, xa[128k+64:])",
		"\tsum += float32(acc) · dl[16k+l]   (per lane l < 16)",
	}}
	q8Int8 = int8Loader{name: "Q8", scaled: true, doc: []string{
		"per step k (4 blocks, 128 code bytes):",
		"",
		"\tacc := corr[32k:32k+32] + VPDPBUSD(codes[128k:128k+128] xor 0x80, xa[128k:])",
		"\tsum += float32(acc) · (f16(scales[r·nb+4k+l/8]) · dl[32k+l])   (per lane l < 32)",
	}}
)

// int8ISA is the instruction set of a row kernel: the int32 lanes of a step come from
// VPDPBUSD (vnni) or from VPMADDUBSW and VPMADDWD by ones (AVX2; Q8_0 then uses the sign
// trick |w|·(q·sign(w)) instead of the offset and ignores corr).
type int8ISA struct {
	isa
	suffix string // symbol suffix: VNNI, AVX2i8
	vnni   bool
}

var (
	vnniInt8 = int8ISA{isa: avx512, suffix: "VNNI", vnni: true}
	avx2Int8 = int8ISA{isa: avx2, suffix: "AVX2i8"}
)

// Prefetch distances of the weight streams in bytes (nibble and byte codes): the hardware
// prefetcher alone keeps too few lines in flight to stream faster than ~17 GB/s per core while
// the kernel also computes.
const (
	pfdNibble = 8192
	pfdByte   = 4096
)

// prefetchLines emits PREFETCHT0 of the lines lines at dist bytes past base+idx.
func prefetchLines(base, idx reg.Register, dist, lines int) {
	for i := range lines {
		PREFETCHT0(Mem{Base: base, Index: idx, Scale: 1, Disp: dist + 64*i})
	}
}

// spreadTable returns the table whose dword l is l/per: VPERMPS with it spreads float l/per
// of a register over lane l (block scales over the lanes of their block).
var spreadTables = map[int]Mem{}

func spreadTable(per, n int) Mem {
	if m, ok := spreadTables[per]; ok {
		return m
	}
	m := GLOBL(fmt.Sprintf("spread%d", per), RODATA|NOPTR)
	for l := range n {
		DATA(4*l, U32(l/per))
	}
	spreadTables[per] = m
	return m
}

// int8Kern is one row kernel: a loader on an instruction set, rows rows per iteration.
type int8Kern struct {
	l    int8Loader
	in   int8ISA
	rows int

	// set by rowsInt8
	idx, sp, sstride, xa, corr, dl reg.GPVirtual
	dp                             reg.GPVirtual   // the step's block scales of the activations (compact)
	unit, zero                     reg.VecVirtual  // the code offset (0x80 or 0x08 bytes) and zero (compact)
	codes                          []reg.GPVirtual // codes of each row of the iteration
	mask, ones                     reg.VecVirtual  // 0x0f bytes (nibbles) or 0x80 bytes (Q8 VNNI); int16 ones (AVX2)
	spread                         []reg.VecVirtual
}

func (k *int8Kern) symbol() string {
	s := "mv" + k.l.name + k.in.suffix
	if k.rows > 1 {
		s += fmt.Sprint(k.rows)
	}
	return s
}

// compact reports whether the kernel reads the activations' block scales d (four per step)
// instead of the per-lane dl, and derives the offset correction corr from xa itself (one
// VPDPBUSD by the offset per step, shared by the rows): the VNNI kernels of the scaled types.
// Each lane's integer sum and each float32 product are the same as with corr and dl read from
// memory, so the result is too; the activations read per step drop from 3 to 1.25 bytes per
// column (Q8_0) and from 2 to 1.125 (Q4_0), which leaves long rows' activations in L1.
func (k *int8Kern) compact() bool { return k.in.vnni && k.l.scaled }

// groups is the vectors of lanes per step.
func (k *int8Kern) groups() int { return k.l.lanes() / k.in.lanes }

// rowsInt8 generates a ModeInt8 row kernel: for r in [0, rows), over the first 128·steps
// columns (steps ≥ 1), with lanes summed into two accumulators (vector g of step s into
// accumulator (s·groups+g) mod 2, by pairs of steps when a step is one vector), added and
// reduced per row.
func rowsInt8(k *int8Kern) {
	l, in := k.l, k.in
	name := k.symbol()
	if k.rows > 1 && !k.compact() {
		panic(name + ": only the compact kernels (VNNI, block scales) run several rows at once")
	}
	rowsParam := "rows"
	if k.rows > 1 {
		rowsParam = "pairs"
	}
	sig := "func(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, " + rowsParam + ", steps int)"
	switch {
	case k.compact():
		sig = "func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, d *float32, " + rowsParam + ", steps int)"
	case l.scaled:
		sig = "func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, " + rowsParam + ", steps int)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if k.rows > 1 {
		Doc(fmt.Sprintf("%s is mv%s%s over %d·pairs rows, %d at a time (one load of the activations per", name, l.name, in.suffix, k.rows, k.rows),
			"step for all; reference: dotRowInt8).")
	} else {
		doc := []string{fmt.Sprintf("%s is the %s kernel of ModeInt8 (reference: dotRowInt8): for r < rows, with", name, l.name),
			"sum over the first 128·steps columns of row r,"}
		doc = append(doc, l.doc...)
		switch {
		case !in.vnni && l.nibble:
			doc = append(doc, "", "with VPDPBUSD done by VPMADDUBSW and VPMADDWD by ones, in vectors of 8 lanes.")
		case !in.vnni:
			doc = append(doc, "", "with VPDPBUSD done by VPMADDUBSW and VPMADDWD by ones, in vectors of 8 lanes, and",
				"the sign trick |w|·(q·sign(w)) on the signed codes instead of the offset (corr is not read).")
		case k.compact():
			doc = append(doc, "", "where corr is computed from xa (the offset times the sum of each lane's activations,",
				"negated) and dl from d, the activations' block scales (dl[l] = d[block of lane l]).")
		}
		Doc(doc...)
	}
	y := loadGP("y")
	codes := loadGP("codes")
	stride := loadGP("stride")
	var scales reg.GPVirtual
	if l.scaled {
		scales = loadGP("scales")
		k.sstride = loadGP("nb")
		SHLQ(U8(1), k.sstride)
	}
	k.xa = loadGP("xa")
	switch {
	case k.compact():
		k.dl = loadGP("d")
	case in.vnni || l.nibble:
		k.corr = loadGP("corr")
		fallthrough
	default:
		k.dl = loadGP("dl")
	}
	rows := loadGP(rowsParam)
	end := loadGP("steps")
	SHLQ(U8(log2(l.stepBytes())), end)
	switch {
	case l.nibble:
		k.mask = broadcast(in.isa, 0x0f0f0f0f)
	case in.vnni:
		k.mask = broadcast(in.isa, 0x80808080)
	}
	if !in.vnni {
		k.ones = broadcast(in.isa, 0x00010001)
	}
	if k.compact() {
		k.unit = k.mask
		if l.nibble {
			k.unit = broadcast(in.isa, 0x08080808)
		}
		k.zero = zeroVecs(in.isa, 1)[0]
	}
	if l.scaled {
		tbl := spreadTable(l.lanesPerBlock(), l.lanes())
		for g := range k.groups() {
			v := in.vec()
			if in.vnni {
				VMOVDQU32(tbl.Offset(4*in.lanes*g), v)
			} else {
				VMOVDQU(tbl.Offset(4*in.lanes*g), v)
			}
			k.spread = append(k.spread, v)
		}
	}
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	acc := make([][]reg.VecVirtual, k.rows)
	for r := range acc {
		acc[r] = zeroVecs(in.isa, 2)
	}
	k.idx = GP64()
	XORQ(k.idx, k.idx)
	if l.scaled {
		k.sp = GP64()
		MOVQ(scales, k.sp)
	}
	if k.compact() {
		k.dp = GP64()
		MOVQ(k.dl, k.dp)
	}
	k.codes = []reg.GPVirtual{codes}
	for r := 1; r < k.rows; r++ {
		c := GP64()
		LEAQ(Mem{Base: codes, Index: stride, Scale: byte(r)}, c)
		k.codes = append(k.codes, c)
	}
	accOf := func(i int) []reg.VecVirtual {
		out := make([]reg.VecVirtual, k.rows)
		for r := range out {
			out[r] = acc[r][i%2]
		}
		return out
	}
	if k.groups() == 1 {
		last := GP64()
		MOVQ(end, last)
		SUBQ(U32(l.stepBytes()), last)
		Label("pair")
		CMPQ(k.idx, last)
		JGE(LabelRef("single"))
		k.step(accOf)
		k.step(func(i int) []reg.VecVirtual { return accOf(i + 1) })
		JMP(LabelRef("pair"))
		Label("single")
		CMPQ(k.idx, end)
		JGE(LabelRef("rowdone"))
		k.step(accOf)
		Label("rowdone")
	} else {
		Label("step")
		k.step(accOf)
		CMPQ(k.idx, end)
		JLT(LabelRef("step"))
	}
	for r := range acc {
		VADDPS(acc[r][1], acc[r][0], acc[r][0])
		VMOVSS(in.reduce(acc[r][0]), Mem{Base: y, Disp: 4 * r})
	}
	ADDQ(U8(4*k.rows), y)
	advance := func(p, s reg.GPVirtual) {
		if k.rows == 1 {
			ADDQ(s, p)
		} else {
			LEAQ(Mem{Base: p, Index: s, Scale: byte(k.rows)}, p)
		}
	}
	advance(codes, stride)
	if l.scaled {
		advance(scales, k.sstride)
	}
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// shared returns an activation operand m for all rows of the iteration and the offset
// correction: m loaded into a register once in a compact kernel (the only ones with several
// rows), else m itself.
func (k *int8Kern) shared(m Mem) Op {
	if !k.compact() {
		return m
	}
	v := k.in.vec()
	VMOVDQU64(m, v)
	return v
}

// at is the operand at off bytes past base + idx·scale.
func (k *int8Kern) at(base reg.Register, scale byte, off int) Mem {
	return Mem{Base: base, Index: k.idx, Scale: scale, Disp: off}
}

// step emits one step (128 columns) of every row: vector g of the lanes goes into acc(g)[row].
func (k *int8Kern) step(acc func(g int) []reg.VecVirtual) {
	l, in := k.l, k.in
	for _, c := range k.codes {
		prefetchLines(c, k.idx, map[bool]int{true: pfdNibble, false: pfdByte}[l.nibble], l.stepBytes()/64)
	}
	var sc []reg.VecVirtual // each row's four block scales (compact: times the activations')
	var d4 Op
	if k.compact() {
		d4 = Mem{Base: k.dp}
		if k.rows > 1 {
			x := XMM()
			VMOVUPS(d4, x)
			d4 = x
		}
	}
	if l.scaled {
		for r := range k.codes {
			s := in.vec()
			m := Mem{Base: k.sp}
			if r > 0 {
				m = Mem{Base: k.sp, Index: k.sstride, Scale: byte(r)}
			}
			VCVTPH2PS(m, s.AsX())
			if k.compact() {
				VMULPS(d4, s.AsX(), s.AsX())
			}
			sc = append(sc, s)
		}
	}
	for g := range k.groups() {
		lanes := k.lanesOf(g)
		var dl Op // per-lane scales (compact kernels multiplied d into sc)
		if !k.compact() {
			dl = k.at(k.dl, 1, 4*in.lanes*g)
		}
		for r, v := range lanes {
			a := acc(g)[r]
			if !l.scaled {
				VFMADD231PS(dl, v, a)
				continue
			}
			t := in.vec()
			VPERMPS(sc[r], k.spread[g], t)
			if !k.compact() {
				VMULPS(dl, t, t)
			}
			VFMADD231PS(t, v, a)
		}
	}
	if l.scaled {
		ADDQ(U8(8), k.sp)
	}
	if k.compact() {
		ADDQ(U8(16), k.dp)
	}
	ADDQ(U32(l.stepBytes()), k.idx)
}

// offsetCorr emits corr of a compact kernel's lanes from their activation vectors xs:
// −(offset · Σ of each lane's activation bytes over xs), what the unsigned codes' offset adds.
func (k *int8Kern) offsetCorr(xs ...Op) reg.VecVirtual {
	c := ZMM()
	VPXORD(c, c, c)
	for _, x := range xs {
		VPDPBUSD(x, k.unit, c)
	}
	VPSUBD(c, k.zero, c)
	return c
}

// lanesOf emits vector g of a step's lanes, one per row, converted to float32.
func (k *int8Kern) lanesOf(g int) []reg.VecVirtual {
	l, in := k.l, k.in
	L := in.lanes
	out := make([]reg.VecVirtual, len(k.codes))
	switch {
	case in.vnni && l.nibble: // 16 lanes: 64 code bytes, 128 activation bytes
		xlo, xhi := k.shared(k.at(k.xa, 2, 0)), k.shared(k.at(k.xa, 2, 64))
		var corr Op = k.at(k.corr, 1, 0)
		if k.compact() {
			corr = k.offsetCorr(xlo, xhi)
		}
		for r, c := range k.codes {
			t0, t1, t2 := ZMM(), ZMM(), ZMM()
			VMOVDQU64(k.at(c, 1, 0), t0)
			VPSRLW(U8(4), t0, t1)
			VPANDD(k.mask, t0, t0)
			VPANDD(k.mask, t1, t1)
			if k.compact() {
				VMOVDQA32(corr, t2)
			} else {
				VMOVDQU32(corr, t2)
			}
			VPDPBUSD(xlo, t0, t2)
			VPDPBUSD(xhi, t1, t2)
			VCVTDQ2PS(t2, t2)
			out[r] = t2
		}
	case in.vnni: // Q8_0: 16 lanes of 64 code bytes (codes xor 0x80, unsigned)
		x := k.shared(k.at(k.xa, 1, 64*g))
		corr := k.offsetCorr(x)
		for r, c := range k.codes {
			t, a := ZMM(), ZMM()
			VPXORD(k.at(c, 1, 64*g), k.mask, t)
			VMOVDQA32(corr, a)
			VPDPBUSD(x, t, a)
			VCVTDQ2PS(a, a)
			out[r] = a
		}
	case l.nibble: // 8 lanes: 32 code bytes, activations at 4L·g and 64+4L·g
		for r, c := range k.codes {
			lo, hi := YMM(), YMM()
			VMOVDQU(k.at(c, 1, 4*L*g), lo)
			VPSRLW(U8(4), lo, hi)
			VPAND(k.mask, lo, lo)
			VPAND(k.mask, hi, hi)
			VPMADDUBSW(k.at(k.xa, 2, 4*L*g), lo, lo)
			VPMADDUBSW(k.at(k.xa, 2, 64+4*L*g), hi, hi)
			VPADDW(hi, lo, lo)
			VPMADDWD(k.ones, lo, lo)
			VPADDD(k.at(k.corr, 1, 4*L*g), lo, lo)
			VCVTDQ2PS(lo, lo)
			out[r] = lo
		}
	default: // Q8_0 on AVX2: 8 lanes of 32 code bytes, the sign trick
		for r, c := range k.codes {
			w, u, q := YMM(), YMM(), YMM()
			VMOVDQU(k.at(c, 1, 4*L*g), w)
			VPABSB(w, u)
			VMOVDQU(k.at(k.xa, 1, 4*L*g), q)
			VPSIGNB(w, q, q)
			VPMADDUBSW(q, u, u)
			VPMADDWD(k.ones, u, u)
			VCVTDQ2PS(u, u)
			out[r] = u
		}
	}
	return out
}

// genInt8Rows emits the ModeInt8 row kernels.
func genInt8Rows() {
	for _, in := range []int8ISA{vnniInt8, avx2Int8} {
		for _, l := range []int8Loader{q4Int8, i4Int8, q8Int8} {
			rowsInt8(&int8Kern{l: l, in: in, rows: 1})
		}
	}
	rowsInt8(&int8Kern{l: q4Int8, in: vnniInt8, rows: 2})
}

// loadGP loads the integer or pointer parameter name into a new general register.
func loadGP(name string) reg.GPVirtual {
	r := GP64()
	Load(Param(name), r)
	return r
}
