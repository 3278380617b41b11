//go:build !purego

// Hand-written AVX-512 VNNI kernels of ModeInt8; the Go declarations in int8_amd64.go show the
// loops they implement (reference: dotRowInt8).

#include "textflag.h"
#include "macros_amd64.h"

// PFD4 and PFD8 are the software prefetch distances of the weight streams in bytes (nibble
// and byte codes): the hardware prefetcher alone keeps too few lines in flight to stream
// faster than ~17 GB/s per core while the kernel also computes.
#define PFD4 8192
#define PFD8 4096

// perm4 spreads four floats over four lanes each; perm8lo/perm8hi spread floats 0,1 and 2,3
// over eight lanes each.
DATA perm4<>+0(SB)/8, $0x0000000000000000
DATA perm4<>+8(SB)/8, $0x0000000000000000
DATA perm4<>+16(SB)/8, $0x0000000100000001
DATA perm4<>+24(SB)/8, $0x0000000100000001
DATA perm4<>+32(SB)/8, $0x0000000200000002
DATA perm4<>+40(SB)/8, $0x0000000200000002
DATA perm4<>+48(SB)/8, $0x0000000300000003
DATA perm4<>+56(SB)/8, $0x0000000300000003
GLOBL perm4<>(SB), RODATA|NOPTR, $64

DATA perm8<>+0(SB)/8, $0x0000000000000000
DATA perm8<>+8(SB)/8, $0x0000000000000000
DATA perm8<>+16(SB)/8, $0x0000000000000000
DATA perm8<>+24(SB)/8, $0x0000000000000000
DATA perm8<>+32(SB)/8, $0x0000000100000001
DATA perm8<>+40(SB)/8, $0x0000000100000001
DATA perm8<>+48(SB)/8, $0x0000000100000001
DATA perm8<>+56(SB)/8, $0x0000000100000001
DATA perm8<>+64(SB)/8, $0x0000000200000002
DATA perm8<>+72(SB)/8, $0x0000000200000002
DATA perm8<>+80(SB)/8, $0x0000000200000002
DATA perm8<>+88(SB)/8, $0x0000000200000002
DATA perm8<>+96(SB)/8, $0x0000000300000003
DATA perm8<>+104(SB)/8, $0x0000000300000003
DATA perm8<>+112(SB)/8, $0x0000000300000003
DATA perm8<>+120(SB)/8, $0x0000000300000003
GLOBL perm8<>(SB), RODATA|NOPTR, $128

DATA iota16<>+0(SB)/8, $0x0000000100000000
DATA iota16<>+8(SB)/8, $0x0000000300000002
DATA iota16<>+16(SB)/8, $0x0000000500000004
DATA iota16<>+24(SB)/8, $0x0000000700000006
DATA iota16<>+32(SB)/8, $0x0000000900000008
DATA iota16<>+40(SB)/8, $0x0000000b0000000a
DATA iota16<>+48(SB)/8, $0x0000000d0000000c
DATA iota16<>+56(SB)/8, $0x0000000f0000000e
GLOBL iota16<>(SB), RODATA|NOPTR, $64

// Register use of the three kernels: DI y, SI codes of the current row, DX its block scales,
// R9 code stride, R15 scale stride, BX xa, R10 corr, R11 dl, R8 rows left, R12 end index,
// R13 index of the step (64 per Q4_0/I4 step, 128 per Q8_0 step), CX scale pointer.

// NIBSTEP(acc, t0, t1, t2) runs one Q4_0/I4 step up to the int32 lanes in t2.
#define NIBSTEP(t0, t1, t2) \
	VMOVDQU64 (SI)(R13*1), t0 \
	VPSRLW    $4, t0, t1 \
	VPANDD    Z31, t0, t0 \
	VPANDD    Z31, t1, t1 \
	VMOVDQU32 (R10)(R13*1), t2 \
	VPDPBUSD  (BX)(R13*2), t0, t2 \
	VPDPBUSD  64(BX)(R13*2), t1, t2 \
	VCVTDQ2PS t2, t2

