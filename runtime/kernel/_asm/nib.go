package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// nibLoader decodes the weights of a type for the permuted-activation loop (rowsNib): each
// step reads 64 code bytes as 16 dwords and takes sub-vector t (lane k) from dword k, with
// the activations permuted once per call into that order (runtime/kernel/nibble.go).
type nibLoader struct {
	name  string // symbol infix: Q4X, Q8X, I4X, B8
	extra string // the arguments between stride and xp in the signature
	subs  int    // sub-vectors (16 columns each) per step of 64 bytes
	// scale, for a block type, loads the step's f16 block scales at p as float32 into the
	// low lanes of a new X register (nil: unscaled sums); spread is the lanes per scale.
	scale      func(p reg.Register) reg.VecVirtual
	scaleBytes int
	spread     int
	doc        []string
	// setup loads the extra arguments and constants.
	setup func() any
	// step decodes the step's codes c (a ZMM register); sub returns its sub-vector t.
	step     func(st any, c reg.VecVirtual)
	sub      func(st any, c reg.VecVirtual, t int) reg.VecVirtual
	rowStart func(st any)
	rowEnd   func(st any, sum reg.Register)
}

// nibTab is the state of the nibble loaders: the value table.
type nibTab struct{ tab reg.VecVirtual }

// nibble returns nibble t of every dword of c through the value table.
func (n *nibTab) nibble(c reg.VecVirtual, t int) reg.VecVirtual {
	v := ZMM()
	if t == 0 {
		VPERMPS(n.tab, c, v)
		return v
	}
	s := ZMM()
	VPSRLD(U8(4*t), c, s)
	VPERMPS(n.tab, s, v)
	return v
}

// b8State is the state of the 8-bit float table loader.
type b8State struct {
	nan                 *nanRows
	lo0, lo1, hi0, hi1  reg.VecVirtual // the byte tables
	nanMask, sign, zero reg.VecVirtual
	lowWords, highWords reg.VecVirtual // this step's interleaved bf16 halves
}

func noStep(any, reg.VecVirtual) {}

func nibbleSub(st any, c reg.VecVirtual, t int) reg.VecVirtual { return st.(*nibTab).nibble(c, t) }

func loadNibTab() any {
	t := ZMM()
	VMOVUPS(q4tab(), t)
	return &nibTab{tab: t}
}

