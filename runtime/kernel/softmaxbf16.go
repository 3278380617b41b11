package kernel

// softmaxRowBF16Generic is the softmax step of the bf16 attention for one row of scores s
// (left unmodified) and the row's running maximum m:
//
//	m' = max(m, maxᵢ float32(s[i]·sc));  eᵢ = expf32(float32(s[i]·sc) − m');  p[i] = bf16(eᵢ)
//
// returning m' and Σ eᵢ in float64: the scale, maximum, exp and rounding passes of the
// attention's float32 path in one.
func softmaxRowBF16Generic(p []uint16, s []float32, sc, m float32) (float32, float64) {
	m = scaledMax(s, sc, m)
	return m, expRoundSum(p, s, sc, m, 0)
}

// scaledMax is max(m, maxᵢ float32(s[i]·sc)), NaN if any is.
func scaledMax(s []float32, sc, m float32) float32 {
	for _, v := range s {
		if v = float32(v * sc); v > m || v != v {
			m = v
		}
	}
	return m
}

// expRoundSum writes p[i] = bf16(expf32(float32(s[i]·sc) − m)) and returns sum plus the
// exponentials, added in float64 one after another.
func expRoundSum(p []uint16, s []float32, sc, m float32, sum float64) float64 {
	for i, v := range s {
		e := expf32(float32(v*sc) - m)
		p[i] = bf16Round(e)
		sum += float64(e)
	}
	return sum
}
