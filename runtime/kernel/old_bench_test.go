//go:build amd64 && !purego

package kernel

import (
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"unsafe"
)

// BenchmarkGenVsOld times each generated routine beside the hand-written one it replaces.
func BenchmarkGenVsOld(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 4096
	x, y, w := randVec(rng, 2*n), randVec(rng, 2*n), randVec(rng, 2*n)
	for i := range x {
		x[i] *= 4
	}
	p := func(v []float32) *float32 { return &v[0] }
	buf := make([]byte, 1<<20)
	const k = 1152
	wm, xp, tile := randVec(rng, 12*k), randVec(rng, 32*k), make([]float32, 12*32)
	codes, scales := make([]byte, 2*n), make([]byte, n)
	var sums [3]float64
	sc := []float32{0.01, 0.02, 0.03, 0.04}
	errs := make([]float64, 4)
	src := make([]byte, 2*n)
	pair := func(name string, gen, old func()) {
		if os.Getenv("GEN_CPU") != "" {
			cpuPair(b, name, gen, old)
			return
		}
		run := func(which string, f func()) {
			b.Run(name+"/"+which, func(b *testing.B) {
				for b.Loop() {
					f()
				}
			})
		}
		if os.Getenv("GEN_FIRST") != "" { // alternate the order between runs
			run("new", gen)
			run("old", old)
		} else {
			run("old", old)
			run("new", gen)
		}
	}
	pair("gemm12x32", func() { gemm12x32AVX512(p(wm), k, p(xp), k, p(tile)) }, func() { gemm12x32AVX512Old(p(wm), k, p(xp), k, p(tile)) })
	pair("gemm6x16", func() { gemm6x16AVX2(p(wm), k, p(xp), k, p(tile)) }, func() { gemm6x16AVX2Old(p(wm), k, p(xp), k, p(tile)) })
	pair("dot", func() { dotAVX2(p(x), p(y), n) }, func() { dotAVX2Old(p(x), p(y), n) })
	pair("sumSquares", func() { sumSquaresAVX2(p(x), n) }, func() { sumSquaresAVX2Old(p(x), n) })
	pair("axpy", func() { axpyAVX2(p(y), 1e-9, p(x), n) }, func() { axpyAVX2Old(p(y), 1e-9, p(x), n) })
	pair("scale", func() { scaleAVX2(p(y), 1, n) }, func() { scaleAVX2Old(p(y), 1, n) })
	pair("scaleMul", func() { scaleMulAVX2(p(y), p(x), 1, p(w), n) }, func() { scaleMulAVX2Old(p(y), p(x), 1, p(w), n) })
	pair("add", func() { addAVX2(p(y), p(w), n) }, func() { addAVX2Old(p(y), p(w), n) })
	pair("rope", func() { ropeAVX2(p(w), n, p(x), p(y), n) }, func() { ropeAVX2Old(p(w), n, p(x), p(y), n) })
	pair("streamRead", func() { streamReadAVX2(&buf[0], len(buf)) }, func() { streamReadAVX2Old(&buf[0], len(buf)) })
	pair("max", func() { maxAVX2(p(x), n) }, func() { maxAVX2Old(p(x), n) })
	pair("expSum512", func() { copy(y, x); expSumAVX512(p(y), n, 1) }, func() { copy(y, x); expSumAVX512Old(p(y), n, 1) })
	pair("expSum2", func() { copy(y, x); expSumAVX2(p(y), n, 1) }, func() { copy(y, x); expSumAVX2Old(p(y), n, 1) })
	pair("gelu512", func() { copy(y, x); geluAVX512(p(y), n) }, func() { copy(y, x); geluAVX512Old(p(y), n) })
	pair("gelu2", func() { copy(y, x); geluAVX2(p(y), n) }, func() { copy(y, x); geluAVX2Old(p(y), n) })
	pair("encQ4", func() { encQ4AVX512(&codes[0], &scales[0], p(x), n/32, &sums) }, func() { encQ4AVX512Old(&codes[0], &scales[0], p(x), n/32, &sums) })
	pair("encQ8", func() { encQ8AVX512(&codes[0], &scales[0], p(x), n/32, &sums) }, func() { encQ8AVX512Old(&codes[0], &scales[0], p(x), n/32, &sums) })
	pair("widenBF16", func() { widenBF16AVX512(p(y), &src[0], n) }, func() { widenBF16AVX512Old(p(y), &src[0], n) })
	pair("i4Err", func() { i4ErrAVX512(p(x), n, &sc[0], 4, &errs[0]) }, func() { i4ErrAVX512Old(p(x), n, &sc[0], 4, &errs[0]) })
	pair("encSFP8", func() { encSFP8AVX512(&codes[0], p(x), n, 0.1, 1e30, 10, &sums) }, func() { encSFP8AVX512Old(&codes[0], p(x), n, 0.1, 1e30, 10, &sums) })
	pair("maxAbsBits", func() { maxAbsBitsAVX512(p(x), n) }, func() { maxAbsBitsAVX512Old(p(x), n) })
	pair("encFP8", func() { encFP8AVX512(&codes[0], p(x), n, 0.1, &sums) }, func() { encFP8AVX512Old(&codes[0], p(x), n, 0.1, &sums) })
}

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): unlike the wall
// clock it does not count the time other processes hold the core.
func threadCPU() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// cpuPair times old and new alternately (ABBA) in thread CPU time and reports the median of
// the per-round ratios old/new (> 1: new is faster).
func cpuPair(b *testing.B, name string, gen, old func()) {
	b.Run(name, func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		calls := 1
		for {
			t := threadCPU()
			for range calls {
				old()
			}
			if threadCPU()-t > 2e6 {
				break
			}
			calls *= 2
		}
		time := func(f func()) float64 {
			t := threadCPU()
			for range calls {
				f()
			}
			return float64(threadCPU()-t) / float64(calls)
		}
		var ratios, olds, news []float64
		for b.Loop() {
			var o, n float64
			if len(ratios)%2 == 0 {
				o = time(old)
				n = time(gen)
			} else {
				n = time(gen)
				o = time(old)
			}
			ratios = append(ratios, o/n)
			olds = append(olds, o)
			news = append(news, n)
		}
		slices.Sort(ratios)
		slices.Sort(olds)
		slices.Sort(news)
		m := len(ratios) / 2
		b.ReportMetric(ratios[m], "speed-new/old")
		b.ReportMetric(olds[m], "old-cpu-ns/call")
		b.ReportMetric(news[m], "new-cpu-ns/call")
	})
}