var nibLoaders = []nibLoader{
	{
		name: "Q4X", extra: "scales *byte, nb int, ", subs: 8, scaleBytes: 8, spread: 4,
		scale: func(p reg.Register) reg.VecVirtual {
			x := ZMM()
			VCVTPH2PS(Mem{Base: p}, x.AsX())
			return x
		},
		doc: []string{
			"for Q4_0 rows (codes at codes+r·stride, f16 block scales at scales+2r·nb) over the",
			"first 128·steps columns, with xp the permuted activations (nibble.go):",
			"",
			"\tfor s := range steps { var t [16]float32",
			"\t\tfor tt := range 8 { for k := range 16 { t[k] += q4(codes[64s+4k:], tt)·xp[128s+16tt+k] } }",
			"\t\tfor k := range 16 { acc[k] += t[k]·f16(scales[4s+k/4]) } }",
			"\ty[r] = Σ_k acc[k]",
			"",
			"where q4(b, tt) = float32(nibble tt of the little-endian dword at b) − 8 (the sums t",
			"over even and odd tt apart, then added).",
		},
		setup: loadNibTab, step: noStep, sub: nibbleSub,
	},
	{
		name: "Q8X", extra: "scales *byte, nb int, ", subs: 4, scaleBytes: 4, spread: 8,
		scale: func(p reg.Register) reg.VecVirtual {
			x := ZMM()
			VMOVD(Mem{Base: p}, x.AsX())
			VCVTPH2PS(x.AsX(), x.AsX())
			return x
		},
		doc: []string{
			"for Q8_0 rows over the first 64·steps columns, with xp the permuted activations",
			"(nibble.go):",
			"",
			"\tfor s := range steps { var t [16]float32",
			"\t\tfor tt := range 4 { for k := range 16 { t[k] += float32(int8(codes[64s+4k+tt]))·xp[64s+16tt+k] } }",
			"\t\tfor k := range 16 { acc[k] += t[k]·f16(scales[2s+k/8]) } }",
			"\ty[r] = Σ_k acc[k]",
		},
		setup: func() any { return nil },
		step:  noStep,
		sub: func(_ any, c reg.VecVirtual, t int) reg.VecVirtual {
			v := ZMM()
			if t < 3 {
				VPSLLD(U8(24-8*t), c, v) // byte t to the top
				VPSRAD(U8(24), v, v)
			} else {
				VPSRAD(U8(24), c, v)
			}
			VCVTDQ2PS(v, v)
			return v
		},
	},
	{
		name: "I4X", subs: 8,
		doc: []string{
			"the unscaled I4 sum over the first 128·steps columns:",
			"",
			"\ty[r] = Σ_s Σ_tt Σ_k q4(codes[r·stride+64s+4k:], tt)·xp[128s+16tt+k]",
		},
		setup: loadNibTab, step: noStep, sub: nibbleSub,
	},
	{
		name: "B8", extra: "tab *[256]byte, nanMask, nanCode uint32, ", subs: 4,
		doc: []string{
			"the unscaled sum of 8-bit float rows over the first 64·steps columns, with",
			"xp the permuted activations (bytefloat.go) and tab the bf16 bytes of the 128 magnitudes:",
			"",
			"\tfor s := range steps { for v := range 4 { for p := range 16 {",
			"\t\tc := codes[r·stride+b8Col(s, v, p)]",
			"\t\tw := float32frombits((uint32(tab[128+c&127]|c&128)<<8 | uint32(tab[c&127])) << 16)",
			"\t\ty[r] += w·xp[64s+16v+p] } } }",
			"",
			"and y[r] = NaN if some code c has c&nanMask == nanCode (the masks' bytes are repeated).",
		},
		setup: func() any {
			s := &b8State{nan: newNanRows(avx512)}
			tab := Load(Param("tab"), GP64())
			s.lo0, s.lo1, s.hi0, s.hi1 = ZMM(), ZMM(), ZMM(), ZMM()
			for i, z := range []reg.VecVirtual{s.lo0, s.lo1, s.hi0, s.hi1} {
				VMOVDQU64(Mem{Base: tab, Disp: 64 * i}, z) // low bytes 0–63, 64–127, high bytes
			}
			s.nanMask, s.nan.nanCode = ZMM(), ZMM()
			VPBROADCASTD(Load(Param("nanMask"), GP32()), s.nanMask)
			VPBROADCASTD(Load(Param("nanCode"), GP32()), s.nan.nanCode)
			s.sign, s.zero = broadcastD(0x80808080), ZMM()
			VPXORD(s.zero, s.zero, s.zero)
			return s
		},
		rowStart: func(st any) { st.(*b8State).nan.rowStart() },
		step: func(st any, c reg.VecVirtual) {
			s := st.(*b8State)
			m, k := ZMM(), K()
			VPANDD(s.nanMask, c, m)
			VPCMPEQB(s.nan.nanCode, m, k)
			KORQ(k, s.nan.seen, s.nan.seen)
			lo, hi := ZMM(), ZMM()
			VMOVDQA64(c, lo)
			VPERMI2B(s.lo1, s.lo0, lo) // low bytes
			VMOVDQA64(c, hi)
			VPERMI2B(s.hi1, s.hi0, hi)          // high bytes
			VPTERNLOGD(U8(0xf8), s.sign, c, hi) // | sign
			s.lowWords, s.highWords = ZMM(), ZMM()
			VPUNPCKLBW(hi, lo, s.lowWords)  // bf16 of bytes 16j+0…7
			VPUNPCKHBW(hi, lo, s.highWords) // bytes 16j+8…15
		},
		sub: func(st any, _ reg.VecVirtual, t int) reg.VecVirtual {
			s := st.(*b8State)
			v := ZMM()
			w := s.lowWords
			if t >= 2 {
				w = s.highWords
			}
			if t%2 == 0 {
				VPUNPCKLWD(w, s.zero, v)
			} else {
				VPUNPCKHWD(w, s.zero, v)
			}
			return v
		},
		rowEnd: func(st any, sum reg.Register) { st.(*b8State).nan.rowEnd(sum) },
	},
}

