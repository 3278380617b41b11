package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/runtime"
)

// TestFitContext checks run's context choice against a stubbed amount of available memory:
// the model's maximum when it fits, the largest fitting multiple of 1024 with a note when it
// does not, and an error for an explicit --ctx that cannot fit.
func TestFitContext(t *testing.T) {
	lm, err := openModel(brownTiny(t), true, false, false, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	m := lm.m
	maxPos := m.Config.MaxPositions
	old := availableMemory
	defer func() { availableMemory = old }()
	// Memory for the weights (mapped) and the KV cache of 3000 positions, after the eighth kept free.
	need := m.WeightBytes() + m.KVCacheBytes(3000, runtime.KVF32)
	availableMemory = func() int64 { return need + need/7 + 1 }
	var note bytes.Buffer
	ctx, err := fitContext(m, runtime.KVF32, 0, false, &note)
	if err != nil {
		t.Fatal(err)
	}
	if maxPos > 3000 {
		if ctx != 2048 || !strings.Contains(note.String(), "context 2048") {
			t.Errorf("fitted context %d, note %q; want 2048 and a note", ctx, note.String())
		}
	}
	if _, err := fitContext(m, runtime.KVF32, 3000, true, &note); err != nil {
		t.Errorf("--ctx 3000 fits, got %v", err)
	}
	if _, err := fitContext(m, runtime.KVF32, 3100, true, &note); err == nil || !strings.Contains(err.Error(), "--ctx 3100") {
		t.Errorf("--ctx 3100 does not fit, got %v", err)
	}
	availableMemory = func() int64 { return 1 << 50 }
	note.Reset()
	if ctx, err := fitContext(m, runtime.KVF32, 0, false, &note); err != nil || ctx != 0 || note.Len() != 0 {
		t.Errorf("plenty of memory: context %d (0 = the model's), note %q, err %v", ctx, note.String(), err)
	}
}
