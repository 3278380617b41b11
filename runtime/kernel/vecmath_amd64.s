//go:build !purego

// Vector exp, softmax and GELU (AVX-512 and AVX2). The steps are those of expf32 and geluf32
// in vecmath.go (with fused multiply-adds); the Go declarations in vecmath_amd64.go show the
// loops.

#include "textflag.h"

// vc holds the constants of expf32/geluf32, each replicated over 32 bytes (AVX2 memory
// operands; AVX-512 broadcasts the first copy).
// lo at +0
DATA vc<>+0(SB)/8, $0xc2aeac4fc2aeac4f
DATA vc<>+8(SB)/8, $0xc2aeac4fc2aeac4f
DATA vc<>+16(SB)/8, $0xc2aeac4fc2aeac4f
DATA vc<>+24(SB)/8, $0xc2aeac4fc2aeac4f
// hi at +32
DATA vc<>+32(SB)/8, $0x42b0c09d42b0c09d
DATA vc<>+40(SB)/8, $0x42b0c09d42b0c09d
DATA vc<>+48(SB)/8, $0x42b0c09d42b0c09d
DATA vc<>+56(SB)/8, $0x42b0c09d42b0c09d
// log2e at +64
DATA vc<>+64(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA vc<>+72(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA vc<>+80(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA vc<>+88(SB)/8, $0x3fb8aa3b3fb8aa3b
// ln2hi at +96
DATA vc<>+96(SB)/8, $0x3f3180003f318000
DATA vc<>+104(SB)/8, $0x3f3180003f318000
DATA vc<>+112(SB)/8, $0x3f3180003f318000
DATA vc<>+120(SB)/8, $0x3f3180003f318000
// ln2lo at +128
DATA vc<>+128(SB)/8, $0xb95e8083b95e8083
DATA vc<>+136(SB)/8, $0xb95e8083b95e8083
DATA vc<>+144(SB)/8, $0xb95e8083b95e8083
DATA vc<>+152(SB)/8, $0xb95e8083b95e8083
// p0 at +160
DATA vc<>+160(SB)/8, $0x3950696739506967
DATA vc<>+168(SB)/8, $0x3950696739506967
DATA vc<>+176(SB)/8, $0x3950696739506967
DATA vc<>+184(SB)/8, $0x3950696739506967
// p1 at +192
DATA vc<>+192(SB)/8, $0x3ab743ce3ab743ce
DATA vc<>+200(SB)/8, $0x3ab743ce3ab743ce
DATA vc<>+208(SB)/8, $0x3ab743ce3ab743ce
DATA vc<>+216(SB)/8, $0x3ab743ce3ab743ce
// p2 at +224
DATA vc<>+224(SB)/8, $0x3c0889083c088908
DATA vc<>+232(SB)/8, $0x3c0889083c088908
DATA vc<>+240(SB)/8, $0x3c0889083c088908
DATA vc<>+248(SB)/8, $0x3c0889083c088908
// p3 at +256
DATA vc<>+256(SB)/8, $0x3d2aa9c13d2aa9c1
DATA vc<>+264(SB)/8, $0x3d2aa9c13d2aa9c1
DATA vc<>+272(SB)/8, $0x3d2aa9c13d2aa9c1
DATA vc<>+280(SB)/8, $0x3d2aa9c13d2aa9c1
// p4 at +288
DATA vc<>+288(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA vc<>+296(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA vc<>+304(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA vc<>+312(SB)/8, $0x3e2aaaaa3e2aaaaa
// p5 at +320
DATA vc<>+320(SB)/8, $0x3f0000003f000000
DATA vc<>+328(SB)/8, $0x3f0000003f000000
DATA vc<>+336(SB)/8, $0x3f0000003f000000
DATA vc<>+344(SB)/8, $0x3f0000003f000000
// one at +352
DATA vc<>+352(SB)/8, $0x3f8000003f800000
DATA vc<>+360(SB)/8, $0x3f8000003f800000
DATA vc<>+368(SB)/8, $0x3f8000003f800000
DATA vc<>+376(SB)/8, $0x3f8000003f800000
// i127 at +384
DATA vc<>+384(SB)/8, $0x0000007f0000007f
DATA vc<>+392(SB)/8, $0x0000007f0000007f
DATA vc<>+400(SB)/8, $0x0000007f0000007f
DATA vc<>+408(SB)/8, $0x0000007f0000007f
// inf at +416
DATA vc<>+416(SB)/8, $0x7f8000007f800000
DATA vc<>+424(SB)/8, $0x7f8000007f800000
DATA vc<>+432(SB)/8, $0x7f8000007f800000
DATA vc<>+440(SB)/8, $0x7f8000007f800000
// gc at +448
DATA vc<>+448(SB)/8, $0x3d3727133d372713
DATA vc<>+456(SB)/8, $0x3d3727133d372713
DATA vc<>+464(SB)/8, $0x3d3727133d372713
DATA vc<>+472(SB)/8, $0x3d3727133d372713
// g2c at +480
DATA vc<>+480(SB)/8, $0x3fcc422a3fcc422a
DATA vc<>+488(SB)/8, $0x3fcc422a3fcc422a
DATA vc<>+496(SB)/8, $0x3fcc422a3fcc422a
DATA vc<>+504(SB)/8, $0x3fcc422a3fcc422a
// sign at +512
DATA vc<>+512(SB)/8, $0x8000000080000000
DATA vc<>+520(SB)/8, $0x8000000080000000
DATA vc<>+528(SB)/8, $0x8000000080000000
DATA vc<>+536(SB)/8, $0x8000000080000000
GLOBL vc<>(SB), RODATA|NOPTR, $544

// EXP512(x, t0, t1, t2) replaces the 16 lanes of x by expf32(x); constants in Z18–Z31 (see
// EXPCONST512), opmasks K1, K2.
#define EXP512(x, t0, t1, t2) \
	VCMPPS       $0x11, Z31, x, K1 \
	VCMPPS       $0x1e, Z30, x, K2 \
	VMAXPS       x, Z31, t0 \
	VMINPS       t0, Z30, t0 \
	VMULPS       Z29, t0, t1 \
	VRNDSCALEPS  $0, t1, t1 \
	VFNMADD231PS Z28, t1, t0 \
	VFNMADD231PS Z27, t1, t0 \
	VMOVAPS      Z26, t2 \
	VFMADD213PS  Z25, t0, t2 \
	VFMADD213PS  Z24, t0, t2 \
	VFMADD213PS  Z23, t0, t2 \
	VFMADD213PS  Z22, t0, t2 \
	VFMADD213PS  Z21, t0, t2 \
	VMULPS       t0, t0, x \
	VFMADD213PS  t0, x, t2 \
	VADDPS       Z20, t2, t2 \
	VCVTPS2DQ    t1, t1 \
	VPADDD       Z19, t1, t1 \
	VPSLLD       $23, t1, t1 \
	VMULPS       t1, t2, x \
	VXORPS       x, x, K1, x \
	VMOVAPS      Z18, K2, x

#define EXPCONST512 \
	VBROADCASTSS vc<>+0(SB), Z31 \
	VBROADCASTSS vc<>+32(SB), Z30 \
	VBROADCASTSS vc<>+64(SB), Z29 \
	VBROADCASTSS vc<>+96(SB), Z28 \
	VBROADCASTSS vc<>+128(SB), Z27 \
	VBROADCASTSS vc<>+160(SB), Z26 \
	VBROADCASTSS vc<>+192(SB), Z25 \
	VBROADCASTSS vc<>+224(SB), Z24 \
	VBROADCASTSS vc<>+256(SB), Z23 \
	VBROADCASTSS vc<>+288(SB), Z22 \
	VBROADCASTSS vc<>+320(SB), Z21 \
	VBROADCASTSS vc<>+352(SB), Z20 \
	VBROADCASTSS vc<>+384(SB), Z19 \
	VBROADCASTSS vc<>+416(SB), Z18

// func expSumAVX512(x *float32, n int, m float32) float64
TEXT ·expSumAVX512(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Z17
	EXPCONST512
	VXORPD       Z4, Z4, Z4
	VXORPD       Z5, Z5, Z5
	SHRQ         $4, CX
	JZ           es512done

es512loop:
	VMOVUPS       (DI), Z3
	VSUBPS        Z17, Z3, Z3
	EXP512(Z3, Z0, Z1, Z2)
	VMOVUPS       Z3, (DI)
	VCVTPS2PD     Y3, Z6
	VEXTRACTF32X8 $1, Z3, Y7
	VCVTPS2PD     Y7, Z7
	VADDPD        Z6, Z4, Z4
	VADDPD        Z7, Z5, Z5
	ADDQ          $64, DI
	DECQ          CX
	JNZ           es512loop

es512done:
	VADDPD        Z5, Z4, Z4
	VEXTRACTF64X4 $1, Z4, Y5
	VADDPD        Y5, Y4, Y4
	VEXTRACTF128  $1, Y4, X5
	VADDPD        X5, X4, X4
	VPERMILPD     $1, X4, X5
	VADDSD        X5, X4, X4
	MOVSD         X4, ret+24(FP)
	VZEROUPPER
	RET

// func geluAVX512(x *float32, n int)
TEXT ·geluAVX512(SB), NOSPLIT, $0-16
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	EXPCONST512
	VBROADCASTSS vc<>+448(SB), Z16
	VBROADCASTSS vc<>+480(SB), Z15
	VBROADCASTSS vc<>+512(SB), Z14
	SHRQ         $4, CX
	JZ           gl512done

gl512loop:
	VMOVUPS     (DI), Z3
	VMULPS      Z3, Z3, Z0
	VFMADD213PS Z20, Z16, Z0
	VMULPS      Z15, Z3, Z1
	VMULPS      Z0, Z1, Z1
	VXORPS      Z14, Z1, Z1
	EXP512(Z1, Z0, Z2, Z5)
	VADDPS      Z20, Z1, Z1
	VDIVPS      Z1, Z3, Z3
	VMOVUPS     Z3, (DI)
	ADDQ        $64, DI
	DECQ        CX
	JNZ         gl512loop

gl512done:
	VZEROUPPER
	RET

// EXP256(x, t0, t1, t2, t3, t4) is EXP512 on 8 lanes with the constants as memory operands.
#define EXP256(x, t0, t1, t2, t3, t4) \
	VCMPPS       $0x11, vc<>+0(SB), x, t3 \
	VCMPPS       $0x1e, vc<>+32(SB), x, t4 \
	VMOVUPS      vc<>+0(SB), t0 \
	VMAXPS       x, t0, t0 \
	VMOVUPS      vc<>+32(SB), t1 \
	VMINPS       t0, t1, t0 \
	VMULPS       vc<>+64(SB), t0, t1 \
	VROUNDPS     $0, t1, t1 \
	VFNMADD231PS vc<>+96(SB), t1, t0 \
	VFNMADD231PS vc<>+128(SB), t1, t0 \
	VMOVUPS      vc<>+160(SB), t2 \
	VFMADD213PS  vc<>+192(SB), t0, t2 \
	VFMADD213PS  vc<>+224(SB), t0, t2 \
	VFMADD213PS  vc<>+256(SB), t0, t2 \
	VFMADD213PS  vc<>+288(SB), t0, t2 \
	VFMADD213PS  vc<>+320(SB), t0, t2 \
	VMULPS       t0, t0, x \
	VFMADD213PS  t0, x, t2 \
	VADDPS       vc<>+352(SB), t2, t2 \
	VCVTPS2DQ    t1, t1 \
	VPADDD       vc<>+384(SB), t1, t1 \
	VPSLLD       $23, t1, t1 \
	VMULPS       t1, t2, x \
	VANDNPS      x, t3, x \
	VBLENDVPS    t4, vc<>+416(SB), x, x

// func expSumAVX2(x *float32, n int, m float32) float64
TEXT ·expSumAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VXORPD       Y10, Y10, Y10
	VXORPD       Y11, Y11, Y11
	SHRQ         $3, CX
	JZ           es2done

es2loop:
	VMOVUPS      (DI), Y3
	VSUBPS       Y15, Y3, Y3
	EXP256(Y3, Y0, Y1, Y2, Y4, Y5)
	VMOVUPS      Y3, (DI)
	VCVTPS2PD    X3, Y6
	VEXTRACTF128 $1, Y3, X7
	VCVTPS2PD    X7, Y7
	VADDPD       Y6, Y10, Y10
	VADDPD       Y7, Y11, Y11
	ADDQ         $32, DI
	DECQ         CX
	JNZ          es2loop

es2done:
	VADDPD       Y11, Y10, Y10
	VEXTRACTF128 $1, Y10, X11
	VADDPD       X11, X10, X10
	VPERMILPD    $1, X10, X11
	VADDSD       X11, X10, X10
	MOVSD        X10, ret+24(FP)
	VZEROUPPER
	RET

// func geluAVX2(x *float32, n int)
TEXT ·geluAVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	JZ   gl2done

gl2loop:
	VMOVUPS     (DI), Y3
	VMULPS      Y3, Y3, Y0
	VMOVUPS     vc<>+448(SB), Y6
	VFMADD213PS vc<>+352(SB), Y6, Y0
	VMULPS      vc<>+480(SB), Y3, Y1
	VMULPS      Y0, Y1, Y1
	VXORPS      vc<>+512(SB), Y1, Y1
	EXP256(Y1, Y0, Y2, Y5, Y7, Y8)
	VADDPS      vc<>+352(SB), Y1, Y1
	VDIVPS      Y1, Y3, Y3
	VMOVUPS     Y3, (DI)
	ADDQ        $32, DI
	DECQ        CX
	JNZ         gl2loop

gl2done:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS vc<>+416(SB), Y0
	VXORPS       vc<>+512(SB), Y0, Y0 // −Inf
	VMOVAPS      Y0, Y1
	SHRQ         $3, CX
	JZ           mx2done

mx2loop:
	VMAXPS (DI), Y0, Y0
	ADDQ   $32, DI
	DECQ   CX
	JNZ    mx2loop

mx2done:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXSS       X1, X0, X0
	MOVSS        X0, ret+16(FP)
	VZEROUPPER
	RET
