package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genBF16Wide emits the bf16 microkernels that store their tile in place (kernel.MatMulWideTerms
// and the bf16 attention): the 12×32 tile of gemm12x32BF16AVX512 (and a 12×16 one over the
// first 16 rows of a 32-row panel, for the narrow last panel of the attention's values), then
// per row the bias added and the result stored into (or added to) consecutive outputs.
func genBF16Wide() {
	bf16Store("gemm12x32BF16StoreAVX512", 2)
	bf16Store("gemm12x16BF16StoreAVX512", 1)
}

func bf16Store(name string, halves int) {
	cols := 16 * halves
	TEXT(name, NOSPLIT, "func(w *uint16, ldw int, xp *uint16, k int, y *float32, ldy int, bias *float32, acc int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is gemm12x32BF16AVX512's tile t (its first %d columns) stored in place:", name, cols),
		"",
		fmt.Sprintf("\tfor r := range 12 { for i := range %d {", cols),
		"\t\tv := t[32r+i] + bias[i]; if acc != 0 { v = y[r·ldy+i] + v }; y[r·ldy+i] = v } }",
		"",
		"with t[32r+i] = Σ_c f32(w[r·ldw+2c+1])·f32(xp[64c+2i+1]) + f32(w[r·ldw+2c])·f32(xp[64c+2i])",
		"summed as gemm12x32BF16AVX512 sums it (xp is a panel of 32 rows). Reference: gemmBF16Generic",
		"and storeTileBF16.")
	y, ldy, bias, acc := reg.RDI, reg.RSI, reg.RDX, reg.RBX
	w, ldw, r3, w4, w8, xp, k := bf16Operands()
	Load(Param("y"), y)
	Load(Param("ldy"), ldy)
	SHLQ(U8(2), ldy) // bytes
	Load(Param("bias"), bias)
	Load(Param("acc"), acc)
	bf16TileLoop(w, ldw, r3, w4, w8, xp, k, halves)
	for h := range halves {
		VMOVUPS(Mem{Base: bias, Disp: 64 * h}, zmm[30+h])
	}
	for r := range 12 {
		for h := range halves {
			VADDPS(zmm[30+h], zmm[halves*r+h], zmm[halves*r+h])
		}
	}
	TESTQ(acc, acc)
	JZ(LabelRef("put"))
	for r := range 12 {
		for h := range halves {
			VADDPS(Mem{Base: y, Disp: 64 * h}, zmm[halves*r+h], zmm[halves*r+h])
			VMOVUPS(zmm[halves*r+h], Mem{Base: y, Disp: 64 * h})
		}
		ADDQ(ldy, y)
	}
	VZEROUPPER()
	RET()
	Label("put")
	for r := range 12 {
		for h := range halves {
			VMOVUPS(zmm[halves*r+h], Mem{Base: y, Disp: 64 * h})
		}
		ADDQ(ldy, y)
	}
	VZEROUPPER()
	RET()
}
