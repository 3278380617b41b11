//go:build !amd64 || purego

package kernel

func encodeQ4_0(codes, scales []byte, x []float32, s *EncodeSums) int { return 0 }
func encodeQ8_0(codes, scales []byte, x []float32, s *EncodeSums) int { return 0 }
func widenBF16(dst []float32, src []byte) int                         { return 0 }
func i4SqErrs(errs []float64, x []float32, scales []float32) int      { return 0 }
