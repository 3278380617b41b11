package main

import (
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
