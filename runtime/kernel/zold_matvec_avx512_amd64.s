//go:build !purego

// Hand-written AVX-512 kernels (Go assembler syntax: operands in AT&T order, destination
// last). Each TEXT symbol's Go declaration in arch_amd64.go shows the Go loop it implements.

#include "textflag.h"
#include "macros_amd64.h"

// i4perm interleaves the even-element vector (indices 0–15) and the odd-element vector
// (16–31) of 32 I4 values: lanes 0–15 then 16–31 of the result are elements in order.
DATA i4perm<>+0(SB)/4, $0
DATA i4perm<>+4(SB)/4, $16
DATA i4perm<>+8(SB)/4, $1
DATA i4perm<>+12(SB)/4, $17
DATA i4perm<>+16(SB)/4, $2
DATA i4perm<>+20(SB)/4, $18
DATA i4perm<>+24(SB)/4, $3
DATA i4perm<>+28(SB)/4, $19
DATA i4perm<>+32(SB)/4, $4
DATA i4perm<>+36(SB)/4, $20
DATA i4perm<>+40(SB)/4, $5
DATA i4perm<>+44(SB)/4, $21
DATA i4perm<>+48(SB)/4, $6
DATA i4perm<>+52(SB)/4, $22
DATA i4perm<>+56(SB)/4, $7
DATA i4perm<>+60(SB)/4, $23
DATA i4perm<>+64(SB)/4, $8
DATA i4perm<>+68(SB)/4, $24
DATA i4perm<>+72(SB)/4, $9
DATA i4perm<>+76(SB)/4, $25
DATA i4perm<>+80(SB)/4, $10
DATA i4perm<>+84(SB)/4, $26
DATA i4perm<>+88(SB)/4, $11
DATA i4perm<>+92(SB)/4, $27
DATA i4perm<>+96(SB)/4, $12
DATA i4perm<>+100(SB)/4, $28
DATA i4perm<>+104(SB)/4, $13
DATA i4perm<>+108(SB)/4, $29
DATA i4perm<>+112(SB)/4, $14
DATA i4perm<>+116(SB)/4, $30
DATA i4perm<>+120(SB)/4, $15
DATA i4perm<>+124(SB)/4, $31
GLOBL i4perm<>(SB), RODATA|NOPTR, $128

// SCALECHUNK converts the next min(R14, 16) f16 block scales at DX to float32 at 0(SP),
// leaving the count in CX; it advances DX and decrements R14.
#define SCALECHUNK \
	MOVQ        R14, CX \
	MOVQ        $16, AX \
	CMPQ        CX, AX \
	CMOVQGT     AX, CX \
	MOVL        $1, AX \
	SHLL        CX, AX \
	DECL        AX \
	KMOVW       AX, K1 \
	VMOVDQU16.Z (DX), K1, Y4 \
	VCVTPH2PS   Y4, Z4 \
	VMOVUPS     Z4, (SP) \
	LEAQ        (DX)(CX*2), DX \
	SUBQ        CX, R14

// Q4BLOCK(acc0, acc1) adds one Q4_0 block (codes at SI, x at R13, scale index AX) into two
// accumulators: w = q4tab[nibble]·d exactly as the reference decodes it.
#define Q4BLOCK(a0, a1) \
	VPMOVZXBD       (SI), Z5 \
	VPSRLD          $4, Z5, Z6 \
	VMULPS.BCST     (SP)(AX*4), Z31, Z7 \
	VPERMPS         Z7, Z5, Z8 \
	VPERMPS         Z7, Z6, Z9 \
	VFMADD231PS     (R13), Z8, a0 \
	VFMADD231PS     64(R13), Z9, a1 \
	ADDQ            $16, SI \
	ADDQ            $128, R13 \
	INCQ            AX

// func mvQ4AVX512(y *float32, codes, scales *byte, x *float32, rows, nb int)
TEXT ·mvQ4AVX512Old(SB), NOSPLIT, $64-48
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ scales+16(FP), DX
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ nb+40(FP), R9
	VMOVUPS ·q4tab(SB), Z31
	TESTQ R8, R8
	JZ    q4done

q4row:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ   R9, R14
	MOVQ   BX, R13

q4chunk:
	TESTQ R14, R14
	JZ    q4rowdone
	SCALECHUNK
	XORQ  AX, AX
	MOVQ  CX, R15
	SUBQ  $1, R15

// The software prefetch (4 KiB ahead) keeps more weight lines in flight than the hardware
// prefetcher alone (Q8_0 lm_head 27 → 30 GB/s with 2 threads).
q4pair:
	CMPQ AX, R15
	JGE  q4single
	PREFETCHT0 4096(SI)
	Q4BLOCK(Z0, Z1)
	Q4BLOCK(Z2, Z3)
	JMP  q4pair

