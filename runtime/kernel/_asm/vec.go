package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// genVec emits the vector helpers of vec.go: two reductions, the element-wise maps and the
// bandwidth probe.
func genVec() {
	in := avx2
	sumLoop(in, "dot", "func(a, b *float32, n int) float32", []string{"a", "b"},
		"Σ_{i<n} a[i]·b[i]", "dotGeneric",
		func(p []reg.Register, disp int, acc reg.VecVirtual) {
			v := in.vec()
			VMOVUPS(Mem{Base: p[0], Disp: disp}, v)
			VFMADD231PS(Mem{Base: p[1], Disp: disp}, v, acc)
		})
	sumLoop(in, "sumSquares", "func(x *float32, n int) float32", []string{"x"},
		"Σ_{i<n} x[i]²", "sumSquaresGeneric",
		func(p []reg.Register, disp int, acc reg.VecVirtual) {
			v := in.vec()
			VMOVUPS(Mem{Base: p[0], Disp: disp}, v)
			VFMADD231PS(v, v, acc)
		})

	mapLoop(in, "axpy", "func(y *float32, a float32, x *float32, n int)", []string{"y", "x"}, "a",
		[]string{"for i := range n { y[i] += a·x[i] }   (fused multiply-add)"}, "axpyGeneric",
		update(in, func(x Op, a, v reg.VecVirtual) { VFMADD231PS(x, a, v) }))
	mapLoop(in, "scale", "func(x *float32, a float32, n int)", []string{"x"}, "a",
		[]string{"for i := range n { x[i] *= a }"}, "scaleGeneric",
		func(p []reg.Register, a reg.VecVirtual) {
			v := in.vec()
			VMULPS(Mem{Base: p[0]}, a, v)
			VMOVUPS(v, Mem{Base: p[0]})
		})
	mapLoop(in, "scaleMul", "func(dst, x *float32, a float32, w *float32, n int)", []string{"dst", "x", "w"}, "a",
		[]string{"for i := range n { dst[i] = (x[i]·a)·w[i] }   (two roundings)"}, "scaleMulGeneric",
		func(p []reg.Register, a reg.VecVirtual) {
			v := in.vec()
			VMULPS(Mem{Base: p[1]}, a, v)
			VMULPS(Mem{Base: p[2]}, v, v)
			VMOVUPS(v, Mem{Base: p[0]})
		})
	mapLoop(in, "add", "func(y, x *float32, n int)", []string{"y", "x"}, "",
		[]string{"for i := range n { y[i] += x[i] }"}, "addGeneric",
		update(in, func(x Op, _, v reg.VecVirtual) { VADDPS(x, v, v) }))
	mapLoop(in, "rope", "func(x *float32, h int, c, s *float32, n int)", []string{"x", "h", "c", "s"}, "",
		[]string{
			"for i := range n { a, b := x[i], x[h+i]",
			"\tx[i] = float32(a·c[i]) − float32(b·s[i]); x[h+i] = float32(b·c[i]) + float32(a·s[i]) }",
			"",
			"(h the half width: products rounded apart, no fused multiply-add)",
		}, "ropeGeneric",
		func(p []reg.Register, _ reg.VecVirtual) {
			a, b, c, s := in.vec(), in.vec(), in.vec(), in.vec()
			VMOVUPS(Mem{Base: p[0]}, a)
			VMOVUPS(Mem{Base: p[1]}, b)
			VMOVUPS(Mem{Base: p[2]}, c)
			VMOVUPS(Mem{Base: p[3]}, s)
			ac, bs, bc, as := in.vec(), in.vec(), in.vec(), in.vec()
			VMULPS(c, a, ac)
			VMULPS(s, b, bs)
			VSUBPS(bs, ac, ac)
			VMULPS(c, b, bc)
			VMULPS(s, a, as)
			VADDPS(as, bc, bc)
			VMOVUPS(ac, Mem{Base: p[0]})
			VMOVUPS(bc, Mem{Base: p[1]})
		})
	streamRead(in)
}

