//go:build !purego

#include "textflag.h"

// Registers shared by both encoders:
//   SI x, DI codes, R8 scales, CX blocks wanted, R10 blocks done, R9 sums
//   Z20 Σw², Z21 Σ(w−ŵ)², Z22 max|w−ŵ| (float64 lanes); Z27 float64 |·| mask; Z31 float32 |·| mask

// AMAX puts max|x| over the block in Z0, Z1 into lane 0 of X4 (and its bits into AX); Z2, Z3
// keep |x|.
#define AMAX \
	VPANDD        Z31, Z0, Z2 \
	VPANDD        Z31, Z1, Z3 \
	VPMAXUD       Z3, Z2, Z4 \
	VEXTRACTI64X4 $1, Z4, Y5 \
	VPMAXUD       Y5, Y4, Y4 \
	VEXTRACTI128  $1, Y4, X5 \
	VPMAXUD       X5, X4, X4 \
	VPSHUFD       $0x4e, X4, X5 \
	VPMAXUD       X5, X4, X4 \
	VPSHUFD       $0xb1, X4, X5 \
	VPMAXUD       X5, X4, X4 \
	VMOVD         X4, AX

// SCALE turns the scale d (lane 0 of X8) into its f16 bits in DX (X9), jumping to bail when it
// overflows f16, and its reciprocal (0 for d = 0) broadcast into Z10, jumping to bail when the
// reciprocal overflows.
#define SCALE(bail, ok) \
	VCVTPS2PH    $0, X8, X9 \
	VMOVD        X9, DX \
	ANDL         $0xffff, DX \
	MOVL         DX, BX \
	ANDL         $0x7c00, BX \
	CMPL         BX, $0x7c00 \
	JEQ          bail \
	VXORPS       X10, X10, X10 \
	VUCOMISS     X10, X8 \
	JEQ          ok \
	VDIVSS       X8, X25, X10 \
	VMOVD        X10, BX \
	ANDL         $0x7fffffff, BX \
	CMPL         BX, $0x7f800000 \
	JEQ          bail \
ok: \
	VBROADCASTSS X10, Z10

// STATS accumulates 16 values w (zw, yw) and their decodings v (zv, yv) into Z20–Z22.
#define STATS(zw, yw, zv, yv) \
	VCVTPS2PD     yw, Z15 \
	VCVTPS2PD     yv, Z16 \
	VSUBPD        Z16, Z15, Z16 \
	VFMADD231PD   Z15, Z15, Z20 \
	VFMADD231PD   Z16, Z16, Z21 \
	VANDPD        Z27, Z16, Z16 \
	VMAXPD        Z16, Z22, Z22 \
	VEXTRACTF64X4 $1, zw, Y15 \
	VEXTRACTF64X4 $1, zv, Y16 \
	VCVTPS2PD     Y15, Z15 \
	VCVTPS2PD     Y16, Z16 \
	VSUBPD        Z16, Z15, Z16 \
	VFMADD231PD   Z15, Z15, Z20 \
	VFMADD231PD   Z16, Z16, Z21 \
	VANDPD        Z27, Z16, Z16 \
	VMAXPD        Z16, Z22, Z22

#define SETUP \
	MOVQ         codes+0(FP), DI \
	MOVQ         scales+8(FP), R8 \
	MOVQ         x+16(FP), SI \
	MOVQ         nb+24(FP), CX \
	MOVQ         sums+32(FP), R9 \
	XORQ         R10, R10 \
	MOVL         $0x7fffffff, AX \
	VPBROADCASTD AX, Z31 \
	MOVQ         $0x7fffffffffffffff, AX \
	VPBROADCASTQ AX, Z27 \
	MOVL         $0x3f800000, AX \
	VMOVD        AX, X25 \
	VPXORQ       Z20, Z20, Z20 \
	VPXORQ       Z21, Z21, Z21 \
	VPXORQ       Z22, Z22, Z22