#define Q4STEP(acc, t0, t1, t2, t3) \
	PREFETCHT0  PFD4(SI)(R13*1) \
	NIBSTEP(t0, t1, t2) \
	VCVTPH2PS   (CX), X3 \
	VPERMPS     Z3, Z30, t3 \
	VMULPS      (R11)(R13*1), t3, t3 \
	VFMADD231PS t3, t2, acc \
	ADDQ        $8, CX \
	ADDQ        $64, R13

// func mvQ4VNNI(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)
TEXT ·mvQ4VNNIOld(SB), NOSPLIT, $0-80
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
	VPBROADCASTD AX, Z31
	VMOVDQU32    perm4<>(SB), Z30
	TESTQ R8, R8
	JZ    q4vdone

q4vrow:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	XORQ   R13, R13
	MOVQ   DX, CX
	MOVQ   R12, AX
	SUBQ   $64, AX

q4vpair:
	CMPQ R13, AX
	JGE  q4vsingle
	Q4STEP(Z0, Z4, Z5, Z6, Z7)
	Q4STEP(Z1, Z8, Z9, Z10, Z11)
	JMP  q4vpair

q4vsingle:
	CMPQ R13, R12
	JGE  q4vrowdone
	Q4STEP(Z0, Z4, Z5, Z6, Z7)

q4vrowdone:
	VADDPS Z1, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   R9, SI
	ADDQ   R15, DX
	DECQ   R8
	JNZ    q4vrow

q4vdone:
	VZEROUPPER
	RET

#define I4STEP(acc, t0, t1, t2) \
	PREFETCHT0  PFD4(SI)(R13*1) \
	NIBSTEP(t0, t1, t2) \
	VFMADD231PS (R11)(R13*1), t2, acc \
	ADDQ        $64, R13

// func mvI4VNNI(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)
TEXT ·mvI4VNNIOld(SB), NOSPLIT, $0-64
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
	VPBROADCASTD AX, Z31
	TESTQ R8, R8
	JZ    i4vdone

i4vrow:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	XORQ   R13, R13
	MOVQ   R12, AX
	SUBQ   $64, AX

i4vpair:
	CMPQ R13, AX
	JGE  i4vsingle
	I4STEP(Z0, Z4, Z5, Z6)
	I4STEP(Z1, Z8, Z9, Z10)
	JMP  i4vpair

i4vsingle:
	CMPQ R13, R12
	JGE  i4vrowdone
	I4STEP(Z0, Z4, Z5, Z6)

i4vrowdone:
	VADDPS Z1, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   R9, SI
	DECQ   R8
	JNZ    i4vrow

i4vdone:
	VZEROUPPER
	RET

// func mvQ8VNNI(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)
TEXT ·mvQ8VNNIOld(SB), NOSPLIT, $0-80
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
	SHLQ $7, R12
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z29
	VMOVDQU32    perm8<>(SB), Z28
	VMOVDQU32    perm8<>+64(SB), Z27
	TESTQ R8, R8
	JZ    q8vdone

q8vrow:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	XORQ   R13, R13
	MOVQ   DX, CX

q8vstep:
	PREFETCHT0  PFD8(SI)(R13*1)
	PREFETCHT0  PFD8+64(SI)(R13*1)
	VPXORD      (SI)(R13*1), Z29, Z4
	VPXORD      64(SI)(R13*1), Z29, Z5
	VMOVDQU32   (R10)(R13*1), Z6
	VMOVDQU32   64(R10)(R13*1), Z7
	VPDPBUSD    (BX)(R13*1), Z4, Z6
	VPDPBUSD    64(BX)(R13*1), Z5, Z7
	VCVTDQ2PS   Z6, Z6
	VCVTDQ2PS   Z7, Z7
	VCVTPH2PS   (CX), X3
	VPERMPS     Z3, Z28, Z8
	VPERMPS     Z3, Z27, Z9
	VMULPS      (R11)(R13*1), Z8, Z8
	VMULPS      64(R11)(R13*1), Z9, Z9
	VFMADD231PS Z8, Z6, Z0
	VFMADD231PS Z9, Z7, Z1
	ADDQ        $8, CX
	ADDQ        $128, R13
	CMPQ        R13, R12
	JLT         q8vstep

	VADDPS Z1, Z0, Z0
	REDUCE16
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   R9, SI
	ADDQ   R15, DX
	DECQ   R8
	JNZ    q8vrow

