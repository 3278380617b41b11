//go:build !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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

// BenchmarkGeneratedVsOld times each generated kernel and its hand-written predecessor on the
// 1b_down shape (1152 rows × 6912 columns), alternately (new old old new …) within each
// iteration, and reports the medians of the single calls: on a loaded machine a preempted
// call spoils one sample, not the comparison. Use -benchtime=Nx.
func BenchmarkGeneratedVsOld(b *testing.B) {
	if !featAVX512.on() {
		b.Skip("no AVX-512")
	}
	const rows, cols = 1152, 6912
	nb := cols / 32
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, rows*cols*2+4096)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	sc := make([]byte, rows*nb*2+64)
	for i := range sc {
		sc[i] = byte(rng.Uint32()) & 0x3b // finite f16 scales
	}
	x := make([]float32, cols+64)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, rows)
	dst := make([]float32, cols+64)
	run := func(name string, bytes int, fnew, fold func()) {
		b.Run(name, func(b *testing.B) {
			var tn, to []float64
			timed := func(f func(), into *[]float64) {
				t0 := time.Now()
				f()
				*into = append(*into, float64(time.Since(t0).Nanoseconds()))
			}
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					timed(fnew, &tn)
					timed(fold, &to)
				} else {
					timed(fold, &to)
					timed(fnew, &tn)
				}
			}
			mn, mo := median(tn), median(to)
			b.ReportMetric(mn, "new-ns")
			b.ReportMetric(mo, "old-ns")
			b.ReportMetric(mo/mn, "new-speed/old")
			b.ReportMetric(float64(bytes)/mn, "new-GB/s")
		})
	}
	type blockK func(y *float32, codes, scales *byte, x *float32, rows, nb int)
	for _, k := range []struct {
		name     string
		new, old blockK
		bytes    int
	}{
		{"mvQ4AVX512", mvQ4AVX512, mvQ4AVX512Old, 16},
		{"mvQ8AVX512", mvQ8AVX512, mvQ8AVX512Old, 32},
		{"mvQ4AVX2", mvQ4AVX2, mvQ4AVX2Old, 16},
		{"mvQ8AVX2", mvQ8AVX2, mvQ8AVX2Old, 32},
	} {
		call := func(f blockK) func() { return func() { f(&y[0], &buf[0], &sc[0], &x[0], rows, nb) } }
		run(k.name, rows*nb*(k.bytes+2), call(k.new), call(k.old))
	}
	type elemK func(y *float32, codes *byte, stride int, x *float32, rows, n int)
	for _, k := range []struct {
		name     string
		new, old elemK
		bits     int
	}{
		{"mvI4AVX512", mvI4AVX512, mvI4AVX512Old, 4},
		{"mvI4AVX2", mvI4AVX2, mvI4AVX2Old, 4},
		{"mvFP8AVX2", mvFP8AVX2, mvFP8AVX2Old, 8},
		{"mvSFP8AVX2", mvSFP8AVX2, mvSFP8AVX2Old, 8},
	} {
		stride := cols * k.bits / 8
		call := func(f elemK) func() { return func() { f(&y[0], &buf[0], stride, &x[0], rows, cols) } }
		run(k.name, rows*stride, call(k.new), call(k.old))
	}
	type nibK func(y *float32, codes *byte, stride int, scales *byte, nb int, xp *float32, rows, steps int)
	for _, k := range []struct {
		name     string
		new, old nibK
		perStep  int
		bytes    int
	}{
		{"mvQ4XAVX512", mvQ4XAVX512, mvQ4XAVX512Old, 128, 16},
		{"mvQ8XAVX512", mvQ8XAVX512, mvQ8XAVX512Old, 64, 32},
	} {
		stride := nb * k.bytes
		call := func(f nibK) func() {
			return func() { f(&y[0], &buf[0], stride, &sc[0], nb, &x[0], rows, cols/k.perStep) }
		}
		run(k.name, rows*nb*(k.bytes+2), call(k.new), call(k.old))
	}
	i4x := func(f func(y *float32, codes *byte, stride int, xp *float32, rows, steps int)) func() {
		return func() { f(&y[0], &buf[0], cols/2, &x[0], rows, cols/128) }
	}
	run("mvI4XAVX512", rows*cols/2, i4x(mvI4XAVX512), i4x(mvI4XAVX512Old))
	if featVBMI.on() {
		b8 := func(f func(y *float32, codes *byte, stride int, tab *[256]byte, nanMask, nanCode uint32, xp *float32, rows, steps int)) func() {
			return func() { f(&y[0], &buf[0], cols, &e4m3Bytes, 0x7f7f7f7f, 0x7f7f7f7f, &x[0], rows, cols/64) }
		}
		run("mvB8AVX512", rows*cols, b8(mvB8AVX512), b8(mvB8AVX512Old))
	}
	type dqBlockK func(dst *float32, codes, scales *byte, nb int)
	for _, k := range []struct {
		name     string
		new, old dqBlockK
		bytes    int
	}{
		{"dqQ4AVX512", dqQ4AVX512, dqQ4AVX512Old, 16},
		{"dqQ8AVX512", dqQ8AVX512, dqQ8AVX512Old, 32},
	} {
		call := func(f dqBlockK) func() {
			return func() {
				for r := range 64 {
					f(&dst[0], &buf[r*nb*k.bytes], &sc[2*r*nb], nb)
				}
			}
		}
		run(k.name, 64*nb*(k.bytes+2), call(k.new), call(k.old))
	}
	type dqElemK func(dst *float32, codes *byte, n int)
	for _, k := range []struct {
		name     string
		new, old dqElemK
		bits     int
	}{
		{"dqF16AVX512", dqF16AVX512, dqF16AVX512Old, 16},
		{"dqBF16AVX512", dqBF16AVX512, dqBF16AVX512Old, 16},
		{"dqFP8AVX512", func(d *float32, c *byte, n int) { dqFP8AVX512(d, c, n, 0.5) }, func(d *float32, c *byte, n int) { dqFP8AVX512Old(d, c, n, 0.5) }, 8},
		{"dqI4AVX512", func(d *float32, c *byte, n int) { dqI4AVX512(d, c, n, 0.5) }, func(d *float32, c *byte, n int) { dqI4AVX512Old(d, c, n, 0.5) }, 4},
	} {
		call := func(f dqElemK) func() {
			return func() {
				for r := range 64 {
					f(&dst[0], &buf[r*cols*k.bits/8], cols)
				}
			}
		}
		run(k.name, 64*cols*k.bits/8, call(k.new), call(k.old))
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
