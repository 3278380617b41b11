//go:build !amd64 || purego

package kernel

func dot(a, b []float32) float32                        { return dotGeneric(a, b) }
func axpy(y []float32, a float32, x []float32)          { axpyGeneric(y, a, x) }
func sumSquares(x []float32) float32                    { return sumSquaresGeneric(x) }
func scale(x []float32, a float32)                      { scaleGeneric(x, a) }
func scaleMul(dst, x []float32, a float32, w []float32) { scaleMulGeneric(dst, x, a, w) }
func add(y, x []float32)                                { addGeneric(y, x) }
func rope(x, cos, sin []float32)                        { ropeGeneric(x, cos, sin) }
func streamRead(p []byte) uint64                        { return streamReadGeneric(p) }
