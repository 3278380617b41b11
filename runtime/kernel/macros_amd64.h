// Macros shared by the hand-written assembly of package kernel (#include "macros_amd64.h").
// The generated files use the generator's own helpers (_asm/reduce.go), which emit the same
// sequences.

// REDUCE8 sums the 8 float32 lanes of Y0 into X0 (lane 0), halves of 128, 64 and 32 bits
// pairwise; it clobbers X1.
#define REDUCE8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VPERMILPS    $0x4e, X0, X1 \
	VADDPS       X1, X0, X0 \
	VPERMILPS    $0xb1, X0, X1 \
	VADDSS       X1, X0, X0

// REDUCE16 sums the 16 float32 lanes of Z0 into X0 (lane 0): the 256-bit halves, then as
// REDUCE8; it clobbers Y1.
#define REDUCE16 \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDPS        Y1, Y0, Y0 \
	REDUCE8
