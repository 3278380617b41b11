//go:build !amd64 || purego

package kernel

func encodeQ4_0(codes, scales []byte, x []float32, s *EncodeSums) int { return 0 }
func encodeQ8_0(codes, scales []byte, x []float32, s *EncodeSums) int { return 0 }
func widenBF16(dst []float32, src []byte) int                         { return 0 }
func i4SqErrs(errs []float64, x []float32, scales []float32) int      { return 0 }
func encodeSFP8(codes []byte, x []float32, inv, limit, scale float32, s *EncodeSums) (int, bool) {
	return 0, true
}
func maxAbsBits(x []float32) (int, uint32)                                  { return 0, 0 }
func encodeFP8(codes []byte, x []float32, scale float32, s *EncodeSums) int { return 0 }
