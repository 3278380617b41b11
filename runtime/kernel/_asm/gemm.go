package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genGemm emits the register-blocked f32 micro-kernels of MatMul's prefill path.
func genGemm() {
	gemmTile(avx512, 12)
	gemmTile(avx2, 6)
}

// gemmTile generates the micro-kernel of rows weight rows by 2L activation columns (L the
// lanes of in):
//
//	for r := range rows { for i := range 2L { tile[2L·r+i] = Σ_{c<k} w[r·ldw+c]·xp[2L·c+i] } }
//
// Per column c: the two vectors of xp's panel are loaded, each weight w[r·ldw+c] broadcast
// and multiplied into the row's two accumulators (fused multiply-add); the rows are reached
// through base pointers every four rows and the offsets 0, ldw, 2ldw, 3ldw (in bytes).
func gemmTile(in isa, rows int) {
	L := in.lanes
	name := fmt.Sprintf("gemm%dx%d%s", rows, 2*L, in.name)
	TEXT(name, NOSPLIT, "func(w *float32, ldw int, xp *float32, k int, tile *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is the register-blocked micro-kernel of MatMul (reference: gemmTileGeneric):", name), "",
		fmt.Sprintf("\tfor r := range %d { for i := range %d { tile[%d·r+i] = Σ_{c<k} w[r·ldw+c]·xp[%d·c+i] } }", rows, 2*L, 2*L, 2*L), "",
		fmt.Sprintf("xp is a packed panel of %d activation rows (column c's %d values contiguous).", 2*L, 2*L))
	w := Load(Param("w"), GP64())
	ldw := Load(Param("ldw"), GP64())
	xp := Load(Param("xp"), GP64())
	k := Load(Param("k"), GP64())
	tile := Load(Param("tile"), GP64())
	SHLQ(U8(2), ldw)
	ldw3 := GP64()
	LEAQ(Mem{Base: ldw, Index: ldw, Scale: 2}, ldw3)
	bases := []reg.Register{w}
	for len(bases)*4 < rows {
		b := GP64()
		LEAQ(Mem{Base: bases[len(bases)-1], Index: ldw, Scale: 4}, b)
		bases = append(bases, b)
	}
	acc := zeroVecs(in, 2*rows)
	TESTQ(k, k)
	JZ(LabelRef(name + "store"))

	// The broadcasts rotate through the registers of bcast, as in the hand-written kernels
	// these replace. They are physical registers: the allocator folds virtual ones into one,
	// which measured 0.97 of the hand-written speed in two runs (thread CPU time, alternating).
	bcast := []reg.Register{reg.Z26, reg.Z27, reg.Z28, reg.Z29}
	if in.lanes == 8 {
		bcast = []reg.Register{reg.Y14, reg.Y15}
	}

	Label(name + "loop")
	x0, x1 := in.vec(), in.vec()
	VMOVUPS(Mem{Base: xp}, x0)
	VMOVUPS(Mem{Base: xp, Disp: 4 * L}, x1)
	for r := range rows {
		b := bases[r/4]
		var m Mem
		switch r % 4 {
		case 0:
			m = Mem{Base: b}
		case 1:
			m = Mem{Base: b, Index: ldw, Scale: 1}
		case 2:
			m = Mem{Base: b, Index: ldw, Scale: 2}
		case 3:
			m = Mem{Base: b, Index: ldw3, Scale: 1}
		}
		bw := bcast[r%len(bcast)]
		VBROADCASTSS(m, bw)
		VFMADD231PS(bw, x0, acc[2*r])
		VFMADD231PS(bw, x1, acc[2*r+1])
	}
	for _, b := range bases {
		ADDQ(U8(4), b)
	}
	ADDQ(U32(8*L), xp)
	DECQ(k)
	JNZ(LabelRef(name + "loop"))

	Label(name + "store")
	for i, a := range acc {
		VMOVUPS(a, Mem{Base: tile, Disp: 4 * L * i})
	}
	VZEROUPPER()
	RET()
}
