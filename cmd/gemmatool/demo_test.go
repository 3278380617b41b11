package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoPrintsItsCommandsResults runs the demo (2 windows per perplexity) and then each
// verify command it prints, on their own: the perplexity lines must agree digit for digit. A
// setting left behind by an earlier step (the run step's int8 activations) would change the
// demo's figures but not the separate commands'.
func TestDemoPrintsItsCommandsResults(t *testing.T) {
	work := t.TempDir()
	out, stderr, code := cliRun(t, "", "demo", "--testdata", filepath.Join("..", "..", "testdata"), "--workdir", work, "--chunks", "2")
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	// Short and explained (defect 7 of the CLI issue): each step says why it runs, the tensor
	// table is left out, and the summary repeats the two printed perplexities.
	for _, want := range []string{"[1/6] convert", "$ gemmatool inspect --summary", "[4/6] generate", "greedy decoding repeats", "[6/6]", "summary: perplexity BF16"} {
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
	var sum []string
	for _, m := range regexp.MustCompile(`(?m)^perplexity ([0-9.]+) ±`).FindAllStringSubmatch(out, -1) {
		var p float64
		fmt.Sscan(m[1], &p)
		sum = append(sum, fmt.Sprintf("%.2f", p))
	}
	if len(sum) != 2 || !strings.Contains(out, "summary: perplexity BF16 "+sum[0]+", Q4_0 "+sum[1]+" ") {
		t.Errorf("the summary does not repeat the printed perplexities %v", sum)
	}
	ppl := regexp.MustCompile(`(?m)^perplexity [0-9.]+ ± [0-9.]+ \(nll [0-9.]+ nats/token\)`)
	steps := strings.Split(out, "\n$ gemmatool ")
	checked := 0
	for _, step := range steps[1:] {
		cmdLine, printed, _ := strings.Cut(step, "\n")
		if !strings.HasPrefix(cmdLine, "verify perplexity ") {
			continue
		}
		want := ppl.FindString(printed)
		if want == "" {
			t.Fatalf("demo step %q printed no perplexity:\n%s", cmdLine, printed)
		}
		got, stderr, code := cliRun(t, "", strings.Fields(cmdLine)...)
		if code != 0 {
			t.Fatalf("gemmatool %s: exit %d: %s", cmdLine, code, stderr)
		}
		if g := ppl.FindString(got); g != want {
			t.Errorf("gemmatool %s prints %q, the demo printed %q", cmdLine, g, want)
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("checked %d perplexity steps, want 2; demo output:\n%s", checked, out)
	}
}
