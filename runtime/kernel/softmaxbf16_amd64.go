//go:build !purego

package kernel

// softmaxRowBF16 is softmaxRowBF16Generic (AVX-512 BF16 where the CPU has it: subnormal
// weights become zero, see softmaxBF16AVX512).
func softmaxRowBF16(p []uint16, s []float32, sc, m float32) (float32, float64) {
	n := len(s) &^ 15
	if !featBF16.on() || n == 0 {
		return softmaxRowBF16Generic(p[:len(s)], s, sc, m)
	}
	for _, v := range s[n:] {
		if v = float32(v * sc); v > m || v != v {
			m = v
		}
	}
	p = p[:len(s)]
	m, sum := softmaxBF16AVX512(&s[0], &p[0], n, sc, m)
	for i := n; i < len(s); i++ {
		e := expf32(float32(s[i]*sc) - m)
		p[i] = bf16Round(e)
		sum += float64(e)
	}
	return m, sum
}