q4single:
	CMPQ AX, CX
	JGE  q4chunk
	Q4BLOCK(Z0, Z1)
	JMP  q4chunk

q4rowdone:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	DECQ   R8
	JNZ    q4row

q4done:
	VZEROUPPER
	RET

// Q8BLOCK(acc0, acc1) adds one Q8_0 block: w = float32(q)·d.
#define Q8BLOCK(a0, a1) \
	VPMOVSXBD       (SI), Z5 \
	VPMOVSXBD       16(SI), Z6 \
	VCVTDQ2PS       Z5, Z5 \
	VCVTDQ2PS       Z6, Z6 \
	VBROADCASTSS    (SP)(AX*4), Z7 \
	VMULPS          Z7, Z5, Z5 \
	VMULPS          Z7, Z6, Z6 \
	VFMADD231PS     (R13), Z5, a0 \
	VFMADD231PS     64(R13), Z6, a1 \
	ADDQ            $32, SI \
	ADDQ            $128, R13 \
	INCQ            AX

// func mvQ8AVX512(y *float32, codes, scales *byte, x *float32, rows, nb int)
TEXT ·mvQ8AVX512Old(SB), NOSPLIT, $64-48
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ scales+16(FP), DX
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ nb+40(FP), R9
	TESTQ R8, R8
	JZ    q8done

q8row:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ   R9, R14
	MOVQ   BX, R13

q8chunk:
	TESTQ R14, R14
	JZ    q8rowdone
	SCALECHUNK
	XORQ  AX, AX
	MOVQ  CX, R15
	SUBQ  $1, R15

q8pair:
	CMPQ AX, R15
	JGE  q8single
	PREFETCHT0 4096(SI)
	Q8BLOCK(Z0, Z1)
	Q8BLOCK(Z2, Z3)
	JMP  q8pair

q8single:
	CMPQ AX, CX
	JGE  q8chunk
	Q8BLOCK(Z0, Z1)
	JMP  q8chunk

q8rowdone:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	DECQ   R8
	JNZ    q8row

q8done:
	VZEROUPPER
	RET

// The row kernels of F32, F16, BF16, FP8 and SFP8 are generated (matvec_elem_amd64.s, from
// _asm/rows.go).

