package format

import (
	"os"
	"testing"
	"time"
)

// BenchmarkPopulatedPasses maps GEMMATOOL_BENCH_MODEL afresh per iteration, populates it
// (MADV_POPULATE_READ) and then reads one byte per 4 KiB page three times, reporting each
// pass's seconds and the share of the file mapped in 2 MiB pages: on a guest of a
// shadow-paging hypervisor the first pass over pages mapped 4 KiB at a time costs far more
// than the later ones (README "Speed"). Warm the page cache first:
//
//	cat FILE > /dev/null; GEMMATOOL_BENCH_MODEL=FILE go test ./format -run '^$' -bench PopulatedPasses -benchtime 1x
func BenchmarkPopulatedPasses(b *testing.B) {
	path := os.Getenv("GEMMATOOL_BENCH_MODEL")
	if path == "" {
		b.Skip("GEMMATOOL_BENCH_MODEL not set")
	}
	var sink byte
	for b.Loop() {
		m, err := Map(path)
		if err != nil {
			b.Fatal(err)
		}
		data := m.Bytes()
		start := time.Now()
		m.Populate(0, int64(len(data)))
		b.ReportMetric(time.Since(start).Seconds(), "populate-s")
		for pass := range 3 {
			start := time.Now()
			for i := 0; i < len(data); i += 4096 {
				sink += data[i]
			}
			b.ReportMetric(time.Since(start).Seconds(), []string{"pass1-s", "pass2-s", "pass3-s"}[pass])
		}
		if hm := HugeMapped(); hm >= 0 && len(data) > 0 {
			b.ReportMetric(100*float64(hm)/float64(len(data)), "%huge")
		}
		m.Close()
	}
	_ = sink
}
