//go:build !purego

package kernel

// mvI4AVX2 is the unscaled I4 sum, n a multiple of 16:
//
//	y[r] = Σ_{c<n} float32(nibble(codes[r·stride:], c)−8)·x[c]
//
// (nibble c is the low half of byte c/2 for even c, the high half for odd c). Reference:
// dotRowUnscaled.
//
//go:noescape
func mvI4AVX2(y *float32, codes *byte, stride int, x *float32, rows, n int)

// mvFP8AVX2 is the unscaled sum y[r] = Σ_{c<n} e4m3(codes[r·stride+c])·x[c], n a multiple
// of 8; a row holding a NaN code gets NaN. Reference: dotRowUnscaled.
//
//go:noescape
func mvFP8AVX2(y *float32, codes *byte, stride int, x *float32, rows, n int)

// mvSFP8AVX2 is the unscaled sum y[r] = Σ_{c<n} sfp(codes[r·stride+c])·x[c], n a multiple of
// 8; a row holding the reserved code 0x80 gets NaN. Reference: dotRowUnscaled.
//
//go:noescape
func mvSFP8AVX2(y *float32, codes *byte, stride int, x *float32, rows, n int)