q8vdone:
	VZEROUPPER
	RET

// KSTEP(xoff, woff) is one 4-column step of gemm6x32VNNI: two vectors of 16 activation lanes
// (4 unsigned bytes each) at xoff(SI), 4 signed weight bytes per row at woff from the row
// pointers, 12 VPDPBUSD into the int32 accumulators Z0–Z11 (row r: Z2r, Z2r+1).
#define KSTEP(xoff, xoff64, woff) \
	VMOVDQU32    xoff(SI), Z24 \
	VMOVDQU32    xoff64(SI), Z25 \
	VPBROADCASTD woff(R8), Z26 \
	VPDPBUSD     Z26, Z24, Z0 \
	VPDPBUSD     Z26, Z25, Z1 \
	VPBROADCASTD woff(R8)(R9*1), Z27 \
	VPDPBUSD     Z27, Z24, Z2 \
	VPDPBUSD     Z27, Z25, Z3 \
	VPBROADCASTD woff(R8)(R9*2), Z26 \
	VPDPBUSD     Z26, Z24, Z4 \
	VPDPBUSD     Z26, Z25, Z5 \
	VPBROADCASTD woff(R11), Z27 \
	VPDPBUSD     Z27, Z24, Z6 \
	VPDPBUSD     Z27, Z25, Z7 \
	VPBROADCASTD woff(R11)(R9*1), Z26 \
	VPDPBUSD     Z26, Z24, Z8 \
	VPDPBUSD     Z26, Z25, Z9 \
	VPBROADCASTD woff(R11)(R9*2), Z27 \
	VPDPBUSD     Z27, Z24, Z10 \
	VPDPBUSD     Z27, Z25, Z11

// FIN(acc, facc, aoff, woff) scales one int32 accumulator into its float accumulator:
// facc += float32(acc)·da[aoff]·wd[woff] (activation lanes' block scales, row's block scale).
#define FIN(acc, facc, aoff, woff) \
	VCVTDQ2PS        acc, acc \
	VMULPS           aoff(DX), acc, acc \
	VFMADD231PS.BCST woff(CX), acc, facc

// func gemm6x32VNNI(y *float32, ldy, m, mask0, mask1 int, scale float32, w *int8, ldw int, wd *float32, corr *int32, xp *byte, xd *float32, nb int)
TEXT ·gemm6x32VNNIOld(SB), NOSPLIT, $0-104
	MOVQ w+48(FP), R8
	MOVQ ldw+56(FP), R9
	LEAQ (R9)(R9*2), R11
	ADDQ R8, R11
	MOVQ wd+64(FP), CX
	MOVQ corr+72(FP), BX
	MOVQ xp+80(FP), SI
	MOVQ xd+88(FP), DX
	MOVQ nb+96(FP), R12

	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	VXORPS Z16, Z16, Z16
	VXORPS Z17, Z17, Z17
	VXORPS Z18, Z18, Z18
	VXORPS Z19, Z19, Z19
	VXORPS Z20, Z20, Z20
	VXORPS Z21, Z21, Z21
	VXORPS Z22, Z22, Z22
	VXORPS Z23, Z23, Z23
	TESTQ R12, R12
	JZ    g6store

g6block:
	VPBROADCASTD 0(BX), Z0
	VPBROADCASTD 0(BX), Z1
	VPBROADCASTD 4(BX), Z2
	VPBROADCASTD 4(BX), Z3
	VPBROADCASTD 8(BX), Z4
	VPBROADCASTD 8(BX), Z5
	VPBROADCASTD 12(BX), Z6
	VPBROADCASTD 12(BX), Z7
	VPBROADCASTD 16(BX), Z8
	VPBROADCASTD 16(BX), Z9
	VPBROADCASTD 20(BX), Z10
	VPBROADCASTD 20(BX), Z11
	KSTEP(0, 64, 0)
	KSTEP(128, 192, 4)
	KSTEP(256, 320, 8)
	KSTEP(384, 448, 12)
	KSTEP(512, 576, 16)
	KSTEP(640, 704, 20)
	KSTEP(768, 832, 24)
	KSTEP(896, 960, 28)
	FIN(Z0, Z12, 0, 0)
	FIN(Z1, Z13, 64, 0)
	FIN(Z2, Z14, 0, 4)
	FIN(Z3, Z15, 64, 4)
	FIN(Z4, Z16, 0, 8)
	FIN(Z5, Z17, 64, 8)
	FIN(Z6, Z18, 0, 12)
	FIN(Z7, Z19, 64, 12)
	FIN(Z8, Z20, 0, 16)
	FIN(Z9, Z21, 64, 16)
	FIN(Z10, Z22, 0, 20)
	FIN(Z11, Z23, 64, 20)
	ADDQ $1024, SI
	ADDQ $128, DX
	ADDQ $24, CX
	ADDQ $24, BX
	ADDQ $32, R8
	ADDQ $32, R11
	DECQ R12
	JNZ  g6block

