//go:build !purego

// Vector exp, softmax and GELU (AVX-512 and AVX2). The steps are those of expf32 and geluf32
// in vecmath.go (with fused multiply-adds); the Go declarations in vecmath_amd64.go show the
// loops.

#include "textflag.h"

// vc holds the constants of expf32/geluf32, each replicated over 32 bytes (AVX2 memory
// operands; AVX-512 broadcasts the first copy).
// lo at +0
DATA vcold<>+0(SB)/8, $0xc2aeac4fc2aeac4f
DATA vcold<>+8(SB)/8, $0xc2aeac4fc2aeac4f
DATA vcold<>+16(SB)/8, $0xc2aeac4fc2aeac4f
DATA vcold<>+24(SB)/8, $0xc2aeac4fc2aeac4f
// hi at +32
DATA vcold<>+32(SB)/8, $0x42b0c09d42b0c09d
DATA vcold<>+40(SB)/8, $0x42b0c09d42b0c09d
DATA vcold<>+48(SB)/8, $0x42b0c09d42b0c09d
DATA vcold<>+56(SB)/8, $0x42b0c09d42b0c09d
// log2e at +64
DATA vcold<>+64(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA vcold<>+72(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA vcold<>+80(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA vcold<>+88(SB)/8, $0x3fb8aa3b3fb8aa3b
// ln2hi at +96
DATA vcold<>+96(SB)/8, $0x3f3180003f318000
DATA vcold<>+104(SB)/8, $0x3f3180003f318000
DATA vcold<>+112(SB)/8, $0x3f3180003f318000
DATA vcold<>+120(SB)/8, $0x3f3180003f318000
// ln2lo at +128
DATA vcold<>+128(SB)/8, $0xb95e8083b95e8083
DATA vcold<>+136(SB)/8, $0xb95e8083b95e8083
DATA vcold<>+144(SB)/8, $0xb95e8083b95e8083
DATA vcold<>+152(SB)/8, $0xb95e8083b95e8083
// p0 at +160
DATA vcold<>+160(SB)/8, $0x3950696739506967
DATA vcold<>+168(SB)/8, $0x3950696739506967
DATA vcold<>+176(SB)/8, $0x3950696739506967
DATA vcold<>+184(SB)/8, $0x3950696739506967
// p1 at +192
DATA vcold<>+192(SB)/8, $0x3ab743ce3ab743ce
DATA vcold<>+200(SB)/8, $0x3ab743ce3ab743ce
DATA vcold<>+208(SB)/8, $0x3ab743ce3ab743ce
DATA vcold<>+216(SB)/8, $0x3ab743ce3ab743ce
// p2 at +224
DATA vcold<>+224(SB)/8, $0x3c0889083c088908
DATA vcold<>+232(SB)/8, $0x3c0889083c088908
DATA vcold<>+240(SB)/8, $0x3c0889083c088908
DATA vcold<>+248(SB)/8, $0x3c0889083c088908
// p3 at +256
DATA vcold<>+256(SB)/8, $0x3d2aa9c13d2aa9c1
DATA vcold<>+264(SB)/8, $0x3d2aa9c13d2aa9c1
DATA vcold<>+272(SB)/8, $0x3d2aa9c13d2aa9c1
DATA vcold<>+280(SB)/8, $0x3d2aa9c13d2aa9c1
// p4 at +288
DATA vcold<>+288(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA vcold<>+296(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA vcold<>+304(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA vcold<>+312(SB)/8, $0x3e2aaaaa3e2aaaaa
// p5 at +320
DATA vcold<>+320(SB)/8, $0x3f0000003f000000
DATA vcold<>+328(SB)/8, $0x3f0000003f000000
DATA vcold<>+336(SB)/8, $0x3f0000003f000000
DATA vcold<>+344(SB)/8, $0x3f0000003f000000
// one at +352
DATA vcold<>+352(SB)/8, $0x3f8000003f800000
DATA vcold<>+360(SB)/8, $0x3f8000003f800000
DATA vcold<>+368(SB)/8, $0x3f8000003f800000
DATA vcold<>+376(SB)/8, $0x3f8000003f800000
// i127 at +384
DATA vcold<>+384(SB)/8, $0x0000007f0000007f
DATA vcold<>+392(SB)/8, $0x0000007f0000007f
DATA vcold<>+400(SB)/8, $0x0000007f0000007f
DATA vcold<>+408(SB)/8, $0x0000007f0000007f
// inf at +416
DATA vcold<>+416(SB)/8, $0x7f8000007f800000
DATA vcold<>+424(SB)/8, $0x7f8000007f800000
DATA vcold<>+432(SB)/8, $0x7f8000007f800000
DATA vcold<>+440(SB)/8, $0x7f8000007f800000
// gc at +448
DATA vcold<>+448(SB)/8, $0x3d3727133d372713
DATA vcold<>+456(SB)/8, $0x3d3727133d372713
DATA vcold<>+464(SB)/8, $0x3d3727133d372713
DATA vcold<>+472(SB)/8, $0x3d3727133d372713
// g2c at +480
DATA vcold<>+480(SB)/8, $0x3fcc422a3fcc422a
DATA vcold<>+488(SB)/8, $0x3fcc422a3fcc422a
DATA vcold<>+496(SB)/8, $0x3fcc422a3fcc422a
DATA vcold<>+504(SB)/8, $0x3fcc422a3fcc422a
// sign at +512
DATA vcold<>+512(SB)/8, $0x8000000080000000
DATA vcold<>+520(SB)/8, $0x8000000080000000
DATA vcold<>+528(SB)/8, $0x8000000080000000
DATA vcold<>+536(SB)/8, $0x8000000080000000
GLOBL vcold<>(SB), RODATA|NOPTR, $544

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
	VBROADCASTSS vcold<>+0(SB), Z31 \
	VBROADCASTSS vcold<>+32(SB), Z30 \
	VBROADCASTSS vcold<>+64(SB), Z29 \
	VBROADCASTSS vcold<>+96(SB), Z28 \
	VBROADCASTSS vcold<>+128(SB), Z27 \
	VBROADCASTSS vcold<>+160(SB), Z26 \
	VBROADCASTSS vcold<>+192(SB), Z25 \
	VBROADCASTSS vcold<>+224(SB), Z24 \
	VBROADCASTSS vcold<>+256(SB), Z23 \
	VBROADCASTSS vcold<>+288(SB), Z22 \
	VBROADCASTSS vcold<>+320(SB), Z21 \
	VBROADCASTSS vcold<>+352(SB), Z20 \
	VBROADCASTSS vcold<>+384(SB), Z19 \
	VBROADCASTSS vcold<>+416(SB), Z18

// func expSumAVX512(x *float32, n int, m float32) float64
TEXT ·expSumAVX512Old(SB), NOSPLIT, $0-32
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
TEXT ·geluAVX512Old(SB), NOSPLIT, $0-16
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	EXPCONST512
	VBROADCASTSS vcold<>+448(SB), Z16
	VBROADCASTSS vcold<>+480(SB), Z15
	VBROADCASTSS vcold<>+512(SB), Z14
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
	VCMPPS       $0x11, vcold<>+0(SB), x, t3 \
	VCMPPS       $0x1e, vcold<>+32(SB), x, t4 \
	VMOVUPS      vcold<>+0(SB), t0 \
	VMAXPS       x, t0, t0 \
	VMOVUPS      vcold<>+32(SB), t1 \
	VMINPS       t0, t1, t0 \
	VMULPS       vcold<>+64(SB), t0, t1 \
	VROUNDPS     $0, t1, t1 \
	VFNMADD231PS vcold<>+96(SB), t1, t0 \
	VFNMADD231PS vcold<>+128(SB), t1, t0 \
	VMOVUPS      vcold<>+160(SB), t2 \
	VFMADD213PS  vcold<>+192(SB), t0, t2 \
	VFMADD213PS  vcold<>+224(SB), t0, t2 \
	VFMADD213PS  vcold<>+256(SB), t0, t2 \
	VFMADD213PS  vcold<>+288(SB), t0, t2 \
	VFMADD213PS  vcold<>+320(SB), t0, t2 \
	VMULPS       t0, t0, x \
	VFMADD213PS  t0, x, t2 \
	VADDPS       vcold<>+352(SB), t2, t2 \
	VCVTPS2DQ    t1, t1 \
	VPADDD       vcold<>+384(SB), t1, t1 \
	VPSLLD       $23, t1, t1 \
	VMULPS       t1, t2, x \
	VANDNPS      x, t3, x \
	VBLENDVPS    t4, vcold<>+416(SB), x, x

// func expSumAVX2(x *float32, n int, m float32) float64
TEXT ·expSumAVX2Old(SB), NOSPLIT, $0-32
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
TEXT ·geluAVX2Old(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	JZ   gl2done

gl2loop:
	VMOVUPS     (DI), Y3
	VMULPS      Y3, Y3, Y0
	VMOVUPS     vcold<>+448(SB), Y6
	VFMADD213PS vcold<>+352(SB), Y6, Y0
	VMULPS      vcold<>+480(SB), Y3, Y1
	VMULPS      Y0, Y1, Y1
	VXORPS      vcold<>+512(SB), Y1, Y1
	EXP256(Y1, Y0, Y2, Y5, Y7, Y8)
	VADDPS      vcold<>+352(SB), Y1, Y1
	VDIVPS      Y1, Y3, Y3
	VMOVUPS     Y3, (DI)
	ADDQ        $32, DI
	DECQ        CX
	JNZ         gl2loop

gl2done:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
TEXT ·maxAVX2Old(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS vcold<>+416(SB), Y0
	VXORPS       vcold<>+512(SB), Y0, Y0 // −Inf
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
