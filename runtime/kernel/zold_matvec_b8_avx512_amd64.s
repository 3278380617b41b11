//go:build !purego

// AVX-512 VBMI exact matrix-vector kernel for the 8-bit float types (FP8 E4M3, SFP8) over a
// permuted copy of x (see b8Col in bytefloat.go). Go assembler syntax: operands in AT&T order,
// destination last. The Go declaration in bytefloat_amd64.go shows the loop it implements.

#include "textflag.h"
#include "macros_amd64.h"

// func mvB8AVX512(y *float32, codes *byte, stride int, tab *[256]byte, nanMask, nanCode uint32, xp *float32, rows, steps int)
TEXT ·mvB8AVX512Old(SB), NOSPLIT, $0-64
	MOVQ         y+0(FP), DI
	MOVQ         codes+8(FP), SI
	MOVQ         stride+16(FP), R10
	MOVQ         tab+24(FP), AX
	VMOVDQU64    0(AX), Z24  // low bytes of the bf16 patterns of magnitudes 0–63
	VMOVDQU64    64(AX), Z25 // 64–127
	VMOVDQU64    128(AX), Z26 // high bytes, 0–63
	VMOVDQU64    192(AX), Z27 // 64–127
	MOVL         nanMask+32(FP), AX
	VPBROADCASTD AX, Z28
	MOVL         nanCode+36(FP), AX
	VPBROADCASTD AX, Z29
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z30
	VPXORD       Z31, Z31, Z31
	MOVQ         xp+40(FP), BX
	MOVQ         rows+48(FP), R8
	MOVQ         steps+56(FP), R9
	TESTQ        R8, R8
	JZ           b8done

b8row:
	KXORQ  K3, K3, K3
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ   SI, R12
	MOVQ   BX, R13
	MOVQ   R9, CX
	TESTQ  CX, CX
	JZ     b8rowdone

b8step:
	VMOVDQU8    (SI), Z5
	PREFETCHT0  4096(SI)
	VPANDD      Z28, Z5, Z6
	VPCMPEQB    Z29, Z6, K2
	KORQ        K2, K3, K3
	VMOVDQA64   Z5, Z7
	VPERMI2B    Z25, Z24, Z7 // low bytes
	VMOVDQA64   Z5, Z8
	VPERMI2B    Z27, Z26, Z8 // high bytes
	VPTERNLOGD  $0xf8, Z30, Z5, Z8 // | sign
	VPUNPCKLBW  Z8, Z7, Z9  // bf16 of bytes 16j+0…7
	VPUNPCKHBW  Z8, Z7, Z10 // bytes 16j+8…15
	VPUNPCKLWD  Z9, Z31, Z11
	VFMADD231PS (R13), Z11, Z0
	VPUNPCKHWD  Z9, Z31, Z12
	VFMADD231PS 64(R13), Z12, Z1
	VPUNPCKLWD  Z10, Z31, Z13
	VFMADD231PS 128(R13), Z13, Z2
	VPUNPCKHWD  Z10, Z31, Z14
	VFMADD231PS 192(R13), Z14, Z3
	ADDQ        $64, SI
	ADDQ        $256, R13
	DECQ        CX
	JNZ         b8step

b8rowdone:
	VADDPS   Z1, Z0, Z0
	VADDPS   Z3, Z2, Z2
	VADDPS   Z2, Z0, Z0
	REDUCE16
	KORTESTQ K3, K3
	JZ       b8store
	MOVL     $0x7fc00000, AX // a NaN code in the row: the sum is NaN
	VMOVD    AX, X0

b8store:
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	DECQ   R8
	JNZ    b8row

b8done:
	VZEROUPPER
	RET