g6store:
	// y[(a)·ldy + r] = scale·tile[r][a] for r < m and the activation lanes in mask0/mask1:
	// scattered with lane indices a·ldy (second vector at +16·ldy).
	MOVQ         y+0(FP), DI
	MOVQ         ldy+8(FP), AX
	MOVQ         m+16(FP), R13
	MOVQ         mask0+24(FP), R14
	MOVQ         mask1+32(FP), R15
	VBROADCASTSS scale+40(FP), Z26
	VPBROADCASTD AX, Z24
	VPMULLD      iota16<>(SB), Z24, Z24
	SHLQ         $6, AX
	LEAQ         (DI)(AX*1), R10
	CMPQ         R13, $1
	JLT          g6done
	VMULPS       Z26, Z12, Z12
	KMOVW        R14, K1
	VSCATTERDPS  Z12, K1, 0(DI)(Z24*4)
	VMULPS       Z26, Z13, Z13
	KMOVW        R15, K1
	VSCATTERDPS  Z13, K1, 0(R10)(Z24*4)
	CMPQ         R13, $2
	JLT          g6done
	VMULPS       Z26, Z14, Z14
	KMOVW        R14, K1
	VSCATTERDPS  Z14, K1, 4(DI)(Z24*4)
	VMULPS       Z26, Z15, Z15
	KMOVW        R15, K1
	VSCATTERDPS  Z15, K1, 4(R10)(Z24*4)
	CMPQ         R13, $3
	JLT          g6done
	VMULPS       Z26, Z16, Z16
	KMOVW        R14, K1
	VSCATTERDPS  Z16, K1, 8(DI)(Z24*4)
	VMULPS       Z26, Z17, Z17
	KMOVW        R15, K1
	VSCATTERDPS  Z17, K1, 8(R10)(Z24*4)
	CMPQ         R13, $4
	JLT          g6done
	VMULPS       Z26, Z18, Z18
	KMOVW        R14, K1
	VSCATTERDPS  Z18, K1, 12(DI)(Z24*4)
	VMULPS       Z26, Z19, Z19
	KMOVW        R15, K1
	VSCATTERDPS  Z19, K1, 12(R10)(Z24*4)
	CMPQ         R13, $5
	JLT          g6done
	VMULPS       Z26, Z20, Z20
	KMOVW        R14, K1
	VSCATTERDPS  Z20, K1, 16(DI)(Z24*4)
	VMULPS       Z26, Z21, Z21
	KMOVW        R15, K1
	VSCATTERDPS  Z21, K1, 16(R10)(Z24*4)
	CMPQ         R13, $6
	JLT          g6done
	VMULPS       Z26, Z22, Z22
	KMOVW        R14, K1
	VSCATTERDPS  Z22, K1, 20(DI)(Z24*4)
	VMULPS       Z26, Z23, Z23
	KMOVW        R15, K1
	VSCATTERDPS  Z23, K1, 20(R10)(Z24*4)

g6done:
	VZEROUPPER
	RET

