//go:build unix

package kernel

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// cpuTime returns the process's user + system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkMatMulInt8Small measures the small-n prefill products of Q4_0 (synth 12B shapes,
// 2 threads) on the row kernels (one or several activation rows at
// once) and on the prefill kernel; cpu-ns/op is the process CPU time (user +
// sys), steadier than the wall time on a loaded machine.
func BenchmarkMatMulInt8Small(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range []struct {
		name       string
		rows, cols int
	}{{"12b_gate", 15360, 3840}, {"12b_down", 3840, 15360}, {"12b_q", 4096, 3840}, {"1b_gate", 6912, 1152}, {"1b_down", 1152, 6912}} {
		w := randMatrix(b, rng, format.Q4_0, sh.rows, sh.cols)
		orig := w.k.int8
		for _, n := range benchSmallN {
			x := randVec(rng, n*sh.cols)
			y := make([]float32, n*sh.rows)
			for _, kern := range []string{"rows", "multi", "gemm"} {
				im := *orig
				switch kern {
				case "rows":
					im.multi, im.gemmMin = nil, n+1
				case "multi":
					im.gemmMin = n + 1
				case "gemm":
					im.gemmMin = 1
				}
				if (kern == "multi" && im.multi == nil) || (kern == "gemm" && im.expand == nil) {
					continue
				}
				w.k.int8 = &im
				b.Run(fmt.Sprintf("%s/n%d/%s", sh.name, n, kern), func(b *testing.B) {
					e := Exec{Mode: ModeInt8, Threads: 2}
					cpu0 := cpuTime()
					for b.Loop() {
						e.MatMul(y, w, x, n)
					}
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
				})
			}
		}
	}
}

// benchSmallN is the activation rows of BenchmarkMatMulInt8Small.
var benchSmallN = []int{4, 16, 32, 48, 64}
