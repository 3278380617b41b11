//go:build !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// Temporary differential test: the generated int8 kernels against the hand-written ones they
// replace, bit for bit, on random operands.

type rowKern func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

func i4As(k func(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)) rowKern {
	return func(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int) {
		k(y, codes, stride, xa, corr, dl, rows, steps)
	}
}

func TestGeneratedInt8MatchesOld(t *testing.T) {
	if !featVNNI.on() {
		t.Skip("no VNNI")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	f32s := func(n int, lo, hi float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = lo + (hi-lo)*rng.Float32()
		}
		return v
	}
	bytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for _, c := range []struct {
		name     string
		nib      bool
		pairRows bool
		old, new rowKern
	}{
		{"Q4VNNI", true, false, mvQ4VNNIOld, mvQ4VNNI},
		{"Q4VNNI2", true, true, mvQ4VNNI2Old, mvQ4VNNI2},
		{"Q8VNNI", false, false, mvQ8VNNIOld, mvQ8VNNI},
		{"I4VNNI", true, false, i4As(mvI4VNNIOld), i4As(mvI4VNNI)},
		{"Q4AVX2", true, false, mvQ4AVX2i8Old, mvQ4AVX2i8},
		{"Q8AVX2", false, false, mvQ8AVX2i8Old, mvQ8AVX2i8},
		{"I4AVX2", true, false, i4As(mvI4AVX2i8Old), i4As(mvI4AVX2i8)},
	} {
		for steps := 1; steps <= 7; steps++ {
			const rows = 9
			nb := 4 * steps
			cb := 128 * steps
			lanes := 32 * steps
			if c.nib {
				cb, lanes = 64*steps, 16*steps
			}
			stride := cb + 64
			codes := bytes(rows * stride)
			scales := make([]byte, 2*nb*rows)
			for i := 0; i < len(scales); i += 2 {
				h := uint16(rng.IntN(0x7800)) // finite f16
				if rng.IntN(2) == 0 {
					h |= 0x8000
				}
				scales[i], scales[i+1] = byte(h), byte(h>>8)
			}
			xa := make([]int8, 128*steps)
			for i := range xa {
				xa[i] = int8(rng.IntN(255) - 127)
			}
			corr := make([]int32, lanes)
			for i := range corr {
				corr[i] = int32(rng.IntN(40000) - 20000)
			}
			dl := f32s(lanes, 1e-3, 2)
			n := rows
			if c.pairRows {
				n = rows / 2
			}
			y0, y1 := make([]float32, rows), make([]float32, rows)
			c.old(&y0[0], &codes[0], stride, &scales[0], nb, &xa[0], &corr[0], &dl[0], n, steps)
			c.new(&y1[0], &codes[0], stride, &scales[0], nb, &xa[0], &corr[0], &dl[0], n, steps)
			for r := range y0 {
				if math.Float32bits(y0[r]) != math.Float32bits(y1[r]) {
					t.Fatalf("%s steps=%d row %d: new %v, old %v", c.name, steps, r, y1[r], y0[r])
				}
			}
		}
	}
	// gemm6x32VNNI
	for nb := 0; nb <= 5; nb++ {
		for m := 1; m <= 6; m++ {
			ldw := 32 * nb
			w := make([]int8, 6*ldw+1)
			for i := range w {
				w[i] = int8(rng.IntN(256) - 128)
			}
			wd := f32s(6*nb+1, -1, 1)
			corr := make([]int32, 6*nb+1)
			for i := range corr {
				corr[i] = int32(rng.IntN(1 << 20))
			}
			xp := bytes(1024*nb + 1)
			xd := f32s(32*nb+1, 0, 1)
			const ldy = 11
			y0, y1 := make([]float32, 32*ldy), make([]float32, 32*ldy)
			mask0, mask1 := 1<<16-1, 1<<(m+5)-1
			gemm6x32VNNIOld(&y0[0], ldy, m, mask0, mask1, 0.75, &w[0], ldw, &wd[0], &corr[0], &xp[0], &xd[0], nb)
			gemm6x32VNNI(&y1[0], ldy, m, mask0, mask1, 0.75, &w[0], ldw, &wd[0], &corr[0], &xp[0], &xd[0], nb)
			for i := range y0 {
				if math.Float32bits(y0[i]) != math.Float32bits(y1[i]) {
					t.Fatalf("gemm nb=%d m=%d [%d]: new %v, old %v", nb, m, i, y1[i], y0[i])
				}
			}
		}
	}
	// quantRowsAVX512
	for nb := 1; nb <= 6; nb++ {
		x := f32s(32*nb, -3, 3)
		x[5] *= 1e5
		if nb > 2 {
			for j := 32; j < 64; j++ {
				x[j] *= 1e-21
			}
		}
		if nb > 3 {
			clear(x[64:96])
		}
		q0, q1 := make([]int8, 32*nb), make([]int8, 32*nb)
		d0, d1 := make([]float32, nb), make([]float32, nb)
		ok0 := quantRowsAVX512Old(&q0[0], &d0[0], &x[0], nb)
		ok1 := quantRowsAVX512(&q1[0], &d1[0], &x[0], nb)
		if ok0 != ok1 || string(int8Bytes(q0)) != string(int8Bytes(q1)) || unsafe.Slice((*uint32)(unsafe.Pointer(&d0[0])), nb)[nb-1] != unsafe.Slice((*uint32)(unsafe.Pointer(&d1[0])), nb)[nb-1] {
			t.Fatalf("quant nb=%d differs", nb)
		}
		for b := range d0 {
			if math.Float32bits(d0[b]) != math.Float32bits(d1[b]) {
				t.Fatalf("quant nb=%d d[%d] differs", nb, b)
			}
		}
		x[32*nb-1] = float32(math.Inf(1))
		if quantRowsAVX512Old(&q0[0], &d0[0], &x[0], nb) != quantRowsAVX512(&q1[0], &d1[0], &x[0], nb) {
			t.Fatalf("quant nb=%d: Inf verdicts differ", nb)
		}
	}
	// expand
	for nb := 0; nb <= 5; nb++ {
		for _, q4 := range []bool{true, false} {
			codes := bytes(32*nb + 1)
			d0, d1 := make([]int8, 32*nb+1), make([]int8, 32*nb+1)
			c0, c1 := make([]int32, 6*nb+1), make([]int32, 6*nb+1)
			if q4 {
				expandQ4AVX512Old(&d0[0], &c0[0], 24, &codes[0], nb)
				expandQ4AVX512(&d1[0], &c1[0], 24, &codes[0], nb)
			} else {
				expandQ8AVX512Old(&d0[0], &c0[0], 24, &codes[0], nb)
				expandQ8AVX512(&d1[0], &c1[0], 24, &codes[0], nb)
			}
			for i := range d0 {
				if d0[i] != d1[i] {
					t.Fatalf("expand q4=%v nb=%d dst[%d] differs", q4, nb, i)
				}
			}
			for i := range c0 {
				if c0[i] != c1[i] {
					t.Fatalf("expand q4=%v nb=%d corr[%d] differs", q4, nb, i)
				}
			}
		}
	}
}