// FINISH adds the lane sums to sums[0], sums[1], merges the max into sums[2] and returns R10.
#define FINISH \
	VEXTRACTF64X4 $1, Z20, Y23 \
	VADDPD        Y23, Y20, Y20 \
	VEXTRACTF64X2 $1, Y20, X23 \
	VADDPD        X23, X20, X20 \
	VPERMILPD     $1, X20, X23 \
	VADDSD        X23, X20, X20 \
	VADDSD        (R9), X20, X20 \
	VMOVSD        X20, (R9) \
	VEXTRACTF64X4 $1, Z21, Y23 \
	VADDPD        Y23, Y21, Y21 \
	VEXTRACTF64X2 $1, Y21, X23 \
	VADDPD        X23, X21, X21 \
	VPERMILPD     $1, X21, X23 \
	VADDSD        X23, X21, X21 \
	VADDSD        8(R9), X21, X21 \
	VMOVSD        X21, 8(R9) \
	VEXTRACTF64X4 $1, Z22, Y23 \
	VMAXPD        Y23, Y22, Y22 \
	VEXTRACTF64X2 $1, Y22, X23 \
	VMAXPD        X23, X22, X22 \
	VPERMILPD     $1, X22, X23 \
	VMAXSD        X23, X22, X22 \
	VMAXSD        16(R9), X22, X22 \
	VMOVSD        X22, 16(R9) \
	MOVQ          R10, ret+40(FP) \
	VZEROUPPER \
	RET

// func encQ4AVX512(codes, scales *byte, x *float32, nb int, sums *[3]float64) int
//
// Per block: amax and the signed value m of its first occurrence, d = m/−8, id = 1/d (0 for
// d = 0), code = min(15, trunc(float32(float32(w·id) + 8.5))); ŵ = float32(code−8)·f16(d).
TEXT ·encQ4AVX512Old(SB), NOSPLIT, $0-48
	SETUP
	MOVL         $0x41080000, AX // 8.5
	VPBROADCASTD AX, Z30
	MOVL         $15, AX
	VPBROADCASTD AX, Z29
	MOVL         $8, AX
	VPBROADCASTD AX, Z28
	MOVL         $0xc1000000, AX // −8.0
	VMOVD        AX, X26

q4block:
	CMPQ      R10, CX
	JAE       q4done
	VMOVUPS   (SI), Z0
	VMOVUPS   64(SI), Z1
	AMAX
	CMPL      AX, $0x7f800000
	JAE       q4done
	VXORPS    X6, X6, X6
	TESTL     AX, AX
	JZ        q4max
	VPBROADCASTD X4, Z5
	VPCMPEQD  Z5, Z2, K1
	VPCMPEQD  Z5, Z3, K2
	KMOVW     K1, BX
	KMOVW     K2, DX
	SHLL      $16, DX
	ORL       DX, BX
	BSFL      BX, BX
	VMOVSS    (SI)(BX*4), X6

q4max:
	VDIVSS    X26, X6, X8
	SCALE(q4done, q4id)
	VMULPS     Z10, Z0, Z11
	VADDPS     Z30, Z11, Z11
	VCVTTPS2DQ Z11, Z11
	VPMINSD    Z29, Z11, Z11
	VMULPS     Z10, Z1, Z12
	VADDPS     Z30, Z12, Z12
	VCVTTPS2DQ Z12, Z12
	VPMINSD    Z29, Z12, Z12
	VPSLLD     $4, Z12, Z13
	VPORD      Z13, Z11, Z13
	VPMOVDB    Z13, (DI)
	MOVW       DX, (R8)
	VCVTPH2PS  X9, X14
	VBROADCASTSS X14, Z14
	VPSUBD     Z28, Z11, Z11
	VCVTDQ2PS  Z11, Z11
	VMULPS     Z14, Z11, Z11
	VPSUBD     Z28, Z12, Z12
	VCVTDQ2PS  Z12, Z12
	VMULPS     Z14, Z12, Z12
	STATS(Z0, Y0, Z11, Y11)
	STATS(Z1, Y1, Z12, Y12)
	ADDQ       $128, SI
	ADDQ       $16, DI
	ADDQ       $2, R8
	INCQ       R10
	JMP        q4block

q4done:
	FINISH

// func encQ8AVX512(codes, scales *byte, x *float32, nb int, sums *[3]float64) int
//
// Per block: d = amax/127, id = 1/d (0 for d = 0), code = roundf(float32(w·id)) (ties away
// from zero: truncate, then step away when the exact remainder is ≥ 0.5);
// ŵ = float32(code)·f16(d).
TEXT ·encQ8AVX512Old(SB), NOSPLIT, $0-48
	SETUP
	MOVL         $0x42fe0000, AX // 127.0
	VMOVD        AX, X26
	MOVL         $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z24
	MOVL         $0x80000000, AX
	VPBROADCASTD AX, Z23
	MOVL         $0x3f800000, AX
	VPBROADCASTD AX, Z19

