//go:build !purego

#include "textflag.h"
#include "macros_amd64.h"

// Hand-written AVX2+FMA kernels for I4, FP8 E4M3 and SFP8 rows (unscaled sums); the Go
// declarations in bytetypes_amd64.go show the loops.

#define BCAST(v, y) \
	MOVL         $v, AX \
	VMOVD        AX, X15 \
	VPBROADCASTD X15, y

// I4DEC(off, a, b) decodes the 16 nibbles of the 8 bytes at off(SI) (byte i: columns 2i, 2i+1)
// and multiply-adds them with x at off*2(R13)… into a (columns 0–7) and b (8–15).
#define I4DEC(off, a, b) \
	VPMOVZXBD   off(SI), Y5 \
	VPAND       Y14, Y5, Y6 \
	VPSRLD      $4, Y5, Y7 \
	VCVTDQ2PS   Y6, Y6 \
	VCVTDQ2PS   Y7, Y7 \
	VSUBPS      Y13, Y6, Y6 \
	VSUBPS      Y13, Y7, Y7 \
	VUNPCKLPS   Y7, Y6, Y8 \
	VUNPCKHPS   Y7, Y6, Y9 \
	VPERM2F128  $0x20, Y9, Y8, Y10 \
	VPERM2F128  $0x31, Y9, Y8, Y11 \
	VFMADD231PS (off*8)(R13), Y10, a \
	VFMADD231PS (off*8+32)(R13), Y11, b

// func mvI4AVX2(y *float32, codes *byte, stride int, x *float32, rows, n int)
TEXT ·mvI4AVX2Old(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R10
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ n+40(FP), R9
	BCAST(0x0f, Y14)
	BCAST(0x41000000, Y13) // 8.0
	TESTQ R8, R8
	JZ    i42done

i42row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, R12
	MOVQ   BX, R13
	MOVQ   R9, CX
	SHRQ   $5, CX
	JZ     i42tail

i42loop32:
	I4DEC(0, Y0, Y1)
	I4DEC(8, Y2, Y3)
	ADDQ $16, SI
	ADDQ $128, R13
	DECQ CX
	JNZ  i42loop32

i42tail:
	TESTQ $16, R9
	JZ    i42rowdone
	I4DEC(0, Y0, Y1)

i42rowdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	REDUCE8
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	DECQ   R8
	JNZ    i42row

i42done:
	VZEROUPPER
	RET

// FP8DEC(off, acc) decodes the 8 E4M3 codes at off(SI): magnitude bits (c&0x7f)<<20 times
// 2^120 (exact for normals and subnormals), sign c&0x80 moved to bit 31; NaN codes
// (c&0x7f == 0x7f) are or-ed into Y12.
#define FP8DEC(off, acc) \
	VPMOVZXBD   off(SI), Y5 \
	VPAND       Y14, Y5, Y6 \
	VPCMPEQD    Y14, Y6, Y7 \
	VPOR        Y7, Y12, Y12 \
	VPSLLD      $20, Y6, Y6 \
	VMULPS      Y13, Y6, Y6 \
	VPSLLD      $24, Y5, Y7 \
	VPAND       Y11, Y7, Y7 \
	VPOR        Y7, Y6, Y6 \
	VFMADD231PS (off*4)(R13), Y6, acc

// func mvFP8AVX2(y *float32, codes *byte, stride int, x *float32, rows, n int)
TEXT ·mvFP8AVX2Old(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R10
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ n+40(FP), R9
	BCAST(0x7f, Y14)
	BCAST(0x7b800000, Y13) // 2^120
	BCAST(0x80000000, Y11)
	TESTQ R8, R8
	JZ    fp82done

fp82row:
	VPXOR  Y12, Y12, Y12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, R12
	MOVQ   BX, R13
	MOVQ   R9, CX
	SHRQ   $4, CX
	JZ     fp82tail

fp82loop16:
	FP8DEC(0, Y0)
	FP8DEC(8, Y1)
	ADDQ $16, SI
	ADDQ $64, R13
	DECQ CX
	JNZ  fp82loop16

fp82tail:
	TESTQ $8, R9
	JZ    fp82rowdone
	FP8DEC(0, Y0)

fp82rowdone:
	VADDPS Y1, Y0, Y0
	REDUCE8
	VPTEST Y12, Y12
	JZ     fp82store
	MOVL   $0x7fc00000, AX // a NaN code in the row: the sum is NaN
	VMOVD  AX, X0

fp82store:
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	DECQ   R8
	JNZ    fp82row

fp82done:
	VZEROUPPER
	RET

// SFPDEC(off, acc) decodes the 8 SFP8 codes at off(SI): c = code&0x7f; bit 6 clear:
// c<<21 + 0x34000000, set: c<<20 + 0x38000000, c = 0: +0; sign bit 7 to bit 31. The reserved
// code 0x80 is or-ed into Y12.
#define SFPDEC(off, acc) \
	VPMOVZXBD   off(SI), Y5 \
	VPCMPEQD    Y10, Y5, Y7 \
	VPOR        Y7, Y12, Y12 \
	VPAND       Y14, Y5, Y6 \
	VPSLLD      $21, Y6, Y8 \
	VPADDD      Y13, Y8, Y8 \
	VPSLLD      $20, Y6, Y9 \
	VPADDD      Y15, Y9, Y9 \
	VPSLLD      $25, Y6, Y7 \
	VBLENDVPS   Y7, Y9, Y8, Y8 \
	VPCMPEQD    Y4, Y6, Y7 \
	VPANDN      Y8, Y7, Y8 \
	VPSLLD      $24, Y5, Y7 \
	VPAND       Y11, Y7, Y7 \
	VPOR        Y7, Y8, Y8 \
	VFMADD231PS (off*4)(R13), Y8, acc

// func mvSFP8AVX2(y *float32, codes *byte, stride int, x *float32, rows, n int)
TEXT ·mvSFP8AVX2Old(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R10
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ n+40(FP), R9
	BCAST(0x7f, Y14)
	BCAST(0x34000000, Y13)
	BCAST(0x80000000, Y11)
	BCAST(0x80, Y10)
	MOVL         $0x38000000, AX
	VMOVD        AX, X3
	VPBROADCASTD X3, Y15
	VPXOR        Y4, Y4, Y4
	TESTQ R8, R8
	JZ    sfp82done

sfp82row:
	VPXOR  Y12, Y12, Y12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   SI, R12
	MOVQ   BX, R13
	MOVQ   R9, CX
	SHRQ   $4, CX
	JZ     sfp82tail

sfp82loop16:
	SFPDEC(0, Y0)
	SFPDEC(8, Y1)
	ADDQ $16, SI
	ADDQ $64, R13
	DECQ CX
	JNZ  sfp82loop16

sfp82tail:
	TESTQ $8, R9
	JZ    sfp82rowdone
	SFPDEC(0, Y0)

sfp82rowdone:
	VADDPS Y1, Y0, Y0
	REDUCE8
	VPTEST Y12, Y12
	JZ     sfp82store
	MOVL   $0x7fc00000, AX
	VMOVD  AX, X0

sfp82store:
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	DECQ   R8
	JNZ    sfp82row

sfp82done:
	VZEROUPPER
	RET