// func mvI4AVX512(y *float32, codes *byte, stride int, x *float32, rows, n int)
TEXT ·mvI4AVX512Old(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R10
	MOVQ x+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ n+40(FP), R9
	VMOVUPS ·q4tab(SB), Z31
	VMOVUPS i4perm<>(SB), Z30
	VMOVUPS i4perm<>+64(SB), Z28
	TESTQ   R8, R8
	JZ      i4done

i4row:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	MOVQ   SI, R12
	MOVQ   BX, R13
	MOVQ   R9, CX
	SHRQ   $5, CX
	JZ     i4rowdone

i4loop:
	VPMOVZXBD   (SI), Z5
	VPSRLD      $4, Z5, Z6
	VPERMPS     Z31, Z5, Z5 // even elements 2i: q−8
	VPERMPS     Z31, Z6, Z6 // odd elements 2i+1
	VMOVAPS     Z5, Z7
	VPERMT2PS   Z6, Z30, Z7 // elements 0..15
	VPERMT2PS   Z6, Z28, Z5 // elements 16..31
	VFMADD231PS (R13), Z7, Z0
	VFMADD231PS 64(R13), Z5, Z1
	ADDQ        $16, SI
	ADDQ        $128, R13
	DECQ        CX
	JNZ         i4loop

i4rowdone:
	VADDPS Z1, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	DECQ   R8
	JNZ    i4row

i4done:
	VZEROUPPER
	RET

// func dqQ4AVX512(dst *float32, codes, scales *byte, nb int)
TEXT ·dqQ4AVX512Old(SB), NOSPLIT, $64-32
	MOVQ    dst+0(FP), DI
	MOVQ    codes+8(FP), SI
	MOVQ    scales+16(FP), DX
	MOVQ    nb+24(FP), R14
	VMOVUPS ·q4tab(SB), Z31

dq4chunk:
	TESTQ       R14, R14
	JZ          dq4done
	MOVQ        R14, CX
	MOVQ        $16, AX
	CMPQ        CX, AX
	CMOVQGT     AX, CX
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVDQU16.Z (DX), K1, Y4
	VCVTPH2PS   Y4, Z4
	VMOVUPS     Z4, (SP)
	LEAQ        (DX)(CX*2), DX
	SUBQ        CX, R14
	XORQ        AX, AX

dq4block:
	VPMOVZXBD   (SI), Z5
	VPSRLD      $4, Z5, Z6
	VMULPS.BCST (SP)(AX*4), Z31, Z7
	VPERMPS     Z7, Z5, Z8
	VPERMPS     Z7, Z6, Z9
	VMOVUPS     Z8, (DI)
	VMOVUPS     Z9, 64(DI)
	ADDQ        $16, SI
	ADDQ        $128, DI
	INCQ        AX
	CMPQ        AX, CX
	JLT         dq4block
	JMP         dq4chunk

dq4done:
	VZEROUPPER
	RET

// func dqQ8AVX512(dst *float32, codes, scales *byte, nb int)
TEXT ·dqQ8AVX512Old(SB), NOSPLIT, $64-32
	MOVQ dst+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ scales+16(FP), DX
	MOVQ nb+24(FP), R14

dq8chunk:
	TESTQ       R14, R14
	JZ          dq8done
	MOVQ        R14, CX
	MOVQ        $16, AX
	CMPQ        CX, AX
	CMOVQGT     AX, CX
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVDQU16.Z (DX), K1, Y4
	VCVTPH2PS   Y4, Z4
	VMOVUPS     Z4, (SP)
	LEAQ        (DX)(CX*2), DX
	SUBQ        CX, R14
	XORQ        AX, AX

dq8block:
	VPMOVSXBD    (SI), Z5
	VPMOVSXBD    16(SI), Z6
	VCVTDQ2PS    Z5, Z5
	VCVTDQ2PS    Z6, Z6
	VBROADCASTSS (SP)(AX*4), Z7
	VMULPS       Z7, Z5, Z5
	VMULPS       Z7, Z6, Z6
	VMOVUPS      Z5, (DI)
	VMOVUPS      Z6, 64(DI)
	ADDQ         $32, SI
	ADDQ         $128, DI
	INCQ         AX
	CMPQ         AX, CX
	JLT          dq8block
	JMP          dq8chunk

dq8done:
	VZEROUPPER
	RET

// func dqF16AVX512(dst *float32, codes *byte, n int)
TEXT ·dqF16AVX512Old(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   dqf16done

dqf16loop:
	VCVTPH2PS (SI), Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       dqf16loop

dqf16done:
	VZEROUPPER
	RET

// func dqBF16AVX512(dst *float32, codes *byte, n int)
TEXT ·dqBF16AVX512Old(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   dqbf16done

dqbf16loop:
	VPMOVZXWD (SI), Z0
	VPSLLD    $16, Z0, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       dqbf16loop

dqbf16done:
	VZEROUPPER
	RET

// func dqFP8AVX512(dst *float32, codes *byte, n int, s float32)
TEXT ·dqFP8AVX512Old(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         codes+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Z31
	MOVL         $0x87f00000, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x7b800000, AX // 2^120
	VPBROADCASTD AX, Z30
	MOVL         $0x7ff00000, AX
	VPBROADCASTD AX, Z28
	MOVL         $0x07f00000, AX // magnitude bits of the NaN codes
	VPBROADCASTD AX, Z27
	MOVL         $0x7fc00000, AX
	VPBROADCASTD AX, Z26
	SHRQ         $4, CX
	JZ           dqfp8done

dqfp8loop:
	VPMOVSXBD (SI), Z0
	VPSLLD    $20, Z0, Z0
	VPANDD    Z29, Z0, Z0
	VPANDD    Z28, Z0, Z1
	VPCMPEQD  Z27, Z1, K1
	VMULPS    Z30, Z0, Z0
	VMULPS    Z31, Z0, Z0
	VMOVAPS   Z26, K1, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $16, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       dqfp8loop

dqfp8done:
	VZEROUPPER
	RET

// func dqI4AVX512(dst *float32, codes *byte, n int, s float32)
TEXT ·dqI4AVX512Old(SB), NOSPLIT, $0-28
	MOVQ        dst+0(FP), DI
	MOVQ        codes+8(FP), SI
	MOVQ        n+16(FP), CX
	VMOVUPS     ·q4tab(SB), Z31
	VMULPS.BCST s+24(FP), Z31, Z31
	VMOVUPS     i4perm<>(SB), Z30
	VMOVUPS     i4perm<>+64(SB), Z28
	SHRQ        $5, CX
	JZ          dqi4done

dqi4loop:
	VPMOVZXBD (SI), Z5
	VPSRLD    $4, Z5, Z6
	VPERMPS   Z31, Z5, Z5
	VPERMPS   Z31, Z6, Z6
	VMOVAPS   Z5, Z7
	VPERMT2PS Z6, Z30, Z7
	VPERMT2PS Z6, Z28, Z5
	VMOVUPS   Z7, (DI)
	VMOVUPS   Z5, 64(DI)
	ADDQ      $16, SI
	ADDQ      $128, DI
	DECQ      CX
	JNZ       dqi4loop

dqi4done:
	VZEROUPPER
	RET
