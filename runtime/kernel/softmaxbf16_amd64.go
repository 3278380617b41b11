//go:build !purego

package kernel

// softmaxRowBF16 is softmaxRowBF16Generic (AVX-512 BF16 where the CPU has it: subnormal
// weights become zero, see softmaxBF16AVX512).
func softmaxRowBF16(p []uint16, s []float32, sc, m float32) (float32, float64) {
	n := len(s) &^ 15
	if !featBF16.on() || n == 0 {
		return softmaxRowBF16Generic(p[:len(s)], s, sc, m)
	}
	m = scaledMax(s[n:], sc, m)
	p = p[:len(s)]
	m, sum := softmaxBF16AVX512(&s[0], &p[0], n, sc, m)
	return m, expRoundSum(p[n:], s[n:], sc, m, sum)
}