q8block:
	CMPQ      R10, CX
	JAE       q8done
	VMOVUPS   (SI), Z0
	VMOVUPS   64(SI), Z1
	AMAX
	CMPL      AX, $0x7f800000
	JAE       q8done
	VDIVSS    X26, X4, X8
	SCALE(q8done, q8id)
	VMULPS      Z10, Z0, Z11
	VRNDSCALEPS $3, Z11, Z12
	VSUBPS      Z12, Z11, Z13
	VPANDD      Z31, Z13, Z13
	VCMPPS      $0x1d, Z24, Z13, K1
	VPANDD      Z23, Z11, Z17
	VPORD       Z19, Z17, Z17
	VADDPS      Z17, Z12, K1, Z12
	VCVTTPS2DQ  Z12, Z11
	VMULPS      Z10, Z1, Z12
	VRNDSCALEPS $3, Z12, Z13
	VSUBPS      Z13, Z12, Z18
	VPANDD      Z31, Z18, Z18
	VCMPPS      $0x1d, Z24, Z18, K1
	VPANDD      Z23, Z12, Z17
	VPORD       Z19, Z17, Z17
	VADDPS      Z17, Z13, K1, Z13
	VCVTTPS2DQ  Z13, Z12
	VPMOVSDB    Z11, (DI)
	VPMOVSDB    Z12, 16(DI)
	MOVW        DX, (R8)
	VCVTPH2PS   X9, X14
	VBROADCASTSS X14, Z14
	VCVTDQ2PS   Z11, Z11
	VMULPS      Z14, Z11, Z11
	VCVTDQ2PS   Z12, Z12
	VMULPS      Z14, Z12, Z12
	STATS(Z0, Y0, Z11, Y11)
	STATS(Z1, Y1, Z12, Y12)
	ADDQ        $128, SI
	ADDQ        $32, DI
	ADDQ        $2, R8
	INCQ        R10
	JMP         q8block

q8done:
	FINISH

