package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The multi-activation Q4_0 row kernel of ModeInt8 (package kernel's int8multi_amd64.go): the
// small-n prefill's row products, two weight rows by four activation rows per iteration. Each
// weight step (64 code bytes, 4 blocks) is unpacked once and dotted with the four rows'
// activations, which the caller packs per step (packMulti):
//
//	xp[1024k+256a : +128]     xa of row a, step k (as mvQ4VNNI reads it)
//	xp[1024k+256a+128 : +64]  corr of row a, step k (16 int32)
//	xp[1024k+256a+192 : +64]  dl of row a, step k (16 float32)

const (
	multiActs = 4    // activation rows per call
	multiStep = 1024 // packed bytes per step: multiActs × (128 + 64 + 64)
)

// genInt8Multi emits mvQ4VNNI2x4.
func genInt8Multi() {
	name := fmt.Sprintf("mvQ4VNNI2x%d", multiActs)
	routine(name, "func(y *float32, ystride int, codes *byte, stride int, scales *byte, nb int, xp *byte, pairs, steps int)",
		fmt.Sprintf("%s is mvQ4VNNI2 against %d activation rows a < %d at once, over 2·pairs rows r:", name, multiActs, multiActs),
		"with the activations packed per step (xp, see int8multi_amd64.go), for each step k",
		"",
		"\tlo, hi := codes[r·stride+64k:][:64]&15, codes[r·stride+64k:][:64]>>4   (once per step)",
		"\tacc := corr_a[16k:16k+16] + VPDPBUSD(lo, xa_a[128k:]) + VPDPBUSD(hi, xa_a[128k+64:])",
		"\tsum[a][r] += float32(acc) · dl_a[16k+l] · f16(scales[r·nb+4k+l/4])   (per lane l < 16)",
		"",
		"and y[a·ystride/4 + r] = Σ_lanes sum[a][r] (ystride in bytes; reference: dotRowInt8).")
	p := params("y", "ystride", "codes", "stride", "scales", "nb", "xp", "pairs", "steps")
	y, ys, codes, stride, scales, sstride, xp, pairs, end := p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]
	SHLQ(U8(1), sstride)
	SHLQ(U8(6), end) // 64 code bytes per step
	mask := broadcast(avx512, 0x0f0f0f0f)
	spread := ZMM()
	VMOVDQU32(spreadTable(4, 16), spread)
	TESTQ(pairs, pairs)
	JZ(LabelRef("done"))

	Label("pair")
	var acc [2][multiActs]reg.VecVirtual
	for r := range acc {
		copy(acc[r][:], zeroVecs(avx512, multiActs))
	}
	idx, sp, xq, c1 := GP64(), GP64(), GP64(), GP64()
	XORQ(idx, idx)
	MOVQ(scales, sp)
	MOVQ(xp, xq)
	LEAQ(Mem{Base: codes, Index: stride, Scale: 1}, c1)
	cs := []reg.Register{codes, c1}

	Label("step")
	var lo, hi, sw [2]reg.VecVirtual
	for r, c := range cs {
		PREFETCHT0(Mem{Base: c, Index: idx, Scale: 1, Disp: pfdNibble})
		lo[r], hi[r], sw[r] = ZMM(), ZMM(), ZMM()
		VMOVDQU64(Mem{Base: c, Index: idx, Scale: 1}, lo[r])
		VPSRLW(U8(4), lo[r], hi[r])
		VPANDD(mask, lo[r], lo[r])
		VPANDD(mask, hi[r], hi[r])
		m := Mem{Base: sp}
		if r > 0 {
			m = Mem{Base: sp, Index: sstride, Scale: 1}
		}
		VCVTPH2PS(m, sw[r].AsX())
		VPERMPS(sw[r], spread, sw[r])
	}
	for a := range multiActs {
		xlo, xhi := ZMM(), ZMM()
		VMOVDQU64(Mem{Base: xq, Disp: 256 * a}, xlo)
		VMOVDQU64(Mem{Base: xq, Disp: 256*a + 64}, xhi)
		for r := range cs {
			t := ZMM()
			VMOVDQU32(Mem{Base: xq, Disp: 256*a + 128}, t)
			VPDPBUSD(xlo, lo[r], t)
			VPDPBUSD(xhi, hi[r], t)
			VCVTDQ2PS(t, t)
			VMULPS(Mem{Base: xq, Disp: 256*a + 192}, t, t)
			VFMADD231PS(sw[r], t, acc[r][a])
		}
	}
	ADDQ(U8(8), sp)
	ADDQ(U32(multiStep), xq)
	ADDQ(U8(64), idx)
	CMPQ(idx, end)
	JLT(LabelRef("step"))

	// y[a·ys + 4r]: rows a = 0, 1 from y, rows 2, 3 from y + 2·ys.
	y2 := GP64()
	LEAQ(Mem{Base: y, Index: ys, Scale: 2}, y2)
	for a := range multiActs {
		base, idxReg := y, reg.Register(nil)
		switch a {
		case 1:
			idxReg = ys
		case 2:
			base = y2
		case 3:
			base, idxReg = y2, ys
		}
		for r := range cs {
			m := Mem{Base: base, Disp: 4 * r}
			if idxReg != nil {
				m = Mem{Base: base, Index: idxReg, Scale: 1, Disp: 4 * r}
			}
			VMOVSS(avx512.reduce(acc[r][a]), m)
		}
	}
	ADDQ(U8(8), y)
	LEAQ(Mem{Base: codes, Index: stride, Scale: 2}, codes)
	LEAQ(Mem{Base: scales, Index: sstride, Scale: 2}, scales)
	DECQ(pairs)
	JNZ(LabelRef("pair"))

	Label("done")
	VZEROUPPER()
	RET()
}
