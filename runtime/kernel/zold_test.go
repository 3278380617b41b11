//go:build !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestGeneratedMatchesHandWritten runs every generated kernel and its hand-written
// predecessor on random codes (every bit pattern: NaN, Inf and subnormal codes and scales
// included) and asserts bit-identical outputs. Temporary: removed with the old kernels.
func TestGeneratedMatchesHandWritten(t *testing.T) {
	if !featAVX512.on() {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bytes := func(n int) []byte {
		b := make([]byte, n+64)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// scalesOK: f16 scales drawn from finite values (half the trials) or any bits.
	f16s := func(n int, any bool) []byte {
		b := bytes(2 * n)
		if !any {
			for i := 1; i < len(b); i += 2 {
				b[i] &= 0x7b // exponent < 31
			}
		}
		return b
	}
	vec := func(n int, special bool) []float32 {
		x := make([]float32, n+64)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if special && n > 0 {
			x[rng.IntN(n)] = float32(math.Inf(1))
		}
		return x
	}
	same := func(name string, a, b []float32) {
		t.Helper()
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s: [%d] new %v (%#x) old %v (%#x)", name, i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
			}
		}
	}
	type blockK func(y *float32, codes, scales *byte, x *float32, rows, nb int)
	type elemK func(y *float32, codes *byte, stride int, x *float32, rows, n int)
	for trial := range 200 {
		special := trial%4 == 3
		anyScale := trial%2 == 1
		rows := 1 + rng.IntN(5)
		nb := 1 + rng.IntN(40)
		for _, k := range []struct {
			name     string
			new, old blockK
			bytes    int
			avx512   bool
		}{
			{"mvQ4AVX512", mvQ4AVX512, mvQ4AVX512Old, 16, true},
			{"mvQ8AVX512", mvQ8AVX512, mvQ8AVX512Old, 32, true},
			{"mvQ4AVX2", mvQ4AVX2, mvQ4AVX2Old, 16, false},
			{"mvQ8AVX2", mvQ8AVX2, mvQ8AVX2Old, 32, false},
		} {
			codes, scales, x := bytes(rows*nb*k.bytes), f16s(rows*nb, anyScale), vec(32*nb, special)
			a, b := make([]float32, rows), make([]float32, rows)
			k.new(&a[0], &codes[0], &scales[0], &x[0], rows, nb)
			k.old(&b[0], &codes[0], &scales[0], &x[0], rows, nb)
			same(k.name, a, b)
		}
		for _, k := range []struct {
			name     string
			new, old func(dst *float32, codes, scales *byte, nb int)
			bytes    int
		}{
			{"dqQ4AVX512", dqQ4AVX512, dqQ4AVX512Old, 16},
			{"dqQ8AVX512", dqQ8AVX512, dqQ8AVX512Old, 32},
		} {
			codes, scales := bytes(nb*k.bytes), f16s(nb, anyScale)
			a, b := make([]float32, 32*nb), make([]float32, 32*nb)
			k.new(&a[0], &codes[0], &scales[0], nb)
			k.old(&b[0], &codes[0], &scales[0], nb)
			same(k.name, a, b)
		}
		for _, k := range []struct {
			name     string
			new, old elemK
			align    int
			bits     int
		}{
			{"mvI4AVX512", mvI4AVX512, mvI4AVX512Old, 32, 4},
			{"mvI4AVX2", mvI4AVX2, mvI4AVX2Old, 16, 4},
			{"mvFP8AVX2", mvFP8AVX2, mvFP8AVX2Old, 8, 8},
			{"mvSFP8AVX2", mvSFP8AVX2, mvSFP8AVX2Old, 8, 8},
		} {
			n := k.align * rng.IntN(40)
			stride := n*k.bits/8 + rng.IntN(3)
			codes, x := bytes(rows*stride), vec(n, special)
			a, b := make([]float32, rows), make([]float32, rows)
			if n == 0 {
				x = vec(1, false)
			}
			k.new(&a[0], &codes[0], stride, &x[0], rows, n)
			k.old(&b[0], &codes[0], stride, &x[0], rows, n)
			same(k.name, a, b)
		}
		n := 32 * (1 + rng.IntN(40))
		codes := bytes(2 * n)
		a, b := make([]float32, n), make([]float32, n)
		s := float32(rng.NormFloat64())
		if special {
			s = float32(math.Inf(-1))
		}
		for _, k := range []struct {
			name     string
			new, old func(dst *float32, codes *byte, n int)
		}{
			{"dqF16AVX512", dqF16AVX512, dqF16AVX512Old},
			{"dqBF16AVX512", dqBF16AVX512, dqBF16AVX512Old},
			{"dqFP8AVX512", func(d *float32, c *byte, n int) { dqFP8AVX512(d, c, n, s) }, func(d *float32, c *byte, n int) { dqFP8AVX512Old(d, c, n, s) }},
			{"dqI4AVX512", func(d *float32, c *byte, n int) { dqI4AVX512(d, c, n, s) }, func(d *float32, c *byte, n int) { dqI4AVX512Old(d, c, n, s) }},
		} {
			k.new(&a[0], &codes[0], n)
			k.old(&b[0], &codes[0], n)
			same(k.name, a, b)
		}
		steps := rng.IntN(6)
		stride := 64*steps + 64
		cb := bytes(rows * stride)
		xp := vec(128*steps+128, special)
		sc := f16s(rows*4*steps+4, anyScale)
		nbs := 4 * steps
		a, b = make([]float32, rows), make([]float32, rows)
		mvQ4XAVX512(&a[0], &cb[0], stride, &sc[0], nbs, &xp[0], rows, steps)
		mvQ4XAVX512Old(&b[0], &cb[0], stride, &sc[0], nbs, &xp[0], rows, steps)
		same("mvQ4XAVX512", a, b)
		mvQ8XAVX512(&a[0], &cb[0], stride, &sc[0], 2*steps, &xp[0], rows, steps)
		mvQ8XAVX512Old(&b[0], &cb[0], stride, &sc[0], 2*steps, &xp[0], rows, steps)
		same("mvQ8XAVX512", a, b)
		mvI4XAVX512(&a[0], &cb[0], stride, &xp[0], rows, steps)
		mvI4XAVX512Old(&b[0], &cb[0], stride, &xp[0], rows, steps)
		same("mvI4XAVX512", a, b)
		if featVBMI.on() {
			for _, tb := range []struct {
				tab           *[256]byte
				mask, nanCode uint32
			}{{&e4m3Bytes, 0x7f7f7f7f, 0x7f7f7f7f}, {&sfpBytes, 0xffffffff, 0x80808080}} {
				mvB8AVX512(&a[0], &cb[0], stride, tb.tab, tb.mask, tb.nanCode, &xp[0], rows, steps)
				mvB8AVX512Old(&b[0], &cb[0], stride, tb.tab, tb.mask, tb.nanCode, &xp[0], rows, steps)
				same("mvB8AVX512", a, b)
			}
		}
	}
	_ = unsafe.Pointer(nil)
}
