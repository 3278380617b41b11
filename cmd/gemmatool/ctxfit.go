package main

import (
	"fmt"
	"io"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// kvBudget returns the memory a session's KV cache may take beside the loaded weights: the
// available memory (MemAvailable, read after the load) less an eighth kept free, less the
// weights when they are read from the file mapping (their page cache must stay), or -1 when
// the system does not say.
func kvBudget(m *runtime.Model) int64 {
	avail := availableMemory()
	if avail <= 0 {
		return -1
	}
	b := avail - avail/8
	if !m.Resident() {
		b -= m.WeightBytes()
	}
	return max(b, 0)
}

// availableMemory is kernel.AvailableMemory (a variable for tests).
var availableMemory = kernel.AvailableMemory

// fitContext returns the context length for a session of m (run, chat) whose KV cache holds
// elements of type kv: --ctx when set (an error when its KV cache cannot fit beside the weights), else the model's maximum, or the largest that fits
// (a multiple of 1024, with a one-line note on w) when the maximum does not.
func fitContext(m *runtime.Model, kv runtime.KVType, ctx int, set bool, w io.Writer) (int, error) {
	maxPos := m.Config.MaxPositions
	budget := kvBudget(m)
	if set {
		if budget >= 0 && m.KVCacheBytes(ctx, kv) > budget {
			return 0, fmt.Errorf("--ctx %d needs %.2f GB of %s KV cache, more than the %.2f GB of memory available beside the weights; give a smaller --ctx",
				ctx, float64(m.KVCacheBytes(ctx, kv))/1e9, kv, float64(budget)/1e9)
		}
		return ctx, nil
	}
	if maxPos <= 0 || budget < 0 || m.KVCacheBytes(maxPos, kv) <= budget {
		return 0, nil // the model's maximum
	}
	lo, hi := 0, maxPos // KVCacheBytes grows with ctx: the largest fitting one
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if m.KVCacheBytes(mid, kv) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo >= 1024 {
		lo &^= 1023
	}
	if lo < 1 {
		return 0, fmt.Errorf("no memory is left beside the weights for a KV cache (%.2f GB available)", float64(budget)/1e9)
	}
	fmt.Fprintf(w, "gemmatool: context %d (the model's %d would need %.1f GB of %s KV cache, %.1f GB is available beside the weights; --ctx to choose)\n",
		lo, maxPos, float64(m.KVCacheBytes(maxPos, kv))/1e9, kv, float64(budget)/1e9)
	return lo, nil
}
