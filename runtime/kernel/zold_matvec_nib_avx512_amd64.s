//go:build !purego

// AVX-512 exact matrix-vector kernels for the nibble types (Q4_0, I4) over a permuted copy of
// x (see nibPerm in nibble.go). Go assembler syntax: operands in AT&T order, destination last.
// Each TEXT symbol's Go declaration in nibble_amd64.go shows the Go loop it implements.

#include "textflag.h"
#include "macros_amd64.h"

// blk4 spreads four block scales over 16 lanes: lane k takes scale k/4.
DATA blk4<>+0(SB)/4, $0
DATA blk4<>+4(SB)/4, $0
DATA blk4<>+8(SB)/4, $0
DATA blk4<>+12(SB)/4, $0
DATA blk4<>+16(SB)/4, $1
DATA blk4<>+20(SB)/4, $1
DATA blk4<>+24(SB)/4, $1
DATA blk4<>+28(SB)/4, $1
DATA blk4<>+32(SB)/4, $2
DATA blk4<>+36(SB)/4, $2
DATA blk4<>+40(SB)/4, $2
DATA blk4<>+44(SB)/4, $2
DATA blk4<>+48(SB)/4, $3
DATA blk4<>+52(SB)/4, $3
DATA blk4<>+56(SB)/4, $3
DATA blk4<>+60(SB)/4, $3
GLOBL blk4<>(SB), RODATA|NOPTR, $64

// NIBS(sh, off, acc) decodes nibble sh/4 of every dword of Z5 (the 64 code bytes of a step)
// through the value table and multiply-adds it with the permuted activations at R13+off.
#define NIBS(sh, off, acc) \
	VPSRLD      $sh, Z5, Z6 \
	VPERMPS     Z31, Z6, Z7 \
	VFMADD231PS off(R13), Z7, acc

// func mvQ4XAVX512(y *float32, codes *byte, stride int, scales *byte, nb int, xp *float32, rows, steps int)
TEXT ·mvQ4XAVX512Old(SB), NOSPLIT, $0-64
	MOVQ    y+0(FP), DI
	MOVQ    codes+8(FP), SI
	MOVQ    stride+16(FP), R10
	MOVQ    scales+24(FP), DX
	MOVQ    nb+32(FP), R11
	SHLQ    $1, R11
	MOVQ    xp+40(FP), BX
	MOVQ    rows+48(FP), R8
	MOVQ    steps+56(FP), R9
	VMOVUPS ·q4tab(SB), Z31
	VMOVUPS blk4<>(SB), Z30
	TESTQ   R8, R8
	JZ      q4xdone

q4xrow:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	MOVQ   SI, R12
	MOVQ   DX, R14
	MOVQ   BX, R13
	MOVQ   R9, CX
	TESTQ  CX, CX
	JZ     q4xrowdone

q4xstep:
	VMOVDQU32   (SI), Z5
	PREFETCHT0  4096(SI)
	VPERMPS     Z31, Z5, Z7
	VMULPS      (R13), Z7, Z16
	VPSRLD      $4, Z5, Z6
	VPERMPS     Z31, Z6, Z7
	VMULPS      64(R13), Z7, Z17
	NIBS(8, 128, Z16)
	NIBS(12, 192, Z17)
	NIBS(16, 256, Z16)
	NIBS(20, 320, Z17)
	NIBS(24, 384, Z16)
	NIBS(28, 448, Z17)
	VADDPS      Z17, Z16, Z16
	VCVTPH2PS   (R14), X10
	VPERMPS     Z10, Z30, Z10
	VFMADD231PS Z16, Z10, Z0
	ADDQ        $64, SI
	ADDQ        $512, R13
	ADDQ        $8, R14
	DECQ        CX
	JZ          q4xrowdone

	VMOVDQU32   (SI), Z5
	PREFETCHT0  4096(SI)
	VPERMPS     Z31, Z5, Z7
	VMULPS      (R13), Z7, Z18
	VPSRLD      $4, Z5, Z6
	VPERMPS     Z31, Z6, Z7
	VMULPS      64(R13), Z7, Z19
	NIBS(8, 128, Z18)
	NIBS(12, 192, Z19)
	NIBS(16, 256, Z18)
	NIBS(20, 320, Z19)
	NIBS(24, 384, Z18)
	NIBS(28, 448, Z19)
	VADDPS      Z19, Z18, Z18
	VCVTPH2PS   (R14), X11
	VPERMPS     Z11, Z30, Z11
	VFMADD231PS Z18, Z11, Z1
	ADDQ        $64, SI
	ADDQ        $512, R13
	ADDQ        $8, R14
	DECQ        CX
	JNZ         q4xstep

q4xrowdone:
	VADDPS Z1, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	ADDQ   R11, DX
	DECQ   R8
	JNZ    q4xrow

q4xdone:
	VZEROUPPER
	RET

