package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionDenseBF16 checks that Attention in ModeBF16, which packs the heads from q, k
// and v rounded once and stores the microkernel's tiles in place, gives bit for bit what the
// per-row callbacks and the plain microkernel give (TestAttentionBF16 compares both with the
// float64 reference).
func TestAttentionDenseBF16(t *testing.T) {
	mr, nr, kern, ok := bf16Kernel()
	if !ok {
		t.Skip("no AVX-512 BF16 microkernel on this CPU/build")
	}
	for _, c := range []struct{ n, heads, hd int }{{1, 1, 8}, {5, 2, 3}, {33, 3, 20}, {301, 2, 72}, {517, 1, 17}} {
		t.Run(fmt.Sprintf("n%d_h%d_hd%d", c.n, c.heads, c.hd), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			size := c.n * c.heads * c.hd
			q, k, v := randScaled(rng, size, 2), randScaled(rng, size, 2), randScaled(rng, size, 1)
			scale := float32(1 / math.Sqrt(float64(c.hd)))
			want := make([]float32, size)
			e := Exec{Threads: 2, Mode: ModeBF16}
			attentionTiled(e, denseHeads(want, q, k, v, c.n, c.heads, c.hd), scale, attnOps[uint16]{mr, nr, 2, kern, bf16Round, nil, nil})
			got := make([]float32, size+1)
			got[size] = 7
			e.Attention(got[:size], q, k, v, c.n, c.heads, c.hd, scale)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("out[%d] = %v, the callbacks give %v", i, got[i], want[i])
				}
			}
			if got[size] != 7 {
				t.Fatal("Attention wrote past out")
			}
		})
	}
}
