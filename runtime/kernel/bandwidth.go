package kernel

import (
	"encoding/binary"
	"sync"
	"time"
)

// MeasureBandwidth measures memory read bandwidth in GB/s (10⁹ bytes per second): threads
// goroutines each stream repeatedly through their share of a bytes-long buffer, and the best
// of ten passes counts. Pick bytes well above the last-level cache (e.g. 1 GiB). threads < 1
// means GOMAXPROCS. The buffer is [WeightMemory] (huge pages where available, as resident
// weights are), allocated for the duration of the call.
func MeasureBandwidth(bytes int, threads int) (gbs float64) {
	if threads < 1 {
		threads = Exec{}.NumThreads()
	}
	per := max(bytes/threads, 4096) &^ 4095
	buf := WeightMemory(per * threads)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i >> 12) // fault the pages in
	}
	best := 0.0
	var sink uint64
	var mu sync.Mutex
	for pass := 0; pass < 10; pass++ {
		var wg sync.WaitGroup
		start := time.Now()
		for t := range threads {
			wg.Add(1)
			go func(p []byte) {
				defer wg.Done()
				s := streamRead(p)
				mu.Lock()
				sink += s
				mu.Unlock()
			}(buf[t*per : (t+1)*per])
		}
		wg.Wait()
		if g := float64(len(buf)) / time.Since(start).Seconds() / 1e9; g > best {
			best = g
		}
	}
	_ = sink
	return best
}

// streamReadGeneric reads every 8-byte word of p and returns their xor (so the reads cannot
// be removed).
func streamReadGeneric(p []byte) uint64 {
	var a, b uint64
	for i := 0; i+16 <= len(p); i += 16 {
		a ^= binary.LittleEndian.Uint64(p[i:])
		b ^= binary.LittleEndian.Uint64(p[i+8:])
	}
	return a ^ b
}
