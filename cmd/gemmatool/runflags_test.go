package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunPromptSources: -p -, -f FILE and -f - give the same ids as --prompt; --json has a
// finish_reason; --json-stream has one line per token, then the summary (item 10).
func TestRunPromptSources(t *testing.T) {
	model := brownTiny(t)
	file := filepath.Join(t.TempDir(), "prompt.txt")
	if err := os.WriteFile(file, []byte("The jury said"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"run", "--act", "exact", "-m", model, "--raw", "-n", "4", "--temp", "0", "--json"}
	var want runResult
	for i, src := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"-p", "The jury said"}},
		{"The jury said", []string{"-p", "-"}},
		{"", []string{"-f", file}},
		{"The jury said", []string{"--file", "-"}},
	} {
		out, stderr, code := mainRun(t, src.stdin, append(base, src.args...)...)
		var r runResult
		if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
			t.Fatalf("run %v: exit %d, %v, %s", src.args, code, err, stderr)
		}
		if r.FinishReason != "length" || len(r.GeneratedIDs) != 4 {
			t.Errorf("run %v: finish_reason %q after %d tokens, want length after 4", src.args, r.FinishReason, len(r.GeneratedIDs))
		}
		if i == 0 {
			want = r
			continue
		}
		if !slices.Equal(r.PromptIDs, want.PromptIDs) || !slices.Equal(r.GeneratedIDs, want.GeneratedIDs) {
			t.Errorf("run %v: ids %v → %v, want %v → %v", src.args, r.PromptIDs, r.GeneratedIDs, want.PromptIDs, want.GeneratedIDs)
		}
	}
	// --json-stream: the pieces concatenate to the text of the summary.
	out, stderr, code := mainRun(t, "", append(base[:len(base)-1], "-p", "The jury said", "--json-stream")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 5 {
		t.Fatalf("--json-stream: exit %d, %d lines, want 4 tokens and a summary: %s", code, len(lines), stderr)
	}
	var text strings.Builder
	for i, l := range lines[:4] {
		var ev tokenEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.ID != want.GeneratedIDs[i] {
			t.Errorf("--json-stream line %d = %s, want id %d", i, l, want.GeneratedIDs[i])
		}
		text.WriteString(ev.Text)
	}
	var sum runResult
	if err := json.Unmarshal([]byte(lines[4]), &sum); err != nil || sum.FinishReason != "length" || sum.Text != text.String() || sum.Text != want.Text {
		t.Errorf("--json-stream summary %s: text %q, pieces %q, want %q", lines[4], sum.Text, text.String(), want.Text)
	}
}

// TestRunStop: generation ends at a --stop string, which is not printed; finish_reason "stop".
func TestRunStop(t *testing.T) {
	model := brownTiny(t)
	args := []string{"run", "--act", "exact", "-m", model, "--raw", "-p", "The Fulton County Grand Jury said", "-n", "30", "--temp", "0"}
	out, _, code := mainRun(t, "", append(args, "--json")...)
	var full runResult
	if err := json.Unmarshal([]byte(out), &full); code != 0 || err != nil || len(full.Text) < 8 {
		t.Fatalf("run: exit %d, %v, %q", code, err, out)
	}
	// Stop at a string that starts inside the generated text.
	stop := full.Text[len(full.Text)/2 : len(full.Text)/2+3]
	cut := strings.Index(full.Text, stop)
	out, _, code = mainRun(t, "", append(args, "--json", "--stop", stop)...)
	var r runResult
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("run --stop: exit %d, %v", code, err)
	}
	if r.FinishReason != "stop" || r.StopString != stop || r.Text != full.Text[:cut] {
		t.Errorf("run --stop %q: finish %q, text %q; want stop and %q", stop, r.FinishReason, r.Text, full.Text[:cut])
	}
	out, _, _ = mainRun(t, "", append(args, "--stop", stop)...)
	if out != full.Text[:cut]+"\n" {
		t.Errorf("run --stop %q printed %q, want %q", stop, out, full.Text[:cut]+"\n")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`\n\n`: "\n\n", `User:`: "User:", `a\tb`: "a\tb", `bad\q`: `bad\q`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextOutHoldsStopPrefix(t *testing.T) {
	to := &textOut{stops: []string{"END"}}
	var got strings.Builder
	for _, piece := range []string{"ab", "cE", "N", "x", "E", "ND", "zz"} {
		s, hit := to.release(to.held + piece)
		got.WriteString(s)
		if hit {
			break
		}
	}
	if got.String() != "abcENx" || to.hit != "END" {
		t.Errorf("release = %q (hit %q), want %q", got.String(), to.hit, "abcENx")
	}
}

// TestRunInterrupt: SIGINT during generation prints the timings (text) or the partial object
// with finish_reason "interrupted" (--json-stream), and exits 130 (issue 16 item 15, issue 10
// item 2).
func TestRunInterrupt(t *testing.T) {
	model := goldenA(t)
	cmd := exec.Command(gemmatoolBinary(t), "run", "--act", "exact", "-m", model, "--ids", "2,3,4", "-n", "0", "--ignore-eos", "--json-stream")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<24)
	var lines []string
	for sc.Scan() {
		if len(lines) == 3 {
			cmd.Process.Signal(syscall.SIGINT)
		}
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("run interrupted: %v, want exit status 130; stderr %s", err, stderr.String())
	}
	var sum runResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.FinishReason != "interrupted" || len(sum.GeneratedIDs) != len(lines)-1 {
		t.Errorf("last line %.200s: finish_reason %q, %d ids for %d token lines", lines[len(lines)-1], sum.FinishReason, len(sum.GeneratedIDs), len(lines)-1)
	}
}

// TestPerplexityRunningAndInterrupt: the running perplexity per window on stderr, and SIGINT
// prints the figures of the windows done (items 14, 15).
func TestPerplexityRunningAndInterrupt(t *testing.T) {
	model := brownTiny(t)
	_, stderr, code := mainRun(t, "", "verify", "perplexity", "-m", model, "--text", brownText, "--ctx", "64", "--chunks", "3")
	if code != 0 || !strings.HasPrefix(stderr, "[1]") || !strings.Contains(stderr, ",[3]") {
		t.Errorf("running values: exit %d, stderr %q", code, stderr)
	}
	cmd := exec.Command(gemmatoolBinary(t), "verify", "perplexity", "-m", model, "--text", brownText, "--ctx", "256")
	var out strings.Builder
	cmd.Stdout = &out
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(errp)
	if _, err := r.ReadString(','); err != nil { // the first window's value
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("perplexity did not stop after SIGINT")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("perplexity interrupted: %v, want exit status 130", err)
	}
	if !strings.HasPrefix(out.String(), "perplexity ") || !strings.Contains(out.String(), "(interrupted)") {
		t.Errorf("interrupted perplexity printed %q", out.String())
	}
}
