//go:build !purego

#include "textflag.h"

// Constants shared by the hand-written assembly of package kernel.

// q4tab holds the 16 Q4_0 / I4 code values −8…7 as float32, indexed by the nibble (VPERMPS
// uses the low four bits of each index lane and ignores the rest).
DATA ·q4tab+0(SB)/4, $-8.0
DATA ·q4tab+4(SB)/4, $-7.0
DATA ·q4tab+8(SB)/4, $-6.0
DATA ·q4tab+12(SB)/4, $-5.0
DATA ·q4tab+16(SB)/4, $-4.0
DATA ·q4tab+20(SB)/4, $-3.0
DATA ·q4tab+24(SB)/4, $-2.0
DATA ·q4tab+28(SB)/4, $-1.0
DATA ·q4tab+32(SB)/4, $0.0
DATA ·q4tab+36(SB)/4, $1.0
DATA ·q4tab+40(SB)/4, $2.0
DATA ·q4tab+44(SB)/4, $3.0
DATA ·q4tab+48(SB)/4, $4.0
DATA ·q4tab+52(SB)/4, $5.0
DATA ·q4tab+56(SB)/4, $6.0
DATA ·q4tab+60(SB)/4, $7.0
GLOBL ·q4tab(SB), RODATA|NOPTR, $64
