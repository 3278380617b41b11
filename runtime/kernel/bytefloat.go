package kernel

// The exact AVX-512 kernel for the 8-bit float types (FP8 E4M3, SFP8) decodes 64 codes per
// step through two 128-entry byte tables (the low and high byte of each magnitude's bf16 bit
// pattern; both types' values are bf16-exact) and interleaves them into four vectors of 16
// float32; vector v, lane 4j+i of step s holds column b8Col(s, v, 4j+i). The activations are
// permuted once per call into that order: xp[64s+16v+p] = x[b8Col(s, v, p)].

// b8Col returns the column of step s, vector v, lane p.
func b8Col(s, v, p int) int { return 64*s + 16*(p/4) + 4*v + p%4 }

// b8Perm writes xp (a multiple of 64 values) from x.
func b8Perm(xp, x []float32) {
	for s := range len(xp) / 64 {
		src, dst := x[64*s:64*s+64], xp[64*s:64*s+64]
		for v := range 4 {
			for j := range 4 {
				copy(dst[16*v+4*j:16*v+4*j+4], src[16*j+4*v:16*j+4*v+4])
			}
		}
	}
}
