//go:build !amd64 || purego

package kernel

func softmaxRowBF16(p []uint16, s []float32, sc, m float32) (float32, float64) {
	return softmaxRowBF16Generic(p[:len(s)], s, sc, m)
}
