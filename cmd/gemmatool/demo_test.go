package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestDemoShortAndExplained: the demo explains each step, leaves out the tensor table, and its
// summary repeats the perplexities that the commands it prints gave (defect 7).
func TestDemoShortAndExplained(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	out, stderr, code := mainRun(t, "", "demo", "--testdata", "../../testdata", "--chunks", "1")
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"[1/6] convert", "[2/6] inspect", "$ gemmatool inspect --summary", "[4/6] generate", "greedy decoding repeats", "[6/6]", "summary: perplexity BF16"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, "text.blk.0.attn_q_norm") {
		t.Errorf("demo prints the tensor table")
	}
	if n := strings.Count(out, "\n"); n > 70 {
		t.Errorf("demo prints %d lines, want a short run (≤ 70; it was 150 with the tensor table)", n)
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^perplexity ([0-9.]+) ±`).FindAllStringSubmatch(out, -1) {
		var p float64
		fmt.Sscan(m[1], &p)
		got = append(got, fmt.Sprintf("%.2f", p))
	}
	if len(got) != 2 || !strings.Contains(out, "summary: perplexity BF16 "+got[0]+", Q4_0 "+got[1]+" ") {
		t.Errorf("summary does not repeat the printed perplexities %v", got)
	}
}