// sumLoop generates the float32 reduction name+ISA over n elements (n a multiple of L, the
// lanes of in): steps of 4L elements into four accumulators, then steps of L into the first;
// the four are added pairwise ((a0+a1)+(a2+a3)) and the lanes reduced by in.reduce. step
// accumulates the L elements at byte offset disp of the pointers into acc.
func sumLoop(in isa, op, sig string, ptrs []string, sum, ref string, step func(p []reg.Register, disp int, acc reg.VecVirtual)) {
	L := in.lanes
	name := op + in.name
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is %s for n a multiple of %d (%d-lane partial sums). Reference: %s.", name, sum, L, L, ref))
	p := make([]reg.Register, len(ptrs))
	for i, s := range ptrs {
		p[i] = Load(Param(s), GP64())
	}
	n := Load(Param("n"), GP64())
	acc := zeroVecs(in, 4)
	cnt := GP64()
	MOVQ(n, cnt)
	SHRQ(U8(log2(4*L)), cnt)
	JZ(LabelRef(name + "tail"))

	Label(name + "big")
	for i := range 4 {
		step(p, 4*L*i, acc[i])
	}
	for _, r := range p {
		ADDQ(U32(16*L), r)
	}
	DECQ(cnt)
	JNZ(LabelRef(name + "big"))

	Label(name + "tail")
	ANDQ(U8(4*L-1), n)
	SHRQ(U8(log2(L)), n)
	JZ(LabelRef(name + "done"))

	Label(name + "small")
	step(p, 0, acc[0])
	for _, r := range p {
		ADDQ(U32(4*L), r)
	}
	DECQ(n)
	JNZ(LabelRef(name + "small"))

	Label(name + "done")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	Store(in.reduce(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// mapLoop generates the element-wise map name+ISA over n elements (n a multiple of L, the
// lanes of in), L at a time. ptrs are the float32 pointer parameters, "h" standing for x+h
// (x the first); scalar, unless empty, is a float32 parameter broadcast over a vector for
// body, which handles the L elements at the pointers.
func mapLoop(in isa, op, sig string, ptrs []string, scalar string, lines []string, ref string, body func(p []reg.Register, a reg.VecVirtual)) {
	L := in.lanes
	name := op + in.name
	doc := []string{fmt.Sprintf("%s is, for n a multiple of %d (reference: %s):", name, L, ref), ""}
	for _, l := range lines {
		if l == "" {
			doc = append(doc, "")
		} else {
			doc = append(doc, "\t"+l)
		}
	}
	routine(name, sig, doc...)
	p := params(ptrs...)
	for i, s := range ptrs {
		if s == "h" {
			LEAQ(Mem{Base: p[0], Index: p[i], Scale: 4}, p[i])
		}
	}
	var a reg.VecVirtual
	if scalar != "" {
		a = in.vec()
		VBROADCASTSS(paramAddr(scalar), a)
	}
	n := Load(Param("n"), GP64())
	loop(name, n, log2(L), 4*L, p, func() { body(p, a) })
	VZEROUPPER()
	RET()
}

// streamRead generates the bandwidth probe: the xor of the 8-byte words of p[:n] (n a
// multiple of 4·32 bytes) in four vector accumulators.
func streamRead(in isa) {
	name := "streamRead" + in.name
	routine(name, "func(p *byte, n int) uint64", name+" is, for n a multiple of 128 (reference: streamReadGeneric):", "",
		"\tfor i := 0; i < n; i += 8 { sum ^= le64(p[i:]) }")
	pn := params("p", "n")
	acc := zeroVecs(in, 4)
	loop(name, pn[1], 7, 128, pn[:1], func() {
		for i, a := range acc {
			VPXOR(Mem{Base: pn[0], Disp: 32 * i}, a, a)
		}
	})
	VPXOR(acc[1], acc[0], acc[0])
	VPXOR(acc[3], acc[2], acc[2])
	VPXOR(acc[2], acc[0], acc[0])
	x1 := XMM()
	VEXTRACTI128(U8(1), acc[0], x1)
	VPXOR(x1, acc[0].AsX(), acc[0].AsX())
	VPSRLDQ(U8(8), acc[0].AsX(), x1)
	VPXOR(x1, acc[0].AsX(), acc[0].AsX())
	r := GP64()
	VMOVQ(acc[0].AsX(), r)
	Store(r, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// update is the body of the maps y[i] = f(y[i], x[i]) (pointers y, x): op combines the
// memory operand of x's vector (and the scalar a) into v, the vector of y.
func update(in isa, op func(x Op, a, v reg.VecVirtual)) func(p []reg.Register, a reg.VecVirtual) {
	return func(p []reg.Register, a reg.VecVirtual) {
		v := in.vec()
		VMOVUPS(Mem{Base: p[0]}, v)
		op(Mem{Base: p[1]}, a, v)
		VMOVUPS(v, Mem{Base: p[0]})
	}
}

// paramAddr is the stack address of the parameter name.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
