package kernel

import (
	"bytes"
	goruntime "runtime"
	"sync"
	"testing"
	"unsafe"
)

func TestWeightMemory(t *testing.T) {
	for _, n := range []int{1, 4095, 3 << 20} {
		b := WeightMemory(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("WeightMemory(%d): len %d cap %d", n, len(b), cap(b))
		}
		if p := uintptr(unsafe.Pointer(&b[0])); p%hugePage != 0 {
			t.Errorf("WeightMemory(%d) starts at %#x, not on a 2 MiB boundary", n, p)
		}
		if !bytes.Equal(b, make([]byte, n)) {
			t.Errorf("WeightMemory(%d) is not zeroed", n)
		}
	}
	if WeightMemory(0) != nil {
		t.Error("WeightMemory(0) != nil")
	}
}

// TestResidentCopies checks that Resident moves every payload, keeps it byte for byte, skips
// nil entries and reports every byte of each matrix as copied exactly once.
func TestResidentCopies(t *testing.T) {
	src := [][]byte{make([]byte, 100), make([]byte, 9<<20), make([]byte, 64)}
	for i, b := range src {
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
	}
	ms := []*Matrix{{Data: src[0]}, nil, {Data: src[1]}, {Data: src[2]}}
	var mu sync.Mutex
	seen := map[int]int{} // bytes reported per matrix
	Resident(ms, func(i, lo, hi int) {
		mu.Lock()
		seen[i] += hi - lo
		mu.Unlock()
	})
	for k, i := range []int{0, 2, 3} {
		w := ms[i]
		if !bytes.Equal(w.Data, src[k]) {
			t.Errorf("matrix %d: copy differs", i)
		}
		if &w.Data[0] == &src[k][0] {
			t.Errorf("matrix %d: not copied", i)
		}
		if p := uintptr(unsafe.Pointer(&w.Data[0])); p%64 != 0 {
			t.Errorf("matrix %d: copy at %#x, not 64-byte aligned", i, p)
		}
		if seen[i] != len(src[k]) {
			t.Errorf("matrix %d: %d bytes reported copied, want %d", i, seen[i], len(src[k]))
		}
	}
	if len(seen) != 3 {
		t.Errorf("reported %v, want matrices 0, 2, 3", seen)
	}
}

func TestAvailableMemory(t *testing.T) {
	a := AvailableMemory()
	if a < 0 {
		t.Fatalf("AvailableMemory() = %d", a)
	}
	if goruntime.GOOS == "linux" && a == 0 {
		t.Error("AvailableMemory() = 0 on Linux: /proc/meminfo not parsed")
	}
	t.Logf("available: %.1f GiB", float64(a)/(1<<30))
}
