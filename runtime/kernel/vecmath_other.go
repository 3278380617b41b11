//go:build !amd64 || purego

package kernel

func softmax(x []float32) { softmaxGeneric(x) }

func expShift(x []float32) (float32, float64) { return expShiftGeneric(x) }

func gelu(x []float32) { geluGeneric(x) }

func expVec(x []float32) {
	for i, v := range x {
		x[i] = expf32(v)
	}
}
