package kernel

// softmaxRowBF16Generic is the softmax step of the bf16 attention for one row of scores s
// (left unmodified) and the row's running maximum m:
//
//	m' = max(m, maxᵢ float32(s[i]·sc));  eᵢ = expf32(float32(s[i]·sc) − m');  p[i] = bf16(eᵢ)
//
// returning m' and Σ eᵢ in float64: the scale, maximum, exp and rounding passes of the
// attention's float32 path in one.
func softmaxRowBF16Generic(p []uint16, s []float32, sc, m float32) (float32, float64) {
	for _, v := range s {
		if v = float32(v * sc); v > m || v != v {
			m = v
		}
	}
	var sum float64
	for i, v := range s {
		e := expf32(float32(v*sc) - m)
		p[i] = bf16Round(e)
		sum += float64(e)
	}
	return m, sum
}
