//go:build !purego

// AVX2 kernels of ModeInt8 (VPMADDUBSW/VPMADDWD instead of VPDPBUSD); the Go declarations in
// int8_amd64.go show the loops they implement (reference: dotRowInt8).

#include "textflag.h"
#include "macros_amd64.h"

#define PFD4 8192
#define PFD8 4096

// idxq4 spreads floats 0,1 (first 32 bytes) and 2,3 (next 32) over four lanes each; idxq8
// broadcasts float b (32 bytes per b).
DATA idxq4<>+0(SB)/8, $0x0000000000000000
DATA idxq4<>+8(SB)/8, $0x0000000000000000
DATA idxq4<>+16(SB)/8, $0x0000000100000001
DATA idxq4<>+24(SB)/8, $0x0000000100000001
DATA idxq4<>+32(SB)/8, $0x0000000200000002
DATA idxq4<>+40(SB)/8, $0x0000000200000002
DATA idxq4<>+48(SB)/8, $0x0000000300000003
DATA idxq4<>+56(SB)/8, $0x0000000300000003
GLOBL idxq4<>(SB), RODATA|NOPTR, $64

DATA idxq8<>+0(SB)/8, $0x0000000000000000
DATA idxq8<>+8(SB)/8, $0x0000000000000000
DATA idxq8<>+16(SB)/8, $0x0000000000000000
DATA idxq8<>+24(SB)/8, $0x0000000000000000
DATA idxq8<>+32(SB)/8, $0x0000000100000001
DATA idxq8<>+40(SB)/8, $0x0000000100000001
DATA idxq8<>+48(SB)/8, $0x0000000100000001
DATA idxq8<>+56(SB)/8, $0x0000000100000001
DATA idxq8<>+64(SB)/8, $0x0000000200000002
DATA idxq8<>+72(SB)/8, $0x0000000200000002
DATA idxq8<>+80(SB)/8, $0x0000000200000002
DATA idxq8<>+88(SB)/8, $0x0000000200000002
DATA idxq8<>+96(SB)/8, $0x0000000300000003
DATA idxq8<>+104(SB)/8, $0x0000000300000003
DATA idxq8<>+112(SB)/8, $0x0000000300000003
DATA idxq8<>+120(SB)/8, $0x0000000300000003
GLOBL idxq8<>(SB), RODATA|NOPTR, $128

// NIBHALF(h, hx, hy) computes the 8 int32 lanes of half h (byte offset h of the codes, hx/hy of
// the low/high activation halves) of a nibble step into Y2: corr + Σ u·q over 4+4 bytes.
#define NIBHALF(h, hx, hy) \
	VMOVDQU    h(SI)(R13*1), Y2 \
	VPSRLW     $4, Y2, Y3 \
	VPAND      Y15, Y2, Y2 \
	VPAND      Y15, Y3, Y3 \
	VPMADDUBSW hx(BX)(R13*2), Y2, Y2 \
	VPMADDUBSW hy(BX)(R13*2), Y3, Y3 \
	VPADDW     Y3, Y2, Y2 \
	VPMADDWD   Y14, Y2, Y2 \
	VPADDD     h(R10)(R13*1), Y2, Y2 \
	VCVTDQ2PS  Y2, Y2

// Register use as in the VNNI kernels: DI y, SI codes, R9 stride, DX scales, R15 scale
// stride, BX xa, R10 corr, R11 dl, R8 rows, R12 end index, R13 step index, CX scale pointer.

// func mvQ4AVX2i8(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)
TEXT ·mvQ4AVX2i8Old(SB), NOSPLIT, $0-80
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R9
	MOVQ scales+24(FP), DX
	MOVQ nb+32(FP), R15
	SHLQ $1, R15
	MOVQ xa+40(FP), BX
	MOVQ corr+48(FP), R10
	MOVQ dl+56(FP), R11
	MOVQ rows+64(FP), R8
	MOVQ steps+72(FP), R12
	SHLQ $6, R12
	MOVL         $0x0f0f0f0f, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x00010001, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      idxq4<>+0(SB), Y13
	VMOVDQU      idxq4<>+32(SB), Y12
	TESTQ R8, R8
	JZ    q4adone

q4arow:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ   R13, R13
	MOVQ   DX, CX

