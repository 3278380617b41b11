package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genBF16Wide emits the bf16 microkernel that stores its tile in place (kernel.MatMulWideTerms
// in ModeBF16): the 12×32 tile of gemm12x32BF16AVX512, then per row the bias added and the
// result stored into (or added to) 32 consecutive outputs, so that a product with activation
// rows on the broadcast side writes its output rows directly.
func genBF16Wide() {
	TEXT("gemm12x32BF16StoreAVX512", NOSPLIT, "func(w *uint16, ldw int, xp *uint16, k int, y *float32, ldy int, bias *float32, acc int)")
	Pragma("noescape")
	Doc("gemm12x32BF16StoreAVX512 is gemm12x32BF16AVX512's tile t stored in place:",
		"",
		"\tfor r := range 12 { for i := range 32 {",
		"\t\tv := t[32r+i] + bias[i]; if acc != 0 { v = y[r·ldy+i] + v }; y[r·ldy+i] = v } }",
		"",
		"with t[32r+i] = Σ_c f32(w[r·ldw+2c+1])·f32(xp[64c+2i+1]) + f32(w[r·ldw+2c])·f32(xp[64c+2i])",
		"summed as gemm12x32BF16AVX512 sums it. Reference: gemmBF16Generic and storeTileBF16.")
	w, ldw, xp, k := reg.R8, reg.R9, reg.R13, reg.RCX
	r3, w4, w8 := reg.R10, reg.R11, reg.R12
	y, ldy, bias, acc := reg.RDI, reg.RSI, reg.RDX, reg.RBX
	Load(Param("w"), w)
	Load(Param("ldw"), ldw)
	SHLQ(U8(1), ldw) // bytes
	LEAQ(Mem{Base: ldw, Index: ldw, Scale: 2}, r3)
	LEAQ(Mem{Base: w, Index: ldw, Scale: 4}, w4)
	LEAQ(Mem{Base: w4, Index: ldw, Scale: 4}, w8)
	Load(Param("xp"), xp)
	Load(Param("k"), k)
	Load(Param("y"), y)
	Load(Param("ldy"), ldy)
	SHLQ(U8(2), ldy) // bytes
	Load(Param("bias"), bias)
	Load(Param("acc"), acc)
	bf16TileLoop(w, ldw, r3, w4, w8, xp, k)
	VMOVUPS(Mem{Base: bias}, reg.Z30)
	VMOVUPS(Mem{Base: bias, Disp: 64}, reg.Z31)
	for r := range 12 {
		VADDPS(reg.Z30, zmm[2*r], zmm[2*r])
		VADDPS(reg.Z31, zmm[2*r+1], zmm[2*r+1])
	}
	TESTQ(acc, acc)
	JZ(LabelRef("put"))
	for r := range 12 {
		VADDPS(Mem{Base: y}, zmm[2*r], zmm[2*r])
		VADDPS(Mem{Base: y, Disp: 64}, zmm[2*r+1], zmm[2*r+1])
		VMOVUPS(zmm[2*r], Mem{Base: y})
		VMOVUPS(zmm[2*r+1], Mem{Base: y, Disp: 64})
		ADDQ(ldy, y)
	}
	VZEROUPPER()
	RET()
	Label("put")
	for r := range 12 {
		VMOVUPS(zmm[2*r], Mem{Base: y})
		VMOVUPS(zmm[2*r+1], Mem{Base: y, Disp: 64})
		ADDQ(ldy, y)
	}
	VZEROUPPER()
	RET()
}
