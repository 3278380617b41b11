package kernel

import "math"

// quantizeBlocksGeneric is the reference of quantizeRow from block b0 on: it quantizes x per
// block of 32 into q and the block scales d; false if x holds a NaN or ±Inf. Rounding q = roundToEven(float32(x·(1/d))) uses the float32 magic-number add
// (exact for |t| < 2²²; here |t| ≤ 127·(1+2⁻²³)). A block whose max |x| is below 2⁻⁶⁴ is
// quantized to zero (so that 1/d stays finite).
const tinyBits = 0x1f800000 // 2⁻⁶⁴

func quantizeBlocksGeneric(q []int8, d []float32, x []float32, b0 int) bool {
	const magic = 1 << 23 * 1.5
	for b := b0; b < len(d); b++ {
		xb := x[32*b : min(32*b+32, len(x))]
		var amaxBits uint32 // the bits of non-negative floats order like the values
		for _, v := range xb {
			amaxBits = max(amaxBits, math.Float32bits(v)&0x7fffffff)
		}
		if amaxBits >= 0x7f800000 {
			return false
		}
		db := math.Float32frombits(amaxBits) / 127
		if amaxBits < tinyBits {
			db = 0
		}
		d[b] = db
		qb := q[32*b : 32*b+len(xb)]
		if db == 0 {
			clear(qb)
			continue
		}
		id := 1 / db
		for j, v := range xb {
			t := float32(v * id)
			r := float32(t+magic) - magic
			qb[j] = int8(min(127, max(-127, int32(r))))
		}
	}
	return true
}
