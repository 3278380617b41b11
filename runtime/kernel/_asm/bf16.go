package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genBF16 emits the AVX-512 BF16 microkernel of the bf16 matrix product (kernel.ModeBF16):
// 12 weight rows by 32 activation rows, 24 ZMM accumulators, one VDPBF16PS per row pair of
// columns and half tile. Go's assembler has no AVX-512 BF16 mnemonics, so VDPBF16PS is
// emitted as its EVEX bytes (vdpbf16ps), on fixed registers.
func genBF16() {
	genGemmBF16()
	genRoundBF16()
}

func genGemmBF16() {
	TEXT("gemm12x32BF16AVX512", NOSPLIT, "func(w *uint16, ldw int, xp *uint16, k int, tile *float32)")
	Pragma("noescape")
	Doc("gemm12x32BF16AVX512 is the bf16 microkernel (AVX-512 BF16 VDPBF16PS, float32 accumulation):",
		"",
		"\tfor r := range 12 { for i := range 32 { for c := range k {",
		"\t\ttile[32r+i] += f32(w[r·ldw+2c+1])·f32(xp[64c+2i+1]); tile[32r+i] += f32(w[r·ldw+2c])·f32(xp[64c+2i]) } } }",
		"",
		"from tile = 0: k column pairs, w bf16 rows (ldw elements apart), xp a packed panel of 32",
		"activation rows (pair c of row i at xp[64c+2i]). Reference: gemmBF16Generic.")
	tile := reg.RDI
	w, ldw, r3, w4, w8, xp, k := bf16Operands()
	Load(Param("tile"), tile)
	bf16TileLoop(w, ldw, r3, w4, w8, xp, k, 2)
	for i := range 24 {
		VMOVUPS(zmm[i], Mem{Base: tile, Disp: 64 * i})
	}
	VZEROUPPER()
	RET()
}

// bf16Operands loads the tile loop's parameters w, ldw (as bytes), xp and k into fixed
// registers, with r3 = 3·ldw and w4, w8 the addresses of rows 4 and 8.
func bf16Operands() (w, ldw, r3, w4, w8, xp, k reg.Register) {
	w, ldw, xp, k = reg.R8, reg.R9, reg.R13, reg.RCX
	r3, w4, w8 = reg.R10, reg.R11, reg.R12
	Load(Param("w"), w)
	Load(Param("ldw"), ldw)
	SHLQ(U8(1), ldw) // bytes
	LEAQ(Mem{Base: ldw, Index: ldw, Scale: 2}, r3)
	LEAQ(Mem{Base: w, Index: ldw, Scale: 4}, w4)
	LEAQ(Mem{Base: w4, Index: ldw, Scale: 4}, w8)
	Load(Param("xp"), xp)
	Load(Param("k"), k)
	return
}

// bf16TileLoop emits the 12×16·halves bf16 tile loop into Z0–Z(12·halves−1) (row r's halves
// in Z(halves·r) …): k column pairs of the 12 rows at w (byte stride ldw; r3 = 3·ldw, w4 and w8
// the rows 4 and 8) against the packed panel of 32 rows at xp (halves 1: its first 16 rows).
// It ends at label "store" with Z24–Z31 free.
func bf16TileLoop(w, ldw, r3, w4, w8, xp, k reg.Register, halves int) {
	z := func(i int) reg.VecPhysical { return zmm[i] }
	for i := range 12 * halves {
		VXORPS(z(i), z(i), z(i))
	}
	TESTQ(k, k)
	JZ(LabelRef("store"))
	Label("loop")
	for h := range halves {
		VMOVDQU32(Mem{Base: xp, Disp: 64 * h}, z(24+h))
	}
	rows := []Mem{
		{Base: w}, {Base: w, Index: ldw, Scale: 1}, {Base: w, Index: ldw, Scale: 2}, {Base: w, Index: r3, Scale: 1},
		{Base: w4}, {Base: w4, Index: ldw, Scale: 1}, {Base: w4, Index: ldw, Scale: 2}, {Base: w4, Index: r3, Scale: 1},
		{Base: w8}, {Base: w8, Index: ldw, Scale: 1}, {Base: w8, Index: ldw, Scale: 2}, {Base: w8, Index: r3, Scale: 1},
	}
	for r, m := range rows {
		b := 26 + r%4
		VPBROADCASTD(m, z(b))
		for h := range halves {
			vdpbf16ps(halves*r+h, 24+h, b)
		}
	}
	advance("loop", k, []reg.Register{w, w4, w8, xp}, []int{4, 4, 4, 128})
	Label("store")
}

var zmm = []reg.VecPhysical{
	reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7, reg.Z8, reg.Z9, reg.Z10,
	reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15, reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20,
	reg.Z21, reg.Z22, reg.Z23, reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31,
}

// vdpbf16ps emits VDPBF16PS zmm(src2), zmm(src1), zmm(dst) (Go operand order; dst += the
// pairwise bf16 products of src1 and src2) as its bytes: EVEX.512.F3.0F38.W0 52 /r with
// ModRM.reg = dst, EVEX.vvvv = src1, ModRM.rm = src2.
func vdpbf16ps(dst, src1, src2 int) {
	inv := func(x, bit int) byte { return byte((^x >> bit) & 1) }
	p0 := inv(dst, 3)<<7 | inv(src2, 4)<<6 | inv(src2, 3)<<5 | inv(dst, 4)<<4 | 0b0010
	p1 := byte(^src1&0xf)<<3 | 1<<2 | 0b10
	p2 := byte(0b10)<<5 | inv(src1, 4)<<3
	modrm := byte(0xc0) | byte(dst&7)<<3 | byte(src2&7)
	Comment(fmt.Sprintf("VDPBF16PS Z%d, Z%d, Z%d", src2, src1, dst))
	for _, b := range []byte{0x62, p0, p1, p2, 0x52, modrm} {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(b)}})
	}
}

// genRoundBF16 emits the float32 → bf16 conversion of ModeBF16's operands (VCVTNEPS2BF16,
// emitted as its bytes like VDPBF16PS).
func genRoundBF16() {
	TEXT("roundBF16AVX512", NOSPLIT, "func(dst *uint16, src *float32, n int)")
	Pragma("noescape")
	Doc("roundBF16AVX512 is dst[i] = bf16Round(src[i]) for i < n, n a multiple of 16 (VCVTNEPS2BF16:",
		"round to nearest even; subnormal inputs and results are zero, as VDPBF16PS reads them).",
		"Reference: bf16Round.")
	dst, src, n := reg.RDI, reg.RSI, reg.RCX
	Load(Param("dst"), dst)
	Load(Param("src"), src)
	Load(Param("n"), n)
	SHRQ(U8(4), n)
	JZ(LabelRef("done"))
	Label("loop")
	VMOVUPS(Mem{Base: src}, reg.Z0)
	vcvtneps2bf16(1, 0)
	VMOVDQU(reg.Y1, Mem{Base: dst})
	ADDQ(U8(64), src)
	ADDQ(U8(32), dst)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// vcvtneps2bf16 emits VCVTNEPS2BF16 zmm(src), ymm(dst): EVEX.512.F3.0F38.W0 72 /r with
// ModRM.reg = dst, ModRM.rm = src (registers below 8).
func vcvtneps2bf16(dst, src int) {
	Comment(fmt.Sprintf("VCVTNEPS2BF16 Z%d, Y%d", src, dst))
	for _, b := range []byte{0x62, 0xf2, 0x7e, 0x48, 0x72, byte(0xc0 | (dst&7)<<3 | src&7)} {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(b)}})
	}
}
