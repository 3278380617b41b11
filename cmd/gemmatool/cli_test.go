package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/internal/testutil"
)

var binary_ struct {
	once sync.Once
	path string
	err  error
}

// gemmatoolBinary builds the gemmatool binary once per test binary and returns its path.
func gemmatoolBinary(t testing.TB) string {
	t.Helper()
	binary_.once.Do(func() {
		dir, err := os.MkdirTemp("", "gemmatool-bin-*")
		if err != nil {
			binary_.err = err
			return
		}
		binary_.path = filepath.Join(dir, "gemmatool")
		out, err := exec.Command("go", "build", "-o", binary_.path, ".").CombinedOutput()
		if err != nil {
			binary_.err = err
			binary_.path = string(out)
		}
	})
	if binary_.err != nil {
		t.Fatalf("go build: %v: %s", binary_.err, binary_.path)
	}
	return binary_.path
}

// execRun runs the gemmatool binary with args and stdin and returns stdout, stderr and the exit
// status.
func execRun(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gemmatoolBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "GEMMATOOL_CACHE="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mainRun runs gemmatool in process through runContext (what main does) and returns stdout,
// stderr and the exit status.
func mainRun(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runContext(t.Context(), append([]string{"gemmatool"}, args...), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

var goldenAModel struct {
	once sync.Once
	path string
}

// goldenA returns golden case a converted (no tokenizer), once per test binary.
func goldenA(t testing.TB) string {
	t.Helper()
	goldenAModel.once.Do(func() {
		dir, err := os.MkdirTemp("", "gemmatool-a-*")
		if err == nil {
			goldenAModel.path = filepath.Join(dir, "a.gmt")
			if _, stderr, code := mainRun(t, "", "convert", goldenADir, "-o", goldenAModel.path, "-q"); code != 0 {
				t.Logf("convert: %s", stderr)
				goldenAModel.path = ""
			}
		}
	})
	if goldenAModel.path == "" {
		t.Fatal("converting golden case a failed")
	}
	return goldenAModel.path
}

// TestUsageConventions runs the binary and checks the exit status and the line of usage errors: status 2,
// "gemmatool VERB: …", a pointer to --help, and suggestions for misspelled verbs and flags
// (defects 4 and 5).
func TestUsageConventions(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // regexp on the last line of stderr
	}{
		{"no verb", nil, `^gemmatool: give a verb \(see gemmatool --help\)$`},
		{"misspelled verb", []string{"conver"}, `^gemmatool: unknown verb "conver"; did you mean convert\? \(see gemmatool --help\)$`},
		{"misspelled flag", []string{"run", "--modle", "x"}, `^gemmatool: run: unknown flag --modle; did you mean --model\? \(see gemmatool run --help\)$`},
		{"missing required flag", []string{"run", "-p", "hi"}, `^gemmatool: run: --model is required \(see gemmatool run --help\)$`},
		{"verify alone", []string{"verify"}, `^gemmatool: verify: give one of perplexity, kld, .* \(see gemmatool verify --help\)$`},
		{"misspelled subcommand", []string{"verify", "perplexty"}, `did you mean perplexity\?`},
		{"help of a misspelled verb", []string{"help", "rnu"}, `^gemmatool: unknown verb "rnu"; did you mean run\? \(see gemmatool --help\)$`},
		{"estimate size", []string{"estimate", "--size", "2b"}, `^gemmatool: estimate: --size "2b": want one of 270m`},
		{"convert without -o", []string{"convert", "dir"}, `^gemmatool: convert: .*--help\)$`},
		{"quantize type before work", []string{"quantize", "/nonexistent", "-o", "x.gmt", "--type", "q4"}, `^gemmatool: quantize: --type "q4": want q4_0`},
		{"top-p", []string{"run", "-m", "x", "-p", "a", "--top-p", "2"}, `^gemmatool: run: --top-p 2 is out of range: want a value in \(0, 1\]`},
		{"top-p 0", []string{"run", "-m", "x", "-p", "a", "--top-p", "0"}, `--top-p 0 is out of range`},
		{"top-p NaN", []string{"run", "-m", "x", "-p", "a", "--top-p", "NaN"}, `--top-p NaN is out of range`},
		{"temp NaN", []string{"run", "-m", "x", "-p", "a", "--temp", "NaN"}, `--temp NaN is out of range`},
		{"temp Inf", []string{"run", "-m", "x", "-p", "a", "--temp", "Inf"}, `--temp \+Inf is out of range`},
		{"min-p 2", []string{"run", "-m", "x", "-p", "a", "--min-p", "2"}, `--min-p 2 is out of range: want a value in \[0, 1\]`},
		{"repeat-penalty 0", []string{"run", "-m", "x", "-p", "a", "--repeat-penalty", "0"}, `--repeat-penalty 0 is out of range`},
		{"repeat-penalty NaN", []string{"run", "-m", "x", "-p", "a", "--repeat-penalty", "NaN"}, `--repeat-penalty NaN is out of range`},
		{"ctx -1", []string{"run", "-m", "x", "-p", "a", "--ctx", "-1"}, `--ctx -1 is out of range`},
		{"ctx 2^40", []string{"run", "-m", "x", "-p", "a", "--ctx", "1099511627776"}, `--ctx 1099511627776 is out of range`},
		{"threads -1", []string{"run", "-m", "x", "-p", "a", "--threads", "-1"}, `--threads -1 is out of range: want a value in \[1, 256\]`},
		{"threads 100000", []string{"run", "-m", "x", "-p", "a", "-t", "100000"}, `--threads 100000 is out of range`},
		{"estimate ctx -1", []string{"estimate", "--size", "1b", "--ctx", "-1"}, `^gemmatool: estimate: --ctx -1 is out of range`},
		{"estimate ctx max", []string{"estimate", "--size", "1b", "--ctx", "9223372036854775807"}, `--ctx 9223372036854775807 is out of range`},
		{"verify threads", []string{"verify", "perplexity", "-m", "x", "--text", "y", "-t", "0"}, `^gemmatool: verify perplexity: --threads 0 is out of range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := execRun(t, "", tc.args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != 2 || !regexp.MustCompile(tc.want).MatchString(last) {
				t.Errorf("gemmatool %s: exit %d, %q; want exit 2 and %s", strings.Join(tc.args, " "), code, last, tc.want)
			}
		})
	}
	if out, _, code := mainRun(t, "", "help", "run"); code != 0 || !strings.Contains(out, "gemmatool run - generate") {
		t.Errorf("gemmatool help run: exit %d, %.80q", code, out)
	}
	// Type names in any case, as llama.cpp users type them.
	if out, stderr, code := mainRun(t, "", "estimate", "--size", "1B", "--type", "Q4_0", "--embed", "Q8_0"); code != 0 || !strings.Contains(out, "type q4_0 (embedding q8_0)") {
		t.Errorf("estimate --size 1B --type Q4_0: exit %d, %q %s", code, out, stderr)
	}
	// The binary itself (main's mapping): a usage error is status 2, a runtime failure 1.
	if _, stderr, code := execRun(t, "", "conver"); code != 2 || !strings.Contains(stderr, "did you mean convert?") {
		t.Errorf("binary: gemmatool conver: exit %d, %q", code, stderr)
	}
	if _, stderr, code := execRun(t, "", "inspect", "/nonexistent.gmt"); code != 1 || !strings.HasPrefix(stderr, "gemmatool: ") {
		t.Errorf("binary: gemmatool inspect /nonexistent.gmt: exit %d, %q", code, stderr)
	}
}

// TestHelpConventions walks every verb's --help: an example is present, no flag shows its
// default twice, and a bogus flag is a usage error naming the verb.
func TestHelpConventions(t *testing.T) {
	app := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	var walk func(prefix []string, cs []*cli.Command)
	walk = func(prefix []string, cs []*cli.Command) {
		for _, c := range cs {
			if c.Name == "help" {
				continue
			}
			path := append(append([]string(nil), prefix...), c.Name)
			verb := strings.Join(path, " ")
			if len(c.Subcommands) > 0 {
				walk(path, c.Subcommands)
			}
			t.Run(verb, func(t *testing.T) {
				out, _, code := mainRun(t, "", append(path, "--help")...)
				if code != 0 {
					t.Fatalf("%s --help: exit %d", verb, code)
				}
				if len(c.Subcommands) == 0 && !strings.Contains(out, "gemmatool "+verb) {
					t.Errorf("%s --help: no example invoking gemmatool %s", verb, verb)
				}
				if len(c.Subcommands) == 0 && !strings.Contains(out, "Example") {
					t.Errorf("%s --help: no Example section", verb)
				}
				for _, line := range strings.Split(out, "\n") {
					if strings.Count(line, "(default:") > 1 {
						t.Errorf("%s --help: default shown twice: %s", verb, strings.TrimSpace(line))
					}
					if strings.Contains(line, "(default: false)") {
						t.Errorf("%s --help: boolean default shown: %s", verb, strings.TrimSpace(line))
					}
				}
				_, stderr, code := mainRun(t, "", append(path, "--no-such-flag")...)
				if code != 2 || !strings.HasPrefix(stderr, "gemmatool: "+verb+": ") || !strings.Contains(stderr, "--help") {
					t.Errorf("%s --no-such-flag: exit %d, %q; want exit 2, the verb and a pointer to --help", verb, code, stderr)
				}
			})
		}
	}
	walk(nil, app.Commands)
}

// TestDetokenizeArgs: ids as separate arguments, one list, or standard input (defect 1).
func TestDetokenizeArgs(t *testing.T) {
	model := brownTiny(t)
	for _, args := range [][]string{{"2", "9259", "1902"}, {"2,9259,1902"}, {"2 9259 1902"}, {"-"}} {
		out, stderr, code := execRun(t, "2 9259 1902\n", append([]string{"detokenize", "--model", model}, args...)...)
		if code != 0 || out != "<bos>Hello world\n" {
			t.Errorf("detokenize %q = %q (exit %d, %s), want %q", args, out, code, stderr, "<bos>Hello world\n")
		}
	}
}

// TestModelDirectory: --model DIR runs a checkpoint directory through a cache file named by its
// fingerprint, reused the second time; a directory without config.json is named as such
// (defect 2, item 12).
func TestModelDirectory(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("GEMMATOOL_CACHE", cache)
	for i, want := range []string{"converting it once", "using its converted copy"} {
		out, stderr, code := mainRun(t, "", "run", "--act", "exact", "--model", goldenADir, "--ids", "2,3,4", "--temp", "0", "-n", "3", "--json")
		if code != 0 || !strings.Contains(stderr, want) {
			t.Fatalf("run %d from a checkpoint directory: exit %d, %s", i, code, stderr)
		}
		var r runResult
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.GeneratedIDs) != 3 {
			t.Fatalf("run %d: %q: %v", i, out, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "a_text_1b_like-*.gmt")); len(m) != 1 {
		t.Errorf("cache holds %v, want one a_text_1b_like-<hash>.gmt", m)
	}
	if _, stderr, code := mainRun(t, "", "inspect", goldenADir); code != 1 || !strings.Contains(stderr, "gemmatool convert "+goldenADir+" -o FILE") {
		t.Errorf("inspect DIR: exit %d, %q", code, stderr)
	}
	_, stderr, code := mainRun(t, "", "run", "--model", t.TempDir(), "--ids", "2")
	if code != 1 || !strings.Contains(stderr, "directory without config.json") {
		t.Errorf("run --model EMPTYDIR: exit %d, %q", code, stderr)
	}
}

// TestRunRanges: --ctx above the model's context and image soft tokens without --image are
// usage errors; --min-p 1 (everything but the best dropped) does not panic (issue 10 items 8, 9).
func TestRunRanges(t *testing.T) {
	model := goldenA(t)
	_, stderr, code := mainRun(t, "", "run", "--model", model, "--ids", "2,3", "--ctx", "40000")
	if code != 2 || !strings.Contains(stderr, "the model holds 1 … 32768 positions") {
		t.Errorf("run --ctx 40000: exit %d, %q", code, stderr)
	}
	_, _, code = mainRun(t, "", "run", "--act", "exact", "--model", model, "--ids", "2,3", "--min-p", "1", "-n", "4", "--seed", "1")
	if code != 0 {
		t.Errorf("run --min-p 1: exit %d", code)
	}
	mm := convertDir(t, goldenBDir)
	for _, verb := range [][]string{{"run"}, {"logits", "-o", filepath.Join(t.TempDir(), "x.safetensors")}} {
		_, stderr, code := mainRun(t, "", append(verb, "--model", mm, "--ids", "2,255,512,512,512,512,256,108")...)
		if code != 2 || !strings.Contains(stderr, "token 512 at position 2 is an image soft token, but no --image was given") {
			t.Errorf("%s: image tokens without --image: exit %d, %q", verb[0], code, stderr)
		}
	}
}

// TestNonFiniteLogits: a model whose final norm is NaN fails with an error naming the position
// in run (greedy and sampled) and logits, instead of panicking or printing token 0.
func TestNonFiniteLogits(t *testing.T) {
	dir := t.TempDir()
	if err := testutil.CopyDir(dir, goldenADir); err != nil {
		t.Fatal(err)
	}
	poisonTensor(t, filepath.Join(dir, "model.safetensors"), "model.norm.weight")
	model := filepath.Join(t.TempDir(), "nan.gmt")
	if _, stderr, code := mainRun(t, "", "convert", dir, "-o", model, "-q"); code != 0 {
		t.Fatalf("convert: %s", stderr)
	}
	for _, args := range [][]string{
		{"run", "--act", "exact", "--model", model, "--ids", "2,3,4", "--temp", "0"},
		{"run", "--act", "exact", "--model", model, "--ids", "2,3,4", "--min-p", "0.05"},
		{"logits", "--model", model, "--ids", "2,3,4", "-o", filepath.Join(t.TempDir(), "l.safetensors")},
	} {
		_, stderr, code := mainRun(t, "", args...)
		if code != 1 || !strings.Contains(stderr, "non-finite logits") || !strings.Contains(stderr, "at position") {
			t.Errorf("%s on NaN weights: exit %d, %q", args[0], code, stderr)
		}
	}
}

// TestNonFiniteLogitsVerify: verify perplexity and kld name the position of a non-finite logit.
func TestNonFiniteLogitsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("unpacks and converts gemma3-brown-tiny")
	}
	ck := mustUnpack(t, "gemma3-brown-tiny")
	poisonTensor(t, filepath.Join(ck, "model.safetensors"), "model.norm.weight")
	model := filepath.Join(t.TempDir(), "nan.gmt")
	if _, stderr, code := mainRun(t, "", "convert", ck, "-o", model, "-q"); code != 0 {
		t.Fatalf("convert: %s", stderr)
	}
	for _, args := range [][]string{
		{"verify", "perplexity", "--model", model, "--text", brownText, "--ctx", "16", "--chunks", "1"},
		{"verify", "kld", "--model", model, "--act", "int8", "--text", brownText, "--ctx", "16", "--chunks", "1"},
	} {
		_, stderr, code := mainRun(t, "", args...)
		if code != 1 || !strings.Contains(stderr, "non-finite logits") || !strings.Contains(stderr, "at position") {
			t.Errorf("%s on NaN weights: exit %d, %q", strings.Join(args[:2], " "), code, stderr)
		}
	}
}

// poisonTensor overwrites every byte of the named tensor of a safetensors file with 0xff (NaN
// in bf16, f16 and f32).
func poisonTensor(t *testing.T, path, name string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	var e struct {
		Offsets [2]int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(h[name], &e); err != nil {
		t.Fatal(err)
	}
	base := 8 + int64(n)
	for i := base + e.Offsets[0]; i < base+e.Offsets[1]; i++ {
		b[i] = 0xff
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWarningFormat: library warnings print as "gemmatool: warning: …", not as log records.
func TestWarningFormat(t *testing.T) {
	var b bytes.Buffer
	newWarnLogger(&b).Warn("vocabulary has 3 rows more than the tokenizer", "file", "m.gmt")
	if got, want := b.String(), "gemmatool: warning: vocabulary has 3 rows more than the tokenizer (file=m.gmt)\n"; got != want {
		t.Errorf("warning = %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"convert", "quantize", "verify", "run", "inspect", "estimate"}
	for _, tc := range []struct{ in, want string }{
		{"conver", "; did you mean convert?"},
		{"quantise", "; did you mean quantize?"},
		{"rnu", "; did you mean run?"},
		{"xyzzy", ""},
	} {
		if got := suggest(tc.in, names, ""); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
