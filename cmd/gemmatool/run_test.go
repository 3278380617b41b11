package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
)

const (
	goldenADir   = "../../testdata/a_text_1b_like"
	brownDir     = "../../testdata/models/gemma3-brown-tiny"
	brownText    = "../../testdata/models/brown-val.txt"
	tokenizerDir = "../../testdata/gemma3-tokenizer"
)

// cliRun runs gemmatool with args and returns stdout, stderr and the exit status.
func cliRun(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	app.Reader = strings.NewReader(stdin)
	code := 0
	if err := app.Run(flagsFirst(app, append([]string{"gemmatool"}, args...))); err != nil {
		// The exit status mapping of run.
		code = 1
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

// convertDir converts an HF checkpoint directory to a gemmatool file in a temporary directory.
func convertDir(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "model.gmt")
	if _, err := convert.Run(dir, out, convert.Options{}, nil); err != nil {
		t.Fatalf("convert %s: %v", dir, err)
	}
	return out
}

var brownModel struct {
	once sync.Once
	path string
	err  error
}

// brownTiny returns the converted gemma3-brown-tiny model (with the Gemma 3 tokenizer),
// building it once per test binary.
func brownTiny(t testing.TB) string {
	t.Helper()
	brownModel.once.Do(func() {
		dir, err := os.MkdirTemp("", "gemmatool-brown-*")
		if err != nil {
			brownModel.err = err
			return
		}
		ck, err := unpackModel(dir, "gemma3-brown-tiny")
		if err != nil {
			brownModel.err = err
			return
		}
		brownModel.path = filepath.Join(dir, "brown.gmt")
		_, brownModel.err = convert.Run(ck, brownModel.path, convert.Options{}, nil)
		os.RemoveAll(ck)
	})
	if brownModel.err != nil {
		t.Fatalf("gemma3-brown-tiny: %v", brownModel.err)
	}
	return brownModel.path
}

func TestMain(m *testing.M) {
	if os.Getenv(asGemmatoolEnv) != "" {
		// The test binary re-executed as gemmatool itself (see gemmatoolCmd).
		code := mainExit()
		recordPeakRSS()
		os.Exit(code)
	}
	code := m.Run()
	if brownModel.path != "" {
		os.RemoveAll(filepath.Dir(brownModel.path))
	}
	os.Exit(code)
}

// TestRunGreedyGolden checks that greedy generation reproduces the reference continuation of
// golden case a (recomputed from scratch at every step by the reference).
func TestRunGreedyGolden(t *testing.T) {
	model := convertDir(t, goldenADir)
	b, err := os.ReadFile(filepath.Join(goldenADir, "greedy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Prompt    []int32 `json:"prompt_ids"`
		Generated []int32 `json:"generated_ids"`
		EOS       []int32 `json:"eos_ids"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	// The reference stops after an EOS id or at its token limit; give ours room to overrun
	// when the reference ended on EOS.
	maxTokens := len(g.Generated)
	if slices.Contains(g.EOS, g.Generated[len(g.Generated)-1]) {
		maxTokens += 16
	}
	ids, _ := json.Marshal(g.Prompt)
	stdout, stderr, code := cliRun(t, "", "run", "--model", model, "--ids", strings.Trim(string(ids), "[]"),
		"--temp", "0", "--json", "--max-tokens", strconv.Itoa(maxTokens))
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	var r runResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("run --json output %q: %v", stdout, err)
	}
	if !slices.Equal(r.PromptIDs, g.Prompt) {
		t.Errorf("prompt_ids = %v, want %v", r.PromptIDs, g.Prompt)
	}
	if !slices.Equal(r.GeneratedIDs, g.Generated) {
		t.Errorf("generated_ids = %v, want %v", r.GeneratedIDs, g.Generated)
	}
	if r.PrefillTokS <= 0 || r.DecodeTokS <= 0 {
		t.Errorf("speeds %v %v, want positive", r.PrefillTokS, r.DecodeTokS)
	}
}

// TestRunText generates from the trained tiny model with the chat template, raw, sampled and
// verbose, checking the output shapes (not the text).
func TestRunText(t *testing.T) {
	if testing.Short() {
		t.Skip("converts gemma3-brown-tiny")
	}
	model := brownTiny(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"chat greedy", []string{"--prompt", "Tell me about the jury.", "--temp", "0", "--max-tokens", "8"}},
		{"raw sampled", []string{"--prompt", "The jury said", "--raw", "--seed", "3", "--max-tokens", "8", "--top-p", "0.9", "--min-p", "0.05", "--repeat-penalty", "1.1"}},
		{"verbose", []string{"--prompt", "The jury said", "--raw", "--temp", "0", "--max-tokens", "4", "--verbose", "--system", "Be brief."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := cliRun(t, "", append([]string{"run", "--model", model}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "prefill:") || !strings.Contains(stderr, "tok/s") {
				t.Errorf("no speed line in stderr %q", stderr)
			}
			if strings.TrimSpace(stdout) == "" {
				t.Errorf("no text generated")
			}
			if slices.Contains(tc.args, "--verbose") && !strings.Contains(stderr, "kv cache:") {
				t.Errorf("--verbose: no KV cache line in %q", stderr)
			}
			t.Logf("%q; %s", stdout, strings.TrimSpace(stderr))
		})
	}
	// Sampling with a fixed seed is reproducible.
	args := []string{"run", "--model", model, "--prompt", "The jury said", "--raw", "--seed", "11", "--max-tokens", "12", "--json"}
	a, _, _ := cliRun(t, "", args...)
	b, _, _ := cliRun(t, "", args...)
	var ra, rb runResult
	json.Unmarshal([]byte(a), &ra)
	json.Unmarshal([]byte(b), &rb)
	if len(ra.GeneratedIDs) == 0 || !slices.Equal(ra.GeneratedIDs, rb.GeneratedIDs) {
		t.Errorf("seed 11 gave %v then %v", ra.GeneratedIDs, rb.GeneratedIDs)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--model", "x.gmt"},
		{"run", "--model", "x.gmt", "--ids", "1,2", "--prompt", "a"},
		{"run", "--model", "x.gmt", "--ids", "1,b"},
		{"logits", "--model", "x.gmt", "-o", "y"},
	} {
		if _, _, code := cliRun(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestResidentFor checks when run copies the weights: only for runs long enough to win the
// copy back, never with --mmap.
func TestResidentFor(t *testing.T) {
	for _, c := range []struct {
		mmap bool
		n    int
		want bool
	}{{false, 0, true}, {false, 256, true}, {false, residentMinTokens, true}, {false, residentMinTokens - 1, false},
		{false, 1, false}, {true, 0, false}, {true, 1000, false}} {
		if got := residentFor(c.mmap, c.n); got != c.want {
			t.Errorf("residentFor(mmap %v, max-tokens %d) = %v, want %v", c.mmap, c.n, got, c.want)
		}
	}
}
