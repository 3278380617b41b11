package quantize_test

import (
	"fmt"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
)

// Encode a small weight matrix as Q4_0, decode it with the format reference and measure the
// error. The values are multiples of 0.005, but Q4_0 maps the first largest magnitude (−0.04)
// to code 0 and clamps its opposite (+0.04) to code 15 = 7·d = 0.035: hence the error.
func ExampleEncode() {
	shape := []int64{2, 32} // [out, in]
	w := make([]float32, 64)
	for i := range w {
		w[i] = float32(i%9-4) * 0.01
	}
	payload, scale, err := quantize.Encode(format.Q4_0, shape, w, quantize.Options{Name: "example"})
	if err != nil {
		panic(err)
	}
	dec := make([]float32, len(w))
	if err := format.Dequantize(dec, format.Q4_0, shape, payload, scale); err != nil {
		panic(err)
	}
	var st quantize.ErrorStats
	st.Add(w, dec)
	fmt.Printf("%d bytes, w[1] = %.4f -> %.4f, rel L2 %.3f\n", len(payload), w[1], dec[1], st.RelL2())
	// Output: 68 bytes, w[1] = -0.0300 -> -0.0300, rel L2 0.063
}

// Quantize a tensor in row chunks into a preallocated payload (for example a memory-mapped
// output file). SFP8 needs the whole tensor's maximum first.
func ExampleEncodeRows() {
	shape := []int64{4, 3}
	w := []float32{3, -1.2, 0.05, -3, 0.7, 0, 1, 2, -2, 0.5, 0.25, -0.125}
	l, err := format.LayoutOf(format.SFP8, shape)
	if err != nil {
		panic(err)
	}
	var maxabs float32
	for r := 0; r < 4; r += 2 { // first pass, chunk by chunk
		maxabs = max(maxabs, quantize.MaxAbs(w[r*3:(r+2)*3]))
	}
	scale := quantize.SFP8Scale(maxabs)
	payload := make([]byte, l.Size)
	for r := 0; r < 4; r += 2 { // second pass
		if err := quantize.EncodeRows(l, payload, r, w[r*3:(r+2)*3], scale, quantize.Options{}); err != nil {
			panic(err)
		}
	}
	fmt.Printf("scale %v, codes % x\n", scale, payload)
	// Output: scale 1.6, codes 7f f4 50 ff 6e 00 72 7a fa 6a 62 da
}
