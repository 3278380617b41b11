package kernel

// The Go references of vec.go's operations: the loops the assembly (vec_amd64.s) implements, and
// the tails after its vectors.

func dotGeneric(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func axpyGeneric(y []float32, a float32, x []float32) {
	for i, v := range x {
		y[i] += a * v
	}
}

func sumSquaresGeneric(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v * v
	}
	return s
}

func scaleGeneric(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}

func scaleMulGeneric(dst, x []float32, a float32, w []float32) {
	for i, v := range x {
		dst[i] = (v * a) * w[i]
	}
}

func addGeneric(y, x []float32) {
	for i, v := range x {
		y[i] += v
	}
}

func ropeGeneric(x, cos, sin []float32) { ropeFrom(x, cos, sin, 0) }

// ropeFrom rotates the pairs i ≥ lo (the vector loops' tail).
func ropeFrom(x, cos, sin []float32, lo int) {
	h := len(cos)
	for i := lo; i < h; i++ {
		a, b := x[i], x[i+h]
		// float32() keeps each product rounded on its own (the spec forbids fusing then).
		x[i] = float32(a*cos[i]) - float32(b*sin[i])
		x[i+h] = float32(b*cos[i]) + float32(a*sin[i])
	}
}
