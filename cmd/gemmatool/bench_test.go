package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchLlamaBenchHabits: comma lists of threads, prompt and generation lengths, -r, the
// llama-bench table by default and its field names in -o json (item 13).
func TestBenchLlamaBenchHabits(t *testing.T) {
	model := goldenA(t)
	args := []string{"bench", "-m", model, "--act", "exact", "-t", "1,2", "-p", "8", "-n", "4", "-r", "2", "--bw-gb", "0.04"}
	out, stderr, code := mainRun(t, "", append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 4 {
		t.Fatalf("bench -o json: %d rows (%v), want 4 (2 thread counts × pp8, tg4)", len(rows), err)
	}
	for i, want := range []struct{ threads, np, ng float64 }{{1, 8, 0}, {1, 0, 4}, {2, 8, 0}, {2, 0, 4}} {
		r := rows[i]
		if r["n_threads"] != want.threads || r["n_prompt"] != want.np || r["n_gen"] != want.ng || len(r["samples_ts"].([]any)) != 2 || !(r["avg_ts"].(float64) > 0) {
			t.Errorf("row %d = %v, want threads %v, n_prompt %v, n_gen %v, 2 samples", i, r, want.threads, want.np, want.ng)
		}
		if want.ng > 0 && r["ceiling"] == nil {
			t.Errorf("tg row %d has no ceiling measurements", i)
		}
	}
	out, _, code = mainRun(t, "", args...)
	if code != 0 || !strings.HasPrefix(out, "| model | size | params | backend | threads | test | t/s |\n") || strings.Count(out, "| tg4 |") != 2 || strings.Count(out, "| pp8 |") != 2 {
		t.Errorf("bench table:\n%s", out)
	}
	if _, stderr, code := mainRun(t, "", "bench", "-m", model, "-t", "1,x"); code != 2 || !strings.Contains(stderr, "--threads") {
		t.Errorf("bench -t 1,x: exit %d, %q", code, stderr)
	}
}

// TestBenchRooflineNeverAboveOne: a decode faster than the measured ceiling is reported as an
// under-measured ceiling, without a fraction (defect 9).
func TestBenchRooflineNeverAboveOne(t *testing.T) {
	c := &ceiling{}
	c.add("stream ×2", 40)
	c.add("matvec bf16", 50)
	rows := []*benchRow{
		{NGen: 128, Threads: 2, AvgTS: 100, ReadGBs: 69, CeilingGBs: 50, Fraction: 1.38, UnderMeas: true, Ceiling: c},
		{NGen: 64, Threads: 2, AvgTS: 50, ReadGBs: 34.5, CeilingGBs: 50, Fraction: 0.69, Roofline: 72.5, Ceiling: c},
	}
	var b bytes.Buffer
	if err := writeBenchRows(&b, rows, 690e6, "md"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "tg128: reads 69.0 GB/s, above the measured ceiling of 50.0 GB/s: the ceiling was under-measured") || strings.Contains(out, "138%") {
		t.Errorf("above the ceiling:\n%s", out)
	}
	if !strings.Contains(out, "tg64: reads 34.5 GB/s = 69% of the ceiling") || !strings.Contains(out, "spread 20%") {
		t.Errorf("below the ceiling:\n%s", out)
	}
}