// func widenBF16AVX512(dst *float32, src *byte, n int)
TEXT ·widenBF16AVX512Old(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $6, CX

wbloop:
	VPMOVZXWD (SI), Z0
	VPMOVZXWD 32(SI), Z1
	VPMOVZXWD 64(SI), Z2
	VPMOVZXWD 96(SI), Z3
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VPSLLD    $16, Z2, Z2
	VPSLLD    $16, Z3, Z3
	VMOVUPS   Z0, (DI)
	VMOVUPS   Z1, 64(DI)
	VMOVUPS   Z2, 128(DI)
	VMOVUPS   Z3, 192(DI)
	ADDQ      $128, SI
	ADDQ      $256, DI
	DECQ      CX
	JNZ       wbloop
	VZEROUPPER
	RET

// func i4ErrAVX512(x *float32, n int, scales *float32, ns int, errs *float64)
TEXT ·i4ErrAVX512Old(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVQ         scales+16(FP), R8
	MOVQ         ns+24(FP), R9
	MOVQ         errs+32(FP), DI
	SHRQ         $4, CX
	MOVL         $0x40e00000, AX // 7.0
	VPBROADCASTD AX, Z29
	MOVL         $0xc1000000, AX // −8.0
	VPBROADCASTD AX, Z28
	MOVL         $0x4b400000, AX // 1.5·2²³
	VPBROADCASTD AX, Z27

i4scale:
	VBROADCASTSS (R8), Z26
	VPXORQ       Z20, Z20, Z20
	VPXORQ       Z21, Z21, Z21
	MOVQ         SI, R10
	MOVQ         CX, R11

i4elem:
	VMOVUPS       (R10), Z0
	VDIVPS        Z26, Z0, Z1
	VMINPS        Z29, Z1, Z1
	VMAXPS        Z28, Z1, Z1
	VADDPS        Z27, Z1, Z1
	VSUBPS        Z27, Z1, Z1
	VMULPS        Z26, Z1, Z1
	VCVTPS2PD     Y0, Z2
	VCVTPS2PD     Y1, Z3
	VSUBPD        Z3, Z2, Z2
	VMULPD        Z2, Z2, Z2
	VADDPD        Z2, Z20, Z20
	VEXTRACTF32X8 $1, Z0, Y4
	VEXTRACTF32X8 $1, Z1, Y5
	VCVTPS2PD     Y4, Z4
	VCVTPS2PD     Y5, Z5
	VSUBPD        Z5, Z4, Z4
	VMULPD        Z4, Z4, Z4
	VADDPD        Z4, Z21, Z21
	ADDQ          $64, R10
	DECQ          R11
	JNZ           i4elem

	VADDPD        Z21, Z20, Z20
	VEXTRACTF64X4 $1, Z20, Y21
	VADDPD        Y21, Y20, Y20
	VEXTRACTF64X2 $1, Y20, X21
	VADDPD        X21, X20, X20
	VPERMILPD     $1, X20, X21
	VADDSD        X21, X20, X20
	VMOVSD        X20, (DI)
	ADDQ          $4, R8
	ADDQ          $8, DI
	DECQ          R9
	JNZ           i4scale
	VZEROUPPER
	RET

// func encSFP8AVX512(codes *byte, x *float32, n int, inv, limit, scale float32, sums *[3]float64) bool
//
// Per element (n a multiple of 16): y = float32(w·inv); false once any |y| > limit (the
// codes are then incomplete). a = min(|y|, 1.875) as bits; t = a>>17 (bf16 truncation, its
// mantissa LSB dropped: exponent·64 + 6 mantissa bits); t ≥ 119·64+60 takes 3 mantissa bits,
// else 2, rounded to nearest even by t' = (t + half−1 + lsb) >> drop, the carry reaching the
// exponent. Codes: 3 bits: 0x40 + t' − 960; 2 bits: 0 below t' = 416, 1 at 416 (the lifted
// smallest value), 0x40 at 480, else t' − 416; the sign of y on nonzero codes. ŵ is the
// code's value (t'<<20 or (code+416)<<21 as bits, signed) times scale.
TEXT ·encSFP8AVX512Old(SB), NOSPLIT, $0-49
	MOVQ         codes+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS inv+24(FP), Z26
	VBROADCASTSS limit+28(FP), Z25
	VBROADCASTSS scale+32(FP), Z24
	MOVQ         sums+40(FP), R9
	SHRQ         $4, CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x3ff00000, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x80000000, AX
	VPBROADCASTD AX, Z29
	MOVL         $7676, AX
	VPBROADCASTD AX, Z28
	MOVQ         $0x7fffffffffffffff, AX
	VPBROADCASTQ AX, Z27
	MOVL         $1, AX
	VPBROADCASTD AX, Z19
	MOVL         $7, AX
	VPBROADCASTD AX, Z18
	MOVL         $3, AX
	VPBROADCASTD AX, Z17
	MOVL         $416, AX
	VPBROADCASTD AX, Z16
	MOVL         $896, AX
	VPBROADCASTD AX, Z14
	MOVL         $64, AX
	VPBROADCASTD AX, Z13
	VPXORQ       Z23, Z23, Z23
	VPXORQ       Z20, Z20, Z20
	VPXORQ       Z21, Z21, Z21
	VPXORQ       Z22, Z22, Z22
	VPXORQ       Z15, Z15, Z15
	TESTQ        CX, CX
	JZ           sfdone

sfloop:
	VMOVUPS    (SI), Z0
	VMULPS     Z26, Z0, Z1
	VPANDD     Z31, Z1, Z2
	VPMAXUD    Z2, Z23, Z23
	VPANDD     Z29, Z1, Z3
	VPMINUD    Z30, Z2, Z2
	VPSRLD     $17, Z2, Z4
	VPCMPUD    $5, Z28, Z4, K1
	VPSRLD     $4, Z4, Z5
	VPANDD     Z19, Z5, Z5
	VPADDD     Z5, Z4, Z5
	VPADDD     Z18, Z5, Z5
	VPSRLD     $4, Z5, Z5
	VPSRLD     $3, Z4, Z6
	VPANDD     Z19, Z6, Z6
	VPADDD     Z6, Z4, Z6
	VPADDD     Z17, Z6, Z6
	VPSRLD     $3, Z6, Z6
	VPSUBD     Z16, Z5, Z7
	VPMAXSD    Z15, Z7, Z7
	VPMINSD    Z13, Z7, Z7
	VPCMPEQD   Z16, Z5, K2
	VMOVDQA32  Z19, K2, Z7
	VPSUBD     Z14, Z6, Z8
	VPBLENDMD  Z8, Z7, K1, Z9
	VPTESTMD   Z9, Z9, K3
	VPSRLD     $24, Z3, Z10
	VPORD      Z10, Z9, K3, Z9
	VPMOVDB    Z9, (DI)
	VPADDD     Z16, Z7, Z11
	VPSLLD     $21, Z11, Z11
	VPSLLD     $20, Z6, Z12
	VMOVDQA32  Z12, K1, Z11
	VMOVDQA32.Z Z11, K3, Z11
	VPORD      Z3, Z11, K3, Z11
	VMULPS     Z24, Z11, Z11
	VCVTPS2PD     Y0, Z1
	VCVTPS2PD     Y11, Z2
	VSUBPD        Z2, Z1, Z2
	VFMADD231PD   Z1, Z1, Z20
	VFMADD231PD   Z2, Z2, Z21
	VANDPD        Z27, Z2, Z2
	VMAXPD        Z2, Z22, Z22
	VEXTRACTF64X4 $1, Z0, Y1
	VEXTRACTF64X4 $1, Z11, Y2
	VCVTPS2PD     Y1, Z1
	VCVTPS2PD     Y2, Z2
	VSUBPD        Z2, Z1, Z2
	VFMADD231PD   Z1, Z1, Z20
	VFMADD231PD   Z2, Z2, Z21
	VANDPD        Z27, Z2, Z2
	VMAXPD        Z2, Z22, Z22
	ADDQ       $64, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        sfloop

sfdone:
	// Lane maxima of |y| against the limit.
	VPCMPUD       $6, Z25, Z23, K4
	KORTESTW      K4, K4
	SETEQ         ret+48(FP)
	VEXTRACTF64X4 $1, Z20, Y23
	VADDPD        Y23, Y20, Y20
	VEXTRACTF64X2 $1, Y20, X23
	VADDPD        X23, X20, X20
	VPERMILPD     $1, X20, X23
	VADDSD        X23, X20, X20
	VADDSD        (R9), X20, X20
	VMOVSD        X20, (R9)
	VEXTRACTF64X4 $1, Z21, Y23
	VADDPD        Y23, Y21, Y21
	VEXTRACTF64X2 $1, Y21, X23
	VADDPD        X23, X21, X21
	VPERMILPD     $1, X21, X23
	VADDSD        X23, X21, X21
	VADDSD        8(R9), X21, X21
	VMOVSD        X21, 8(R9)
	VEXTRACTF64X4 $1, Z22, Y23
	VMAXPD        Y23, Y22, Y22
	VEXTRACTF64X2 $1, Y22, X23
	VMAXPD        X23, X22, X22
	VPERMILPD     $1, X22, X23
	VMAXSD        X23, X22, X22
	VMAXSD        16(R9), X22, X22
	VMOVSD        X22, 16(R9)
	VZEROUPPER
	RET

// func maxAbsBitsAVX512(x *float32, n int) uint32
TEXT ·maxAbsBitsAVX512Old(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	SHRQ         $6, CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	VPXORQ       Z4, Z4, Z4
	VPXORQ       Z5, Z5, Z5

maloop:
	VPANDD  (SI), Z31, Z0
	VPANDD  64(SI), Z31, Z1
	VPANDD  128(SI), Z31, Z2
	VPANDD  192(SI), Z31, Z3
	VPMAXUD Z0, Z4, Z4
	VPMAXUD Z1, Z5, Z5
	VPMAXUD Z2, Z4, Z4
	VPMAXUD Z3, Z5, Z5
	ADDQ    $256, SI
	DECQ    CX
	JNZ     maloop
	VPMAXUD       Z5, Z4, Z4
	VEXTRACTI64X4 $1, Z4, Y5
	VPMAXUD       Y5, Y4, Y4
	VEXTRACTI128  $1, Y4, X5
	VPMAXUD       X5, X4, X4
	VPSHUFD       $0x4e, X4, X5
	VPMAXUD       X5, X4, X4
	VPSHUFD       $0xb1, X4, X5
	VPMAXUD       X5, X4, X4
	VMOVD         X4, AX
	MOVL          AX, ret+16(FP)
	VZEROUPPER
	RET

// func encFP8AVX512(codes *byte, x *float32, n int, s float32, sums *[3]float64)
//
// Per element (n a multiple of 16): y = w/s; a = |y| as bits; a ≥ 448 saturates to 0x7E;
// a < 2⁻⁶ gives the subnormal code rne(|y|·512); else code = ((a + 0x7FFFF + lsb) >> 20) − 960
// (round to nearest even on the 20 dropped bits, the carry reaching the exponent); the sign
// of y on every code. ŵ = value(code)·s.
TEXT ·encFP8AVX512Old(SB), NOSPLIT, $0-40
	MOVQ         codes+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Z26
	MOVQ         sums+32(FP), R9
	SHRQ         $4, CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x80000000, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x43e00000, AX // 448
	VPBROADCASTD AX, Z28
	MOVL         $0x3c800000, AX // 2⁻⁶
	VPBROADCASTD AX, Z25
	MOVL         $0x44000000, AX // 512
	VPBROADCASTD AX, Z24
	MOVL         $0x3b000000, AX // 2⁻⁹
	VPBROADCASTD AX, Z23
	MOVL         $0x7ffff, AX
	VPBROADCASTD AX, Z19
	MOVL         $1, AX
	VPBROADCASTD AX, Z18
	MOVL         $960, AX
	VPBROADCASTD AX, Z17
	MOVL         $0x7e, AX
	VPBROADCASTD AX, Z16
	MOVQ         $0x7fffffffffffffff, AX
	VPBROADCASTQ AX, Z27
	VPXORQ       Z20, Z20, Z20
	VPXORQ       Z21, Z21, Z21
	VPXORQ       Z22, Z22, Z22
	TESTQ        CX, CX
	JZ           f8done

f8loop:
	VMOVUPS     (SI), Z0
	VDIVPS      Z26, Z0, Z1
	VPANDD      Z31, Z1, Z2
	VPANDD      Z29, Z1, Z3
	// normal: rounded bits Z5, code Z6
	VPSRLD      $20, Z2, Z4
	VPANDD      Z18, Z4, Z4
	VPADDD      Z4, Z2, Z5
	VPADDD      Z19, Z5, Z5
	VPSRLD      $20, Z5, Z6
	VPSLLD      $20, Z6, Z5
	VPSUBD      Z17, Z6, Z6
	// subnormal: q = rne(|y|·512), value q·2⁻⁹
	VPCMPUD     $1, Z25, Z2, K1
	VMULPS      Z24, Z2, Z7
	VRNDSCALEPS $0, Z7, Z7
	VCVTPS2DQ   Z7, Z8
	VMULPS      Z23, Z7, Z7
	VMOVDQA32   Z8, K1, Z6
	VMOVDQA32   Z7, K1, Z5
	// saturation
	VPCMPUD     $5, Z28, Z2, K2
	VMOVDQA32   Z16, K2, Z6
	VMOVDQA32   Z28, K2, Z5
	VPSRLD      $24, Z3, Z9
	VPORD       Z9, Z6, Z6
	VPMOVDB     Z6, (DI)
	VPORD       Z3, Z5, Z5
	VMULPS      Z26, Z5, Z11
	VCVTPS2PD     Y0, Z1
	VCVTPS2PD     Y11, Z2
	VSUBPD        Z2, Z1, Z2
	VFMADD231PD   Z1, Z1, Z20
	VFMADD231PD   Z2, Z2, Z21
	VANDPD        Z27, Z2, Z2
	VMAXPD        Z2, Z22, Z22
	VEXTRACTF64X4 $1, Z0, Y1
	VEXTRACTF64X4 $1, Z11, Y2
	VCVTPS2PD     Y1, Z1
	VCVTPS2PD     Y2, Z2
	VSUBPD        Z2, Z1, Z2
	VFMADD231PD   Z1, Z1, Z20
	VFMADD231PD   Z2, Z2, Z21
	VANDPD        Z27, Z2, Z2
	VMAXPD        Z2, Z22, Z22
	ADDQ        $64, SI
	ADDQ        $16, DI
	DECQ        CX
	JNZ         f8loop

f8done:
	VEXTRACTF64X4 $1, Z20, Y23
	VADDPD        Y23, Y20, Y20
	VEXTRACTF64X2 $1, Y20, X23
	VADDPD        X23, X20, X20
	VPERMILPD     $1, X20, X23
	VADDSD        X23, X20, X20
	VADDSD        (R9), X20, X20
	VMOVSD        X20, (R9)
	VEXTRACTF64X4 $1, Z21, Y23
	VADDPD        Y23, Y21, Y21
	VEXTRACTF64X2 $1, Y21, X23
	VADDPD        X23, X21, X21
	VPERMILPD     $1, X21, X23
	VADDSD        X23, X21, X21
	VADDSD        8(R9), X21, X21
	VMOVSD        X21, 8(R9)
	VEXTRACTF64X4 $1, Z22, Y23
	VMAXPD        Y23, Y22, Y22
	VEXTRACTF64X2 $1, Y22, X23
	VMAXPD        X23, X22, X22
	VPERMILPD     $1, X22, X23
	VMAXSD        X23, X22, X22
	VMAXSD        16(R9), X22, X22
	VMOVSD        X22, 16(R9)
	VZEROUPPER
	RET
