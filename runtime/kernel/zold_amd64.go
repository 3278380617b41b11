//go:build !purego

package kernel

// The hand-written kernels as they were before generation, kept while porting for the
// old-vs-new differential test (zold_test.go). Removed once the port is complete.

//go:noescape
func mvQ4AVX512Old(y *float32, codes, scales *byte, x *float32, rows, nb int)

//go:noescape
func mvQ8AVX512Old(y *float32, codes, scales *byte, x *float32, rows, nb int)

//go:noescape
func mvQ4AVX2Old(y *float32, codes, scales *byte, x *float32, rows, nb int)

//go:noescape
func mvQ8AVX2Old(y *float32, codes, scales *byte, x *float32, rows, nb int)

//go:noescape
func mvI4AVX512Old(y *float32, codes *byte, stride int, x *float32, rows, n int)

//go:noescape
func mvI4AVX2Old(y *float32, codes *byte, stride int, x *float32, rows, n int)

//go:noescape
func mvFP8AVX2Old(y *float32, codes *byte, stride int, x *float32, rows, n int)

//go:noescape
func mvSFP8AVX2Old(y *float32, codes *byte, stride int, x *float32, rows, n int)

//go:noescape
func dqQ4AVX512Old(dst *float32, codes, scales *byte, nb int)

//go:noescape
func dqQ8AVX512Old(dst *float32, codes, scales *byte, nb int)

//go:noescape
func dqF16AVX512Old(dst *float32, codes *byte, n int)

//go:noescape
func dqBF16AVX512Old(dst *float32, codes *byte, n int)

//go:noescape
func dqFP8AVX512Old(dst *float32, codes *byte, n int, s float32)

//go:noescape
func dqI4AVX512Old(dst *float32, codes *byte, n int, s float32)

//go:noescape
func mvQ4XAVX512Old(y *float32, codes *byte, stride int, scales *byte, nb int, xp *float32, rows, steps int)

//go:noescape
func mvQ8XAVX512Old(y *float32, codes *byte, stride int, scales *byte, nb int, xp *float32, rows, steps int)

//go:noescape
func mvI4XAVX512Old(y *float32, codes *byte, stride int, xp *float32, rows, steps int)

//go:noescape
func mvB8AVX512Old(y *float32, codes *byte, stride int, tab *[256]byte, nanMask, nanCode uint32, xp *float32, rows, steps int)