// genNib emits the permuted-activation row kernels (AVX-512).
func genNib() {
	for _, l := range nibLoaders {
		rowsNib(l)
	}
}

// rowsNib generates a permuted-activation row kernel: per step of 64 code bytes, the
// sub-vectors t < subs multiply the activations xp[16·subs·s+16t:]. Unscaled types add
// sub-vector t into accumulator t%4; block types sum even and odd t apart, add the two, and
// multiply-add the sum with the step's block scales into two accumulators that alternate
// per step. The accumulators are added pairwise and the lanes reduced; all loads of codes
// prefetch 4 KiB ahead.
func rowsNib(l nibLoader) {
	name := "mv" + l.name + "AVX512"
	doc := append(append([]string{fmt.Sprintf("%s is %s", name, l.doc[0])}, l.doc[1:]...),
		"", "Reference: dotRowUnscaled (matvec_generic.go), in another summation order.")
	routine(name, "func(y *float32, codes *byte, stride int, "+l.extra+"xp *float32, rows, steps int)", doc...)
	a := params("y", "codes", "stride")
	y, codes, stride := a[0], a[1], a[2]
	var scales, rowScales reg.Register
	if l.scale != nil {
		scales = Load(Param("scales"), GP64())
		rowScales = Load(Param("nb"), GP64())
		SHLQ(U8(1), rowScales) // f16 scale bytes per row
	}
	xp := Load(Param("xp"), GP64())
	rows := Load(Param("rows"), GP64())
	steps := Load(Param("steps"), GP64())
	st := l.setup()
	var spreadTab reg.VecVirtual
	if l.scale != nil {
		spreadTab = ZMM()
		VMOVUPS(spreadTable(l.spread, 16), spreadTab)
	}
	TESTQ(rows, rows)
	JZ(LabelRef("done"))

	Label("row")
	if l.rowStart != nil {
		l.rowStart(st)
	}
	nacc := 4
	if l.scale != nil {
		nacc = 2
	}
	acc := zeroVecs(avx512, nacc)
	rowStart, x, sp, cnt := GP64(), GP64(), GP64(), GP64()
	MOVQ(codes, rowStart)
	if l.scale != nil {
		MOVQ(scales, sp)
	}
	MOVQ(xp, x)
	MOVQ(steps, cnt)
	TESTQ(cnt, cnt)
	JZ(LabelRef("rowdone"))

	step := func(a reg.VecVirtual) {
		c := ZMM()
		VMOVDQU32(Mem{Base: codes}, c)
		prefetch(codes)
		l.step(st, c)
		t01 := []reg.VecVirtual{ZMM(), ZMM()}
		for t := range l.subs {
			v := l.sub(st, c, t)
			xm := Mem{Base: x, Disp: 64 * t}
			switch {
			case l.scale == nil:
				VFMADD231PS(xm, v, acc[t%4])
			case t < 2:
				VMULPS(xm, v, t01[t])
			default:
				VFMADD231PS(xm, v, t01[t%2])
			}
		}
		if l.scale != nil {
			VADDPS(t01[1], t01[0], t01[0])
			d := l.scale(sp)
			VPERMPS(d, spreadTab, d)
			VFMADD231PS(t01[0], d, a)
			ADDQ(U8(l.scaleBytes), sp)
		}
		ADDQ(U8(64), codes)
		ADDQ(U32(64*l.subs), x)
	}
	Label("step")
	if l.scale == nil {
		step(nil)
		DECQ(cnt)
		JNZ(LabelRef("step"))
	} else {
		step(acc[0])
		DECQ(cnt)
		JZ(LabelRef("rowdone"))
		step(acc[1])
		DECQ(cnt)
		JNZ(LabelRef("step"))
	}

	Label("rowdone")
	storeRow(avx512, acc, st, l.rowEnd, y, codes, rowStart, stride)
	if l.scale != nil {
		ADDQ(rowScales, scales)
	}
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}
