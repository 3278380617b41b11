package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// exampleReport is the committed example: the JSON documents and the report made from them.
const exampleReport = "../../docs/verify-report"

// exampleDocs lists the example's JSON documents in the order the report command takes them.
var exampleDocs = []string{"kld.json", "tensors.json", "activations.json", "images.json"}

// TestReportExampleCurrent rebuilds the example report from its JSON documents and compares it
// with the committed report.html (-update rewrites it).
func TestReportExampleCurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.html")
	args := []string{"verify", "report", "-o", out, "--title", "gemmatool verification report: the bundled model, Q4_0 against BF16"}
	for _, d := range exampleDocs {
		args = append(args, filepath.Join(exampleReport, d))
	}
	if _, stderr, code := cliRun(t, "", args...); code != 0 {
		t.Fatalf("verify report: exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(exampleReport, "report.html")
	if *updateGolden {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what verify report makes from its documents (go test -run TestReportExampleCurrent -update)", golden)
	}
	// Self-contained: no scripts, no external references (the SVG namespace is a name only).
	for _, re := range []string{`(?i)<script`, `(?i)<link`, `(?i)<img`, `(?i)@import`, `(?i)url\(`, `https?://(?:[^w]|w[^w]|ww[^w]|www[^.]|www\.[^w]|www\.w[^3])`} {
		if m := regexp.MustCompile(re).Find(got); m != nil {
			t.Errorf("report holds %q: not self-contained", m)
		}
	}
}

// browser returns the path of a Chromium or Chrome, or "".
func browser() string {
	if p := os.Getenv("GEMMATOOL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestReportInBrowser loads the example report in headless Chromium and checks that it loads
// without console errors, that every plot is present, visible and has marks, and that every
// text figure equals the value in the JSON document it comes from.
func TestReportInBrowser(t *testing.T) {
	path := browser()
	if path == "" {
		t.Skip("no Chromium or Chrome found (apt-get install chromium, or set GEMMATOOL_CHROMIUM)")
	}
	abs, err := filepath.Abs(filepath.Join(exampleReport, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	defer cancel3()

	type plot struct {
		ID    string  `json:"id"`
		W     float64 `json:"w"`
		H     float64 `json:"h"`
		Marks int     `json:"marks"`
		Drawn int     `json:"drawn"`
	}
	cctx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(cctx)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("chromium (%s): %v", path, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitReady("body")); err != nil {
		t.Fatal(err)
	}
	plots, err := chromedp.Run(ctx, chromedp.Evaluate[[]plot](`Array.from(document.querySelectorAll('svg.plot')).map(s => {
		const r = s.getBoundingClientRect();
		const marks = Array.from(s.querySelectorAll('.mark'));
		const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length;
		return {id: s.id, w: r.width, h: r.height, marks: marks.length, drawn: drawn};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	figs, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]string](`Array.from(document.querySelectorAll('[data-key]')).map(e => [e.dataset.key, e.textContent])`))
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, stopConsole) // late messages, then stop reading
	for m, err := range messages {
		if err != nil {
			break
		}
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == "assert" {
			t.Errorf("browser console: %s", m)
		}
	}

	want := []string{"ppl-windows", "kl-histogram", "kl-cdf", "tensor-layers", "tensor-worst", "activation-max", "image-kl"}
	got := map[string]plot{}
	for _, p := range plots {
		got[p.ID] = p
	}
	for _, id := range want {
		p, ok := got[id]
		switch {
		case !ok:
			t.Errorf("plot %s missing", id)
		case p.W < 100 || p.H < 100 || p.Marks == 0 || p.Drawn == 0:
			t.Errorf("plot %s: %.0f×%.0f px, %d marks of which %d drawn", id, p.W, p.H, p.Marks, p.Drawn)
		}
	}
	if len(plots) != len(want) {
		t.Errorf("%d plots, want %d", len(plots), len(want))
	}

	// Text figures against the JSON documents.
	docs := map[string]any{}
	for _, name := range exampleDocs {
		b, err := os.ReadFile(filepath.Join(exampleReport, name))
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		docs[d["verb"].(string)] = d
	}
	if len(figs) < 30 {
		t.Errorf("%d text figures, want at least 30", len(figs))
	}
	for _, f := range figs {
		key, text := f[0], f[1]
		v, err := lookup(docs, key)
		if err != nil {
			t.Errorf("figure %s: %v", key, err)
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			t.Errorf("figure %s: text %q is not a number", key, text)
			continue
		}
		if math.Abs(x-v) > 5e-6*math.Abs(v) {
			t.Errorf("figure %s shows %s, JSON has %v", key, text, v)
		}
	}
}

// lookup follows a figure key (verb member, then members or array indices) into the documents.
func lookup(docs map[string]any, key string) (float64, error) {
	parts := strings.Split(key, ".")
	var cur any = docs[parts[0]]
	if cur == nil {
		return 0, fmt.Errorf("no %s document", parts[0])
	}
	for _, p := range parts {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return 0, fmt.Errorf("index %q", p)
			}
			cur = c[i]
		default:
			return 0, fmt.Errorf("%q below a %T", p, cur)
		}
	}
	x, ok := cur.(float64)
	if !ok {
		return 0, fmt.Errorf("%v is not a number", cur)
	}
	return x, nil
}
