//go:build !purego

package kernel

//go:noescape
func dotAVX2Old(a, b *float32, n int) float32

//go:noescape
func sumSquaresAVX2Old(x *float32, n int) float32

//go:noescape
func axpyAVX2Old(y *float32, a float32, x *float32, n int)

//go:noescape
func scaleAVX2Old(x *float32, a float32, n int)

//go:noescape
func scaleMulAVX2Old(dst, x *float32, a float32, w *float32, n int)

//go:noescape
func addAVX2Old(y, x *float32, n int)

//go:noescape
func ropeAVX2Old(x *float32, h int, c, s *float32, n int)

//go:noescape
func streamReadAVX2Old(p *byte, n int) uint64

//go:noescape
func gemm12x32AVX512Old(w *float32, ldw int, xp *float32, k int, tile *float32)

//go:noescape
func gemm6x16AVX2Old(w *float32, ldw int, xp *float32, k int, tile *float32)

//go:noescape
func expSumAVX512Old(x *float32, n int, m float32) float64

//go:noescape
func geluAVX512Old(x *float32, n int)

//go:noescape
func expSumAVX2Old(x *float32, n int, m float32) float64

//go:noescape
func geluAVX2Old(x *float32, n int)

//go:noescape
func maxAVX2Old(x *float32, n int) float32

//go:noescape
func encQ4AVX512Old(codes, scales *byte, x *float32, nb int, sums *[3]float64) int

//go:noescape
func encQ8AVX512Old(codes, scales *byte, x *float32, nb int, sums *[3]float64) int

//go:noescape
func widenBF16AVX512Old(dst *float32, src *byte, n int)

//go:noescape
func i4ErrAVX512Old(x *float32, n int, scales *float32, ns int, errs *float64)

//go:noescape
func encSFP8AVX512Old(codes *byte, x *float32, n int, inv, limit, scale float32, sums *[3]float64) bool

//go:noescape
func maxAbsBitsAVX512Old(x *float32, n int) uint32

//go:noescape
func encFP8AVX512Old(codes *byte, x *float32, n int, s float32, sums *[3]float64)
