package testutil

import "testing"

// ReportCPU reports the process's CPU time per operation (cpu-ms/op): on a shared, loaded
// machine it varies far less than wall time. Call it as defer ReportCPU(b)() before the loop.
func ReportCPU(b *testing.B) func() {
	start := CPUTime()
	return func() {
		if b.N > 0 && start > 0 {
			b.ReportMetric(float64((CPUTime()-start).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		}
	}
}
