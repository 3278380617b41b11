package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

func TestBF16Round(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81},
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float32 rounds to +Inf
		{float32(math.Inf(-1)), 0xff80},
	} {
		if got := bf16Round(c.in); got != c.want {
			t.Errorf("bf16Round(%#x) = %#x, want %#x", math.Float32bits(c.in), got, c.want)
		}
	}
	if got := bf16Round(float32(math.NaN())); bf16f(got) == bf16f(got) {
		t.Errorf("bf16Round(NaN) = %#x, not a NaN", got)
	}
}

// TestGemmBF16Kernel compares the AVX-512 BF16 microkernel with the Go reference.
func TestGemmBF16Kernel(t *testing.T) {
	mr, nr, kern, ok := bf16Kernel()
	if !ok {
		t.Skip("no AVX-512 BF16 microkernel on this CPU/build")
	}
	ref := gemmBF16Generic(mr, nr)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{0, 1, 2, 7, 36, 200} {
		ldw := 2*k + 3
		w := make([]uint16, mr*ldw)
		xp := make([]uint16, 2*nr*k+1)
		for i := range w {
			w[i] = bf16Round(float32(rng.NormFloat64()))
		}
		for i := range xp {
			xp[i] = bf16Round(float32(rng.NormFloat64()))
		}
		got, want := make([]float32, mr*nr+1), make([]float32, mr*nr)
		got[mr*nr] = 7
		kern(&w[0], ldw, &xp[0], k, &got[0])
		ref(&w[0], ldw, &xp[0], k, &want[0])
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
				t.Fatalf("k %d: tile[%d] = %v, reference %v", k, i, got[i], want[i])
			}
		}
		if got[mr*nr] != 7 {
			t.Fatalf("k %d: wrote past the tile", k)
		}
	}
}

// TestMatMulBF16 compares the bf16 product (reference and assembly microkernels) with a
// float64 product of the bf16-rounded weights and activations.
func TestMatMulBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type kernCase struct {
		name   string
		mr, nr int
		kern   microKernelBF16
	}
	kerns := []kernCase{{"generic4x8", 4, 8, gemmBF16Generic(4, 8)}}
	if mr, nr, kern, ok := bf16Kernel(); ok {
		kerns = append(kerns, kernCase{"asm", mr, nr, kern})
	}
	for _, kc := range kerns {
		for _, dt := range []format.DType{format.BF16, format.F32, format.Q8_0} {
			for _, sh := range [][3]int{{1, 2, 1}, {13, 7, 5}, {25, 64, 33}, {12, 96, 64}, {30, 128, 70}} {
				rows, cols, n := sh[0], sh[1], sh[2]
				if dt == format.Q8_0 && cols%32 != 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%v/%dx%dx%d", kc.name, dt, rows, cols, n), func(t *testing.T) {
					w := randMatrix(t, rng, dt, rows, cols)
					x := randVec(rng, n*cols)
					got := make([]float32, n*rows+2)
					got[n*rows], got[n*rows+1] = 7, 7
					matMulBF16With(Exec{Threads: 2}, got[:n*rows], w, x, n, kc.mr, kc.nr, kc.kern)
					row := make([]float32, cols)
					for r := range rows {
						DequantRow(row, w, r)
						for i := range n {
							var want, mag float64
							for c := range cols {
								p := float64(bf16f(bf16Round(row[c]))) * float64(bf16f(bf16Round(x[i*cols+c])))
								want += p
								mag += math.Abs(p)
							}
							g := got[i*rows+r]
							if d := math.Abs(float64(g) - want); !(d <= float64(cols+1)*0x1p-24*mag) {
								t.Fatalf("y[%d, %d] = %v, want %v (diff %.3g)", i, r, g, want, d)
							}
						}
					}
					if got[n*rows] != 7 || got[n*rows+1] != 7 {
						t.Fatal("wrote past y")
					}
				})
			}
		}
	}
}

// TestRoundBF16 compares the vector conversion with bf16Round on normal values (subnormals
// flush to zero in the AVX-512 BF16 one).
func TestRoundBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 15, 16, 17, 100} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20))
		}
		if n > 3 {
			src[1], src[2], src[3] = float32(math.Inf(1)), 0, math.Float32frombits(0x3f818000)
		}
		got := make([]uint16, n+1)
		got[n] = 7
		roundBF16(got[:n], src)
		for i, v := range src {
			if want := bf16Round(v); got[i] != want {
				t.Fatalf("n %d: roundBF16(%v)[%d] = %#x, want %#x", n, v, i, got[i], want)
			}
		}
		if got[n] != 7 {
			t.Fatalf("n %d: wrote past dst", n)
		}
	}
}