// func quantRowsAVX512(q *int8, d *float32, x *float32, nb int) bool
TEXT ·quantRowsAVX512Old(SB), NOSPLIT, $0-33
	MOVQ         q+0(FP), DI
	MOVQ         d+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         nb+24(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	MOVL         $127, AX
	VPBROADCASTD AX, Z30
	MOVL         $-127, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x42fe0000, AX // 127.0
	VMOVD        AX, X28
	MOVL         $0x3f800000, AX // 1.0
	VMOVD        AX, X27
	TESTQ        CX, CX
	JZ           qrok

qrblock:
	VMOVUPS       (SI), Z0
	VMOVUPS       64(SI), Z1
	VPANDD        Z31, Z0, Z2
	VPANDD        Z31, Z1, Z3
	VPMAXUD       Z3, Z2, Z2
	VEXTRACTI64X4 $1, Z2, Y3
	VPMAXUD       Y3, Y2, Y2
	VEXTRACTI128  $1, Y2, X3
	VPMAXUD       X3, X2, X2
	VPSHUFD       $0x4e, X2, X3
	VPMAXUD       X3, X2, X2
	VPSHUFD       $0xb1, X2, X3
	VPMAXUD       X3, X2, X2
	VMOVD         X2, AX
	CMPL          AX, $0x7f800000
	JAE           qrbad
	CMPL          AX, $0x1f800000
	JB            qrzero
	VDIVSS        X28, X2, X4 // d = amax/127
	VMOVSS        X4, (DX)
	VDIVSS        X4, X27, X5 // 1/d
	VBROADCASTSS  X5, Z5
	VMULPS        Z5, Z0, Z0
	VMULPS        Z5, Z1, Z1
	VCVTPS2DQ     Z0, Z0
	VCVTPS2DQ     Z1, Z1
	VPMINSD       Z30, Z0, Z0
	VPMINSD       Z30, Z1, Z1
	VPMAXSD       Z29, Z0, Z0
	VPMAXSD       Z29, Z1, Z1
	VPMOVSDB      Z0, (DI)
	VPMOVSDB      Z1, 16(DI)
	JMP           qrnext

qrzero:
	MOVL    $0, (DX)
	VPXORD  Y0, Y0, Y0
	VMOVDQU Y0, (DI)

qrnext:
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  qrblock

qrok:
	MOVB $1, ret+32(FP)
	VZEROUPPER
	RET

qrbad:
	MOVB $0, ret+32(FP)
	VZEROUPPER
	RET

// func expandQ4AVX512(dst *int8, corr *int32, cstride int, codes *byte, nb int)
TEXT ·expandQ4AVX512Old(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         corr+8(FP), DX
	MOVQ         cstride+16(FP), R8
	MOVQ         codes+24(FP), SI
	MOVQ         nb+32(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y15
	MOVL         $0x08080808, AX
	VPBROADCASTD AX, Y14
	VPXOR        Y13, Y13, Y13
	TESTQ        CX, CX
	JZ           exq4done

exq4block:
	VMOVDQU      (SI), X0
	VPSRLW       $4, X0, X1
	VPAND        X15, X0, X0
	VPAND        X15, X1, X1
	VINSERTI128  $1, X1, Y0, Y0
	VPSADBW      Y13, Y0, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDQ       X3, X2, X2
	VPSHUFD      $0x4e, X2, X3
	VPADDQ       X3, X2, X2
	VMOVD        X2, AX
	SHLL         $7, AX
	NEGL         AX
	ADDL         $32768, AX // −128·(Σq − 256)
	MOVL         AX, (DX)
	VPSUBB       Y14, Y0, Y0
	VMOVDQU      Y0, (DI)
	ADDQ         $16, SI
	ADDQ         $32, DI
	ADDQ         R8, DX
	DECQ         CX
	JNZ          exq4block

exq4done:
	VZEROUPPER
	RET

// func expandQ8AVX512(dst *int8, corr *int32, cstride int, codes *byte, nb int)
TEXT ·expandQ8AVX512Old(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         corr+8(FP), DX
	MOVQ         cstride+16(FP), R8
	MOVQ         codes+24(FP), SI
	MOVQ         nb+32(FP), CX
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Y14
	VPXOR        Y13, Y13, Y13
	TESTQ        CX, CX
	JZ           exq8done

exq8block:
	VMOVDQU      (SI), Y0
	VMOVDQU      Y0, (DI)
	VPXOR        Y14, Y0, Y0
	VPSADBW      Y13, Y0, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDQ       X3, X2, X2
	VPSHUFD      $0x4e, X2, X3
	VPADDQ       X3, X2, X2
	VMOVD        X2, AX
	SHLL         $7, AX
	NEGL         AX
	ADDL         $524288, AX // −128·(Σ(w+128) − 4096)
	MOVL         AX, (DX)
	ADDQ         $32, SI
	ADDQ         $32, DI
	ADDQ         R8, DX
	DECQ         CX
	JNZ          exq8block

exq8done:
	VZEROUPPER
	RET

// Q4PAIR(ta, tb, acca, accb) runs one Q4_0 step for two rows (codes at SI and R14, block
// scales at CX and DX… see mvQ4VNNI2), sharing the activation, correction and scale loads.
#define Q4PAIR(acca, accb) \
	PREFETCHT0  PFD4(SI)(R13*1) \
	PREFETCHT0  PFD4(R14)(R13*1) \
	VMOVDQU64   (SI)(R13*1), Z4 \
	VMOVDQU64   (R14)(R13*1), Z8 \
	VMOVDQU64   (BX)(R13*2), Z12 \
	VMOVDQU64   64(BX)(R13*2), Z13 \
	VMOVDQU32   (R10)(R13*1), Z6 \
	VMOVDQA32   Z6, Z10 \
	VPSRLW      $4, Z4, Z5 \
	VPANDD      Z31, Z4, Z4 \
	VPANDD      Z31, Z5, Z5 \
	VPSRLW      $4, Z8, Z9 \
	VPANDD      Z31, Z8, Z8 \
	VPANDD      Z31, Z9, Z9 \
	VPDPBUSD    Z12, Z4, Z6 \
	VPDPBUSD    Z13, Z5, Z6 \
	VPDPBUSD    Z12, Z8, Z10 \
	VPDPBUSD    Z13, Z9, Z10 \
	VCVTDQ2PS   Z6, Z6 \
	VCVTDQ2PS   Z10, Z10 \
	VMOVUPS     (R11)(R13*1), Z14 \
	VCVTPH2PS   (CX), X3 \
	VPERMPS     Z3, Z30, Z7 \
	VMULPS      Z14, Z7, Z7 \
	VFMADD231PS Z7, Z6, acca \
	VCVTPH2PS   (CX)(R15*1), X3 \
	VPERMPS     Z3, Z30, Z11 \
	VMULPS      Z14, Z11, Z11 \
	VFMADD231PS Z11, Z10, accb \
	ADDQ        $8, CX \
	ADDQ        $64, R13

// func mvQ4VNNI2(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, pairs, steps int)
//
// mvQ4VNNI over 2·pairs rows, two rows at a time.
TEXT ·mvQ4VNNI2Old(SB), NOSPLIT, $0-80
	MOVQ y+0(FP), DI
	MOVQ codes+8(FP), SI
	MOVQ stride+16(FP), R9
	MOVQ scales+24(FP), DX
	MOVQ nb+32(FP), R15
	SHLQ $1, R15
	MOVQ xa+40(FP), BX
	MOVQ corr+48(FP), R10
	MOVQ dl+56(FP), R11
	MOVQ pairs+64(FP), R8
	MOVQ steps+72(FP), R12
	SHLQ $6, R12
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	VMOVDQU32    perm4<>(SB), Z30
	TESTQ R8, R8
	JZ    q4v2done

q4v2row:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z16, Z16, Z16
	VXORPS Z17, Z17, Z17
	XORQ   R13, R13
	MOVQ   DX, CX
	LEAQ   (SI)(R9*1), R14
	MOVQ   R12, AX
	SUBQ   $64, AX

q4v2pair:
	CMPQ R13, AX
	JGE  q4v2single
	Q4PAIR(Z0, Z1)
	Q4PAIR(Z16, Z17)
	JMP  q4v2pair

q4v2single:
	CMPQ R13, R12
	JGE  q4v2rowdone
	Q4PAIR(Z0, Z1)

q4v2rowdone:
	VADDPS Z16, Z0, Z0
	VADDPS Z17, Z1, Z18 // REDUCE16 uses Z1
	REDUCE16
	VMOVSS X0, (DI)
	VMOVAPS Z18, Z0
	REDUCE16
	VMOVSS X0, 4(DI)
	ADDQ   $8, DI
	LEAQ   (SI)(R9*2), SI
	LEAQ   (DX)(R15*2), DX
	DECQ   R8
	JNZ    q4v2row

q4v2done:
	VZEROUPPER
	RET