q4astep:
	PREFETCHT0  PFD4(SI)(R13*1)
	VCVTPH2PS   (CX), X8
	VPERMPS     Y8, Y13, Y9
	VPERMPS     Y8, Y12, Y10
	VMULPS      (R11)(R13*1), Y9, Y9
	VMULPS      32(R11)(R13*1), Y10, Y10
	NIBHALF(0, 0, 64)
	VFMADD231PS Y9, Y2, Y0
	NIBHALF(32, 32, 96)
	VFMADD231PS Y10, Y2, Y1
	ADDQ        $8, CX
	ADDQ        $64, R13
	CMPQ        R13, R12
	JLT         q4astep

	VADDPS Y1, Y0, Y0
	REDUCE8
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   R9, SI
	ADDQ   R15, DX
	DECQ   R8
	JNZ    q4arow

q4adone:
	VZEROUPPER
	RET

// func mvI4AVX2i8(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)
TEXT ·mvI4AVX2i8Old(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R9
	MOVQ xa+24(FP), BX
	MOVQ corr+32(FP), R10
	MOVQ dl+40(FP), R11
	MOVQ rows+48(FP), R8
	MOVQ steps+56(FP), R12
	SHLQ $6, R12
	MOVL         $0x0f0f0f0f, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x00010001, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	TESTQ R8, R8
	JZ    i4adone

i4arow:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ   R13, R13

i4astep:
	PREFETCHT0  PFD4(SI)(R13*1)
	NIBHALF(0, 0, 64)
	VFMADD231PS (R11)(R13*1), Y2, Y0
	NIBHALF(32, 32, 96)
	VFMADD231PS 32(R11)(R13*1), Y2, Y1
	ADDQ        $64, R13
	CMPQ        R13, R12
	JLT         i4astep

	VADDPS Y1, Y0, Y0
	REDUCE8
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   R9, SI
	DECQ   R8
	JNZ    i4arow

i4adone:
	VZEROUPPER
	RET

// Q8BLK(b, idx, acc): block b of a Q8_0 step with the sign trick: |w| (unsigned) times
// q·sign(w) (signed), pairs summed by VPMADDUBSW (|sum| ≤ 2·128·127, no saturation).
#define Q8BLK(b, idx, acc) \
	VMOVDQU     b(SI)(R13*1), Y2 \
	VPABSB      Y2, Y3 \
	VMOVDQU     b(BX)(R13*1), Y4 \
	VPSIGNB     Y2, Y4, Y4 \
	VPMADDUBSW  Y4, Y3, Y3 \
	VPMADDWD    Y14, Y3, Y3 \
	VCVTDQ2PS   Y3, Y3 \
	VPERMPS     Y8, idx, Y5 \
	VMULPS      b(R11)(R13*1), Y5, Y5 \
	VFMADD231PS Y5, Y3, acc

// func mvQ8AVX2i8(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)
TEXT ·mvQ8AVX2i8Old(SB), NOSPLIT, $0-80
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R9
	MOVQ scales+24(FP), DX
	MOVQ nb+32(FP), R15
	SHLQ $1, R15
	MOVQ xa+40(FP), BX
	MOVQ dl+56(FP), R11
	MOVQ rows+64(FP), R8
	MOVQ steps+72(FP), R12
	SHLQ $7, R12
	MOVL         $0x00010001, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      idxq8<>+0(SB), Y9
	VMOVDQU      idxq8<>+32(SB), Y10
	VMOVDQU      idxq8<>+64(SB), Y11
	VMOVDQU      idxq8<>+96(SB), Y12
	TESTQ R8, R8
	JZ    q8adone

q8arow:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ   R13, R13
	MOVQ   DX, CX

q8astep:
	PREFETCHT0 PFD8(SI)(R13*1)
	PREFETCHT0 PFD8+64(SI)(R13*1)
	VCVTPH2PS  (CX), X8
	Q8BLK(0, Y9, Y0)
	Q8BLK(32, Y10, Y1)
	Q8BLK(64, Y11, Y0)
	Q8BLK(96, Y12, Y1)
	ADDQ       $8, CX
	ADDQ       $128, R13
	CMPQ       R13, R12
	JLT        q8astep

	VADDPS Y1, Y0, Y0
	REDUCE8
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   R9, SI
	ADDQ   R15, DX
	DECQ   R8
	JNZ    q8arow

q8adone:
	VZEROUPPER
	RET