// func mvI4XAVX512(y *float32, codes *byte, stride int, xp *float32, rows, steps int)
TEXT ·mvI4XAVX512Old(SB), NOSPLIT, $0-48
	MOVQ    y+0(FP), DI
	MOVQ    codes+8(FP), SI
	MOVQ    stride+16(FP), R10
	MOVQ    xp+24(FP), BX
	MOVQ    rows+32(FP), R8
	MOVQ    steps+40(FP), R9
	VMOVUPS ·q4tab(SB), Z31
	TESTQ   R8, R8
	JZ      i4xdone

i4xrow:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ   SI, R12
	MOVQ   BX, R13
	MOVQ   R9, CX
	TESTQ  CX, CX
	JZ     i4xrowdone

i4xstep:
	VMOVDQU32   (SI), Z5
	PREFETCHT0  4096(SI)
	VPERMPS     Z31, Z5, Z7
	VFMADD231PS (R13), Z7, Z0
	NIBS(4, 64, Z1)
	NIBS(8, 128, Z2)
	NIBS(12, 192, Z3)
	NIBS(16, 256, Z0)
	NIBS(20, 320, Z1)
	NIBS(24, 384, Z2)
	NIBS(28, 448, Z3)
	ADDQ        $64, SI
	ADDQ        $512, R13
	DECQ        CX
	JNZ         i4xstep

i4xrowdone:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	DECQ   R8
	JNZ    i4xrow

i4xdone:
	VZEROUPPER
	RET

// blk2 spreads two block scales over 16 lanes: lane k takes scale k/8.
DATA blk2<>+0(SB)/4, $0
DATA blk2<>+4(SB)/4, $0
DATA blk2<>+8(SB)/4, $0
DATA blk2<>+12(SB)/4, $0
DATA blk2<>+16(SB)/4, $0
DATA blk2<>+20(SB)/4, $0
DATA blk2<>+24(SB)/4, $0
DATA blk2<>+28(SB)/4, $0
DATA blk2<>+32(SB)/4, $1
DATA blk2<>+36(SB)/4, $1
DATA blk2<>+40(SB)/4, $1
DATA blk2<>+44(SB)/4, $1
DATA blk2<>+48(SB)/4, $1
DATA blk2<>+52(SB)/4, $1
DATA blk2<>+56(SB)/4, $1
DATA blk2<>+60(SB)/4, $1
GLOBL blk2<>(SB), RODATA|NOPTR, $64

// Q8STEP(t0, t1, s, acc) multiplies the 64 int8 codes at SI (2 blocks; byte t of dword k is
// column 4k+t) with the permuted activations at R13 and adds the block-scaled sum into acc.
#define Q8STEP(t0, t1, xs, zs, acc) \
	VMOVDQU32   (SI), Z5 \
	PREFETCHT0  4096(SI) \
	VPSLLD      $24, Z5, Z6 \
	VPSRAD      $24, Z6, Z6 \
	VCVTDQ2PS   Z6, Z6 \
	VMULPS      (R13), Z6, t0 \
	VPSLLD      $16, Z5, Z7 \
	VPSRAD      $24, Z7, Z7 \
	VCVTDQ2PS   Z7, Z7 \
	VMULPS      64(R13), Z7, t1 \
	VPSLLD      $8, Z5, Z8 \
	VPSRAD      $24, Z8, Z8 \
	VCVTDQ2PS   Z8, Z8 \
	VFMADD231PS 128(R13), Z8, t0 \
	VPSRAD      $24, Z5, Z9 \
	VCVTDQ2PS   Z9, Z9 \
	VFMADD231PS 192(R13), Z9, t1 \
	VADDPS      t1, t0, t0 \
	VMOVD       (R14), xs \
	VCVTPH2PS   xs, xs \
	VPERMPS     zs, Z30, zs \
	VFMADD231PS t0, zs, acc \
	ADDQ        $64, SI \
	ADDQ        $256, R13 \
	ADDQ        $4, R14

// func mvQ8XAVX512(y *float32, codes *byte, stride int, scales *byte, nb int, xp *float32, rows, steps int)
TEXT ·mvQ8XAVX512Old(SB), NOSPLIT, $0-64
	MOVQ    y+0(FP), DI
	MOVQ    codes+8(FP), SI
	MOVQ    stride+16(FP), R10
	MOVQ    scales+24(FP), DX
	MOVQ    nb+32(FP), R11
	SHLQ    $1, R11
	MOVQ    xp+40(FP), BX
	MOVQ    rows+48(FP), R8
	MOVQ    steps+56(FP), R9
	VMOVUPS blk2<>(SB), Z30
	TESTQ   R8, R8
	JZ      q8xdone

q8xrow:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	MOVQ   SI, R12
	MOVQ   DX, R15
	MOVQ   DX, R14
	MOVQ   BX, R13
	MOVQ   R9, CX
	TESTQ  CX, CX
	JZ     q8xrowdone

q8xstep:
	Q8STEP(Z16, Z17, X10, Z10, Z0)
	DECQ CX
	JZ   q8xrowdone
	Q8STEP(Z18, Z19, X11, Z11, Z1)
	DECQ CX
	JNZ  q8xstep

q8xrowdone:
	VADDPS Z1, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	LEAQ   (R12)(R10*1), SI
	ADDQ   R11, DX
	DECQ   R8
	JNZ    q8xrow

q8xdone:
	VZEROUPPER
	RET
