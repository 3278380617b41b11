package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
)

// The hostile-input suite runs every verb, as a child process, over a generated corpus of
// broken and malicious inputs: truncations of a small gemmatool file and of a safetensors
// checkpoint at many offsets, byte flips in every region, well-formed files that lie (with
// their checksums recomputed), hostile configurations, images, side inputs and flags. Each
// run must end, with no panic or fault trace, within a memory cap, leaving no partial output
// or temporary file; a run over an input that cannot be valid must fail with a one-line
// message. CI runs a fixed sample of the corpus; GEMMATOOL_HOSTILE=full runs all of it:
//
//	GEMMATOOL_HOSTILE=full go test ./cmd/gemmatool -run TestHostile -v -timeout 1h

// asGemmatoolEnv makes the test binary run as gemmatool itself (TestMain), so that the suite
// runs the real command line in child processes without a separate build.
const asGemmatoolEnv = "GEMMATOOL_TEST_AS_MAIN"

const (
	// hostileRSSCap is the largest resident set a verb may reach on an input under 1 MB.
	hostileRSSCap = 300 << 20
	// hostileTimeout ends a run that hangs. It is generous because CI machines are shared;
	// the runs it guards take well under a second.
	hostileTimeout = 60 * time.Second
)

// hcase is one run of gemmatool over hostile input.
type hcase struct {
	group string
	name  string
	args  []string // "{out}" stands for a fresh output path
	stdin func() io.Reader
	// mustFail: the input cannot be valid, so the run must exit non-zero.
	mustFail bool
	// always: part of the CI sample.
	always bool
}

// hout is what a run did.
type hout struct {
	code    int
	stderr  string
	rss     int64
	hung    bool
	signal  syscall.Signal
	outDir  []string // names left in the output directory
	elapsed time.Duration
}

// peakRSSEnv names the file where a child records its peak resident set (VmHWM). The
// rusage of a child is no measure: Linux starts its maxrss at the parent's resident set,
// which the child shares until it executes.
const peakRSSEnv = "GEMMATOOL_TEST_PEAK_RSS_FILE"

// recordPeakRSS writes the process's peak resident set in bytes to the file named by
// peakRSSEnv, if set.
func recordPeakRSS() {
	p := os.Getenv(peakRSSEnv)
	if p == "" {
		return
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			os.WriteFile(p, []byte(fmt.Sprint(kb<<10)), 0o644)
		}
	}
}

// gemmatoolCmd returns a command running the test binary as gemmatool with args, or the
// binary named by GEMMATOOL_HOSTILE_BIN (to run the suite against another build; its peak
// RSS is then read from rusage, an upper bound).
func gemmatoolCmd(args ...string) *exec.Cmd {
	bin := os.Args[0]
	if b := os.Getenv("GEMMATOOL_HOSTILE_BIN"); b != "" {
		bin = b
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), asGemmatoolEnv+"=1")
	return cmd
}

// capped keeps the first n bytes written to it.
type capped struct {
	b bytes.Buffer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.b.Len(); room > 0 {
		c.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func runHostile(t testing.TB, c hcase, outRoot string, i int) hout {
	t.Helper()
	outDir := filepath.Join(outRoot, fmt.Sprint(i))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := slices.Clone(c.args)
	for k, a := range args {
		args[k] = strings.ReplaceAll(a, "{out}", filepath.Join(outDir, "out"))
	}
	cmd := gemmatoolCmd(args...)
	rssFile := filepath.Join(outRoot, fmt.Sprintf("rss-%d", i))
	cmd.Env = append(cmd.Env, peakRSSEnv+"="+rssFile)
	if c.stdin != nil {
		cmd.Stdin = c.stdin()
	}
	var stderr capped
	stderr.n = 64 << 10
	cmd.Stdout = &capped{n: 0}
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var o hout
	timer := time.AfterFunc(hostileTimeout, func() {
		o.hung = true
		cmd.Process.Kill()
	})
	cmd.Wait()
	timer.Stop()
	o.elapsed = time.Since(t0)
	o.stderr = stderr.b.String()
	ps := cmd.ProcessState
	o.code = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		o.signal = ws.Signal()
	}
	if b, err := os.ReadFile(rssFile); err == nil {
		fmt.Sscanf(string(b), "%d", &o.rss)
		os.Remove(rssFile)
	} else if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		// The child died before recording its peak: rusage is an upper bound.
		o.rss = ru.Maxrss << 10 // kilobytes on Linux
	}
	ents, _ := os.ReadDir(outDir)
	for _, e := range ents {
		o.outDir = append(o.outDir, e.Name())
	}
	os.RemoveAll(outDir)
	return o
}

// hostileTally counts the suite's findings for its summary line (quoted in the README).
type hostileTally struct {
	mustFail                                                               int
	cases, panics, crashes, hangs, leftovers, overCap, accepted, multiLine int
	maxRSS                                                                 int64
	maxRSSCase                                                             string
}

// check applies the suite's rules to one run and returns what broke them.
func (h *hostileTally) check(c hcase, o hout) []string {
	h.cases++
	if c.mustFail {
		h.mustFail++
	}
	if o.rss > h.maxRSS {
		h.maxRSS, h.maxRSSCase = o.rss, c.group+"/"+c.name
	}
	var bad []string
	switch {
	case o.hung:
		h.hangs++
		bad = append(bad, "hung (killed after "+hostileTimeout.String()+")")
	case strings.Contains(o.stderr, "panic:") || strings.Contains(o.stderr, "fatal error:") || strings.Contains(o.stderr, "goroutine "):
		h.panics++
		bad = append(bad, "panicked")
	case o.signal != 0 || (o.code != 0 && o.code != 1 && o.code != 2):
		h.crashes++
		bad = append(bad, fmt.Sprintf("crashed (exit %d, signal %v)", o.code, o.signal))
	}
	if o.rss > hostileRSSCap {
		h.overCap++
		bad = append(bad, fmt.Sprintf("max RSS %d MB, above the %d MB cap", o.rss>>20, hostileRSSCap>>20))
	}
	if o.code == 0 {
		if c.mustFail {
			h.accepted++
			bad = append(bad, "exit 0 on an input that cannot be valid")
		}
		if len(o.outDir) > 1 || (len(o.outDir) == 1 && o.outDir[0] != "out") {
			h.leftovers++
			bad = append(bad, fmt.Sprintf("output directory holds %q after success", o.outDir))
		}
		return bad
	}
	if len(o.outDir) > 0 {
		h.leftovers++
		bad = append(bad, fmt.Sprintf("output directory holds %q after a failure", o.outDir))
	}
	if !o.hung && o.signal == 0 {
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(o.stderr, "\n"), "\n") {
			if !strings.HasPrefix(l, "gemmatool: warning: ") && !strings.HasPrefix(l, "gemmatool: note: ") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "gemmatool: ") {
			h.multiLine++
			bad = append(bad, "not a one-line message")
		}
	}
	return bad
}

func (h hostileTally) String() string {
	return fmt.Sprintf("%d cases (%d of them invalid inputs that must fail): %d panics, %d crashes, %d hangs, %d leftovers, %d over the %d MB RSS cap, %d accepted that must fail, %d without a one-line message; peak RSS %d MB (%s)",
		h.cases, h.mustFail, h.panics, h.crashes, h.hangs, h.leftovers, h.overCap, hostileRSSCap>>20, h.accepted, h.multiLine, h.maxRSS>>20, h.maxRSSCase)
}

func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gemmatool child processes")
	}
	full := os.Getenv("GEMMATOOL_HOSTILE") == "full"
	corpus := t.TempDir()
	cases := hostileCorpus(t, corpus, full)
	if !full {
		cases = sampleHostile(cases, 4)
	}
	outRoot := t.TempDir()
	var tally hostileTally
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c := cases[i]
				o := runHostile(t, c, outRoot, i)
				mu.Lock()
				if bad := tally.check(c, o); len(bad) > 0 {
					t.Errorf("%s/%s: gemmatool %s: %s (exit %d, %v, %d MB)\n%s", c.group, c.name, strings.Join(c.args, " "),
						strings.Join(bad, "; "), o.code, o.elapsed.Round(time.Millisecond), o.rss>>20, firstLines(o.stderr, 6))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range cases {
		work <- i
	}
	close(work)
	wg.Wait()
	// Nothing may be left next to the inputs either (an output refused or a temporary file).
	filepath.WalkDir(corpus, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".gemmatool-tmp-") {
			tally.leftovers++
			t.Errorf("temporary file left in the corpus: %s", p)
		}
		return nil
	})
	mode := "sample"
	if full {
		mode = "full corpus"
	}
	t.Logf("hostile-input suite (%s): %v", mode, tally)
}

func firstLines(s string, n int) string {
	ls := strings.SplitN(s, "\n", n+1)
	if len(ls) > n {
		ls = append(ls[:n], "…")
	}
	return strings.Join(ls, "\n")
}

// sampleHostile keeps the cases marked always and k more of each group, chosen with a
// fixed seed.
func sampleHostile(cases []hcase, k int) []hcase {
	rng := rand.New(rand.NewPCG(10, 16))
	byGroup := map[string][]int{}
	var keep []int
	for i, c := range cases {
		if c.always {
			keep = append(keep, i)
		} else {
			byGroup[c.group] = append(byGroup[c.group], i)
		}
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		idx := byGroup[g]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		keep = append(keep, idx[:min(k, len(idx))]...)
	}
	slices.Sort(keep)
	out := make([]hcase, len(keep))
	for i, k := range keep {
		out[i] = cases[k]
	}
	return out
}

// spread returns n offsets spread evenly over [lo, hi).
func spread(lo, hi int64, n int) []int64 {
	var out []int64
	if hi <= lo {
		return nil
	}
	for i := range n {
		out = append(out, lo+(hi-lo)*int64(i)/int64(n)+int64(i)%7)
	}
	return out
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gmtVerbs are the runs of every verb that reads a gemmatool file.
func gmtVerbs(path string) [][]string {
	return [][]string{
		{"inspect", path},
		{"inspect", "--verify-checksums", "-q", path},
		{"quantize", path, "-o", "{out}", "--type", "q8_0", "-q"},
		{"logits", "--model", path, "--ids", "2,105,107", "-o", "{out}"},
		{"run", "--model", path, "--ids", "2,105,107", "--max-tokens", "2", "--temp", "0"},
		{"verify", "perplexity", "--model", path, "--text", brownText},
		{"export", "gguf", path, "-o", "{out}"},
		{"imatrix", "--model", path, "--text", brownText, "-o", "{out}"},
	}
}

// ckVerbs are the runs of every verb that reads a checkpoint directory.
func ckVerbs(dir string) [][]string {
	return [][]string{
		{"convert", dir, "-o", "{out}", "-q"},
		{"quantize", dir, "-o", "{out}", "--type", "q4_0", "-q"},
		{"estimate", dir},
	}
}

// gmtSections parses the section table of a gemmatool file (the layout of format/doc.go).
type gmtSection struct {
	entry        int64 // offset of the table entry
	off, stored  int64
	name         string
	raw, crcSpot int64
}

func gmtSections(t testing.TB, b []byte) (tableOff int64, secs []gmtSection) {
	t.Helper()
	tableOff = int64(binary.LittleEndian.Uint64(b[16:]))
	n := int(binary.LittleEndian.Uint32(b[24:]))
	for i := range n {
		e := tableOff + int64(i)*format.SectionEntrySize
		s := gmtSection{entry: e, off: int64(binary.LittleEndian.Uint64(b[e+8:])), stored: int64(binary.LittleEndian.Uint64(b[e+16:])),
			raw: e + 24, crcSpot: e + 32, name: strings.TrimRight(string(b[e+36:e+format.SectionEntrySize]), "\x00")}
		secs = append(secs, s)
	}
	return tableOff, secs
}

var castagnoliTab = crc32.MakeTable(crc32.Castagnoli)

// resealTable recomputes the header's checksum of the section table.
func resealTable(b []byte) {
	tableOff := int64(binary.LittleEndian.Uint64(b[16:]))
	n := int64(binary.LittleEndian.Uint32(b[24:]))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[tableOff:tableOff+n*format.SectionEntrySize], castagnoliTab))
}

// rewriteGMT writes a copy of src through format.Writer with the metadata and tensors
// changed by edit (the checksums are therefore right).
func rewriteGMT(t testing.TB, src, dst string, editMeta func(*format.Metadata), editTensor func(*format.TensorInfo) bool) string {
	t.Helper()
	f, err := format.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.MkdirAll(filepath.Dir(dst), 0o755)
	w, err := format.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range f.Tensors() {
		ti := tn.TensorInfo
		ti.Shape = slices.Clone(ti.Shape)
		if editTensor != nil && !editTensor(&ti) {
			continue
		}
		data := tn.Data
		if err := w.WriteTensor(ti.Name, ti.DType, ti.Shape, ti.Scale, func(wr io.Writer) error { _, err := wr.Write(data); return err }); err != nil {
			t.Fatalf("rewrite %s: %v", ti.Name, err)
		}
	}
	for _, n := range f.FileNames() {
		b, _, err := f.EmbeddedFile(n)
		if err != nil {
			t.Fatal(err)
		}
		w.AddFile(n, b)
	}
	m := f.Meta
	if editMeta != nil {
		editMeta(&m)
	}
	w.SetMetadata(&m)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// pngChunk appends one PNG chunk.
func pngChunk(b []byte, typ string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// hugePNG is a valid PNG of w×h 16-bit RGBA pixels, all zero: a small file that decodes to
// w·h·8 bytes (rows only hold zeros, which compress about 1000:1). rows < h truncates the
// image data after that many rows.
func hugePNG(w, h, rows int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 16, 6, 0, 0, 0)
	b = pngChunk(b, "IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+8*w)
	for range rows {
		zw.Write(row)
	}
	zw.Close()
	b = pngChunk(b, "IDAT", z.Bytes())
	return pngChunk(b, "IEND", nil)
}

// hostileCorpus generates the inputs under dir and returns every case.
func hostileCorpus(t *testing.T, dir string, full bool) []hcase {
	t.Helper()
	var cases []hcase
	add := func(group, name string, mustFail, always bool, args ...string) {
		cases = append(cases, hcase{group: group, name: name, args: args, mustFail: mustFail, always: always})
	}

	// The base inputs: golden case b (a 4B-like multimodal checkpoint, 1.1 MB) and its
	// gemmatool file.
	ck := filepath.Join(dir, "ckb")
	for _, f := range []string{"config.json", "model.safetensors", "preprocessor_config.json"} {
		writeFile(t, filepath.Join(ck, f), readFile(t, filepath.Join(goldenBDir, f)))
	}
	gmt := filepath.Join(dir, "b.gmt")
	if _, err := convert.Run(ck, gmt, convert.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	gb := readFile(t, gmt)
	ids := goldenIDs(t, goldenBDir)
	idsJSON, _ := json.Marshal(ids)
	idsFile := writeFile(t, filepath.Join(dir, "ids.json"), idsJSON)
	image0 := filepath.Join(goldenBDir, "image0.png")

	// Controls: the valid inputs pass every verb (the rules would flag a run that leaves
	// files or takes too much memory even on good input).
	for i, v := range gmtVerbs(gmt) {
		if i != 5 && i != 7 { // verify and imatrix need a tokenizer
			add("control", v[0], false, true, v...)
		}
	}
	for _, v := range ckVerbs(ck) {
		add("control", v[0], false, true, v...)
	}
	add("control", "logits image", false, true, "logits", "--model", gmt, "--ids-file", idsFile, "--image", image0, "-o", "{out}")

	// Truncations of the gemmatool file at many offsets: every verb must refuse them.
	tableOff, secs := gmtSections(t, gb)
	offs := []int64{0, 1, 8, 63, 64, 65, tableOff - 1, tableOff, tableOff + 1, int64(len(gb)) - 1}
	for _, s := range secs {
		offs = append(offs, s.off, s.off+1, s.off+s.stored-1)
	}
	offs = append(offs, spread(64, secs[0].off, map[bool]int{true: 40, false: 8}[full])...)
	for _, off := range offs {
		p := writeFile(t, filepath.Join(dir, "trunc-gmt", fmt.Sprintf("b-%d.gmt", off)), gb[:off])
		for _, v := range gmtVerbs(p) {
			add("truncated .gmt", fmt.Sprintf("%s@%d", v[0], off), true, false, v...)
		}
	}

	// Byte flips per region of the gemmatool file. Sections and the section table carry
	// checksums: flips there must be refused by every verb; a flipped payload byte must be
	// refused by inspect --verify-checksums.
	type region struct {
		name     string
		lo, hi   int64
		mustFail bool
	}
	regions := []region{{"header", 0, 64, true}, {"payload", 64, secs[0].off, false}, {"section table", tableOff, tableOff + int64(len(secs))*format.SectionEntrySize, true}}
	for _, s := range secs {
		// Embedded files are read on use; the meta, tensors and tokenizer sections at open.
		regions = append(regions, region{"section " + s.name, s.off, s.off + s.stored, s.name == "meta" || s.name == "tensors" || s.name == "tokenizer"})
	}
	for _, r := range regions {
		for k, off := range spread(r.lo, r.hi, map[bool]int{true: 24, false: 4}[full]) {
			b := slices.Clone(gb)
			b[off] ^= 0x5a
			p := writeFile(t, filepath.Join(dir, "flip-gmt", fmt.Sprintf("%s-%d.gmt", strings.ReplaceAll(r.name, " ", "_"), off)), b)
			for vi, v := range gmtVerbs(p) {
				// inspect --verify-checksums also checks payloads and embedded files.
				must := r.mustFail || vi == 1
				if r.name == "header" && (off == 10 || off == 11) {
					must = false // the minor version may change by design
				}
				add("flipped .gmt "+r.name, fmt.Sprintf("%s@%d#%d", v[0], off, k), must, false, v...)
			}
		}
	}

	// Well-formed files that lie, with their checksums recomputed.
	lies := []struct {
		name string
		meta func(*format.Metadata)
		ten  func(*format.TensorInfo) bool
	}{
		{"hidden_size 1e9", func(m *format.Metadata) { m.Model.Text.HiddenSize = 1e9 }, nil},
		{"1e6 layers", func(m *format.Metadata) { m.Model.Text.NumLayers = 1e6 }, nil},
		{"vocab 0", func(m *format.Metadata) { m.Model.Text.VocabSize = 0 }, nil},
		{"vocab 2^40", func(m *format.Metadata) { m.Model.Text.VocabSize = 1 << 40 }, nil},
		{"negative max positions", func(m *format.Metadata) { m.Model.Text.MaxPositions = -1 }, nil},
		{"zero heads", func(m *format.Metadata) { m.Model.Text.NumHeads = 0 }, nil},
		{"head_dim 2^20", func(m *format.Metadata) { m.Model.Text.HeadDim = 1 << 20 }, nil},
		{"negative sliding window", func(m *format.Metadata) { m.Model.Text.SlidingWindow = -5 }, nil},
		{"no layer types", func(m *format.Metadata) { m.Model.Text.LayerTypes = nil }, nil},
		{"1e9 tokens per image", func(m *format.Metadata) { m.Model.MM.TokensPerImage = 1e9 }, nil},
		{"vision image size 1e6", func(m *format.Metadata) { m.Model.Vision.ImageSize = 1e6 }, nil},
		{"patch size 0", func(m *format.Metadata) { m.Model.Vision.PatchSize = 0 }, nil},
		{"image token out of vocab", func(m *format.Metadata) { m.Model.MM.ImageToken = 1 << 30 }, nil},
		{"tensor renamed", nil, func(ti *format.TensorInfo) bool {
			if ti.Name == "text.blk.0.attn_q" {
				ti.Name = "text.blk.0.attn_x"
			}
			return true
		}},
		{"tensor missing", nil, func(ti *format.TensorInfo) bool { return ti.Name != "text.output_norm" }},
		{"tensor transposed", nil, func(ti *format.TensorInfo) bool {
			if ti.Name == "text.blk.0.ffn_down" {
				ti.Shape[0], ti.Shape[1] = ti.Shape[1], ti.Shape[0]
			}
			return true
		}},
		{"embedding flattened", nil, func(ti *format.TensorInfo) bool {
			if ti.Name == "text.token_embd" {
				ti.Shape = []int64{ti.Shape[0] * ti.Shape[1]}
			}
			return true
		}},
		{"scale 1e30 on F32", nil, func(ti *format.TensorInfo) bool {
			if ti.DType == format.F32 {
				ti.Scale = 1e30
			}
			return true
		}},
	}
	for _, l := range lies {
		p := rewriteGMT(t, gmt, filepath.Join(dir, "lie-gmt", strings.ReplaceAll(l.name, " ", "_")+".gmt"), l.meta, l.ten)
		for _, v := range gmtVerbs(p) {
			add("lying .gmt", l.name+" "+v[0], false, false, v...)
		}
	}
	// Counts and sizes that would allocate far beyond the file, checksums recomputed.
	huge := func(name string, mustFail bool, edit func(b []byte)) {
		b := slices.Clone(gb)
		edit(b)
		p := writeFile(t, filepath.Join(dir, "huge-gmt", strings.ReplaceAll(name, " ", "_")+".gmt"), b)
		for _, v := range gmtVerbs(p) {
			add("huge counts .gmt", name+" "+v[0], mustFail, v[0] == "inspect", v...)
		}
	}
	for _, s := range secs {
		s := s
		// Embedded files are decoded on use: only the meta, tensors and tokenizer sections
		// must fail every verb.
		atOpen := s.name == "meta" || s.name == "tensors" || s.name == "tokenizer"
		huge("section "+s.name+" raw 2^62", atOpen, func(b []byte) {
			binary.LittleEndian.PutUint64(b[s.raw:], 1<<62)
			resealTable(b)
		})
		huge("section "+s.name+" raw 511 MiB", atOpen, func(b []byte) {
			binary.LittleEndian.PutUint64(b[s.raw:], 511<<20)
			resealTable(b)
		})
		if s.name == "tokenizer" {
			// Counts that lie, with the section's checksum recomputed.
			for _, c := range []struct {
				name string
				at   int64
				v    uint32
			}{{"ids 2^31", 4, 1 << 31}, {"ids 2^22", 4, 1 << 22}, {"merges 2^23", 8, 1 << 23}, {"template 2^24", 28, 1 << 24}} {
				huge("tokenizer "+c.name, true, func(b []byte) {
					binary.LittleEndian.PutUint32(b[s.off+c.at:], c.v)
					binary.LittleEndian.PutUint32(b[s.crcSpot:], crc32.Checksum(b[s.off:s.off+s.stored], castagnoliTab))
					resealTable(b)
				})
			}
		}
		if s.name == "tensors" {
			huge("tensor count 2^31-1", true, func(b []byte) {
				binary.LittleEndian.PutUint32(b[s.off:], 1<<31-1)
				binary.LittleEndian.PutUint32(b[s.crcSpot:], crc32.Checksum(b[s.off:s.off+s.stored], castagnoliTab))
				resealTable(b)
			})
		}
	}
	huge("section count 2^32-1", true, func(b []byte) { binary.LittleEndian.PutUint32(b[24:], 1<<32-1) })
	huge("table offset 2^62", true, func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 1<<62) })

	// Truncations and flips of a GGUF export of the same model, read by import gguf.
	gg := filepath.Join(dir, "b.gguf")
	if _, stderr, code := gt(t, "export", "gguf", gmt, "-o", gg, "-q"); code != 0 {
		t.Fatalf("export gguf: %s", stderr)
	}
	ggb := readFile(t, gg)
	add("control", "import gguf", false, true, "import", "gguf", gg, "-o", "{out}", "-q")
	for _, off := range append([]int64{0, 3, 4, 8, 16, 24, int64(len(ggb)) - 1}, spread(25, int64(len(ggb)), map[bool]int{true: 40, false: 6}[full])...) {
		p := writeFile(t, filepath.Join(dir, "trunc-gguf", fmt.Sprintf("b-%d.gguf", off)), ggb[:off])
		add("truncated .gguf", fmt.Sprint(off), true, false, "import", "gguf", p, "-o", "{out}", "-q")
	}
	for _, off := range spread(0, min(int64(len(ggb)), 64<<10), map[bool]int{true: 64, false: 6}[full]) {
		b := slices.Clone(ggb)
		b[off] ^= 0x5a
		p := writeFile(t, filepath.Join(dir, "flip-gguf", fmt.Sprintf("b-%d.gguf", off)), b)
		add("flipped .gguf metadata", fmt.Sprint(off), false, false, "import", "gguf", p, "-o", "{out}", "-q")
	}

	// Truncations and flips of the safetensors checkpoint.
	st := readFile(t, filepath.Join(ck, "model.safetensors"))
	hdrEnd := 8 + int64(binary.LittleEndian.Uint64(st))
	ckCase := func(group, name string, mustFail bool, files map[string][]byte) {
		d := filepath.Join(dir, strings.ReplaceAll(group, " ", "_"), strings.ReplaceAll(name, " ", "_"))
		for _, f := range []string{"config.json", "model.safetensors", "preprocessor_config.json"} {
			b, ok := files[f]
			if !ok {
				b = readFile(t, filepath.Join(ck, f))
			}
			if b != nil {
				writeFile(t, filepath.Join(d, f), b)
			}
		}
		for f, b := range files {
			if !slices.Contains([]string{"config.json", "model.safetensors", "preprocessor_config.json"}, f) && b != nil {
				writeFile(t, filepath.Join(d, f), b)
			}
		}
		for _, v := range ckVerbs(d) {
			// estimate reads only config.json.
			add(group, name+" "+v[0], mustFail && v[0] != "estimate", false, v...)
		}
	}
	toffs := []int64{0, 1, 7, 8, 9, hdrEnd - 1, hdrEnd, hdrEnd + 1, int64(len(st)) - 1}
	toffs = append(toffs, spread(9, hdrEnd, map[bool]int{true: 16, false: 3}[full])...)
	toffs = append(toffs, spread(hdrEnd, int64(len(st)), map[bool]int{true: 24, false: 4}[full])...)
	for _, off := range toffs {
		ckCase("truncated safetensors", fmt.Sprint(off), true, map[string][]byte{"model.safetensors": st[:off]})
	}
	for _, off := range spread(0, hdrEnd, map[bool]int{true: 48, false: 6}[full]) {
		b := slices.Clone(st)
		b[off] ^= 0x5a
		ckCase("flipped safetensors header", fmt.Sprint(off), false, map[string][]byte{"model.safetensors": b})
	}
	for _, off := range spread(hdrEnd, int64(len(st)), map[bool]int{true: 8, false: 2}[full]) {
		b := slices.Clone(st)
		b[off] ^= 0x5a
		ckCase("flipped safetensors payload", fmt.Sprint(off), false, map[string][]byte{"model.safetensors": b})
	}

	// Hostile safetensors headers.
	withHeader := func(h string, data int) []byte {
		for len(h)%8 != 0 {
			h += " "
		}
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), make([]byte, data)...)
	}
	manyEntries := func(n int) string {
		var sb strings.Builder
		sb.WriteString("{")
		for i := range n {
			if i > 0 {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, `"t%d":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`, i)
		}
		sb.WriteString("}")
		return sb.String()
	}
	for _, h := range []struct {
		name string
		b    []byte
	}{
		{"header length 2^63", binary.LittleEndian.AppendUint64(nil, 1<<63)},
		{"header length beyond the file", append(binary.LittleEndian.AppendUint64(nil, 1<<20), "{}"...)},
		{"header not JSON", withHeader("not json at all", 0)},
		{"header a JSON array", withHeader("[1,2,3]", 0)},
		{"header nested 100000 deep", withHeader(strings.Repeat("[", 100000)+strings.Repeat("]", 100000), 0)},
		{"12000 entries", withHeader(manyEntries(12000), 4)},
		{"shape overflow", withHeader(`{"model.embed_tokens.weight":{"dtype":"BF16","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8)},
		{"offsets beyond the data", withHeader(`{"model.embed_tokens.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,1000000000]}}`, 8)},
		{"negative offsets", withHeader(`{"model.embed_tokens.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[-8,0]}}`, 8)},
		{"unknown dtype", withHeader(`{"model.embed_tokens.weight":{"dtype":"Q9","shape":[2,2],"data_offsets":[0,8]}}`, 8)},
		{"rank 100", withHeader(`{"model.embed_tokens.weight":{"dtype":"U8","shape":[`+strings.TrimSuffix(strings.Repeat("1,", 100), ",")+`],"data_offsets":[0,1]}}`, 8)},
	} {
		ckCase("hostile safetensors", h.name, true, map[string][]byte{"model.safetensors": h.b})
	}

	// Hostile configurations.
	cfg := readFile(t, filepath.Join(ck, "config.json"))
	var cfgMap map[string]any
	if err := json.Unmarshal(cfg, &cfgMap); err != nil {
		t.Fatal(err)
	}
	setText := func(key string, v any) []byte {
		m := map[string]any{}
		b, _ := json.Marshal(cfgMap)
		json.Unmarshal(b, &m)
		if tc, ok := m["text_config"].(map[string]any); ok {
			tc[key] = v
		} else {
			m[key] = v
		}
		out, _ := json.Marshal(m)
		return out
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", []byte{}},
		{"not JSON", []byte("hidden_size: 64")},
		{"JSON array", []byte("[]")},
		{"null", []byte("null")},
		{"nested 100000 deep", []byte(strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000))},
		{"hidden_size a string", setText("hidden_size", "64")},
		{"hidden_size 1e9", setText("hidden_size", 1e9)},
		{"hidden_size negative", setText("hidden_size", -64)},
		{"hidden_size 1.5", setText("hidden_size", 1.5)},
		{"1e9 layers", setText("num_hidden_layers", 1e9)},
		{"vocab 2^40", setText("vocab_size", 1<<40)},
		{"max positions -1", setText("max_position_embeddings", -1)},
		{"heads 0", setText("num_attention_heads", 0)},
		{"sliding window -1", setText("sliding_window", -1)},
		{"layer types wrong length", setText("layer_types", []string{"full_attention"})},
		{"rope scaling garbage", setText("rope_scaling", map[string]any{"rope_type": "linear", "factor": "x"})},
		{"eos a map", setText("eos_token_id", map[string]any{"a": 1})},
	} {
		ckCase("hostile config", c.name, true, map[string][]byte{"config.json": c.b})
	}
	// Side files of the checkpoint.
	ckCase("hostile checkpoint", "index names a parent path", true, map[string][]byte{
		"model.safetensors.index.json": []byte(`{"metadata":{},"weight_map":{"model.embed_tokens.weight":"../../model.safetensors"}}`)})
	ckCase("hostile checkpoint", "index names a missing shard", true, map[string][]byte{
		"model.safetensors": nil, "model.safetensors.index.json": []byte(`{"metadata":{},"weight_map":{"model.embed_tokens.weight":"nope.safetensors"}}`)})
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
		// A FIFO in place of a checkpoint file would block a reader forever.
		d := filepath.Join(dir, "fifo-ck", f)
		if err := testutil.CopyDir(d, ck); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(d, f))
		if err := syscall.Mkfifo(filepath.Join(d, f), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, v := range ckVerbs(d) {
			must := v[0] != "estimate" || f == "config.json"
			cases = append(cases, hcase{group: "hostile checkpoint", name: "fifo " + f + " " + v[0], args: v, mustFail: must, always: true})
		}
	}
	ckCase("hostile checkpoint", "tokenizer.json garbage", false, map[string][]byte{"tokenizer.json": []byte("{not json")})
	ckCase("hostile checkpoint", "preprocessor config garbage", false, map[string][]byte{"preprocessor_config.json": []byte("[[[")})

	// Hostile images for the multimodal model, and hostile side inputs.
	png0 := readFile(t, image0)
	img := func(name string, mustFail bool, path string) {
		add("hostile image", name+" logits", mustFail, false, "logits", "--model", gmt, "--ids-file", idsFile, "--image", path, "-o", "{out}")
		add("hostile image", name+" run", mustFail, false, "run", "--model", gmt, "--ids-file", idsFile, "--image", path, "--max-tokens", "1", "--temp", "0")
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	img("/dev/zero", true, "/dev/zero")
	img("fifo", true, fifo)
	for i := len(cases) - 4; i < len(cases); i++ {
		cases[i].always = true // run --image /dev/zero was killed by the OOM killer at 23.7 GB
	}
	img("directory", true, dir)
	img("empty", true, writeFile(t, filepath.Join(dir, "img", "empty.png"), nil))
	img("garbage", true, writeFile(t, filepath.Join(dir, "img", "garbage.png"), bytes.Repeat([]byte("garbage!"), 128)))
	for _, off := range append([]int64{8, 16, 33}, spread(34, int64(len(png0)), map[bool]int{true: 16, false: 3}[full])...) {
		img(fmt.Sprintf("png truncated at %d", off), true, writeFile(t, filepath.Join(dir, "img", fmt.Sprintf("trunc-%d.png", off)), png0[:off]))
	}
	img("png 10000x10000 16-bit, one row of data", true, writeFile(t, filepath.Join(dir, "img", "huge-short.png"), hugePNG(10000, 10000, 1)))
	img("png 100000x100000", true, writeFile(t, filepath.Join(dir, "img", "huger.png"), hugePNG(100000, 100000, 1)))
	img("png 0x0", true, writeFile(t, filepath.Join(dir, "img", "zero.png"), hugePNG(0, 0, 0)))
	if full {
		img("png 10000x10000 16-bit, all rows", false, writeFile(t, filepath.Join(dir, "img", "huge.png"), hugePNG(10000, 10000, 10000)))
	}
	var one bytes.Buffer
	png.Encode(&one, image.NewGray(image.Rect(0, 0, 1, 1)))
	img("png 1x1", false, writeFile(t, filepath.Join(dir, "img", "one.png"), one.Bytes()))
	gif := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02D\x01\x00;")
	img("gif 65535x65535", true, writeFile(t, filepath.Join(dir, "img", "huge.gif"), gif))
	img("jpeg garbage", true, writeFile(t, filepath.Join(dir, "img", "bad.jpg"), append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{0xff}, 300)...)))
	img("webp garbage", true, writeFile(t, filepath.Join(dir, "img", "bad.webp"), append([]byte("RIFF\xff\xff\xff\x7fWEBPVP8 "), bytes.Repeat([]byte{0x42}, 300)...)))
	pv := readFile(t, filepath.Join(goldenBDir, "pixel_values.safetensors"))
	for _, c := range []struct {
		name string
		path string
	}{
		{"/dev/zero", "/dev/zero"},
		{"fifo", fifo},
		{"truncated", writeFile(t, filepath.Join(dir, "pv", "trunc.safetensors"), pv[:len(pv)/2])},
		{"header length 2^63", writeFile(t, filepath.Join(dir, "pv", "hl.safetensors"), binary.LittleEndian.AppendUint64(nil, 1<<63))},
		{"wrong shape", writeFile(t, filepath.Join(dir, "pv", "shape.safetensors"), withHeader(`{"pixel_values":{"dtype":"F32","shape":[1,3,2,2],"data_offsets":[0,48]}}`, 48))},
	} {
		add("hostile pixel values", c.name, true, false, "logits", "--model", gmt, "--ids-file", idsFile, "--pixel-values", c.path, "-o", "{out}")
	}
	for _, c := range []struct {
		name, path string
	}{
		{"/dev/zero", "/dev/zero"},
		{"fifo", fifo},
		{"directory", dir},
		{"not JSON", writeFile(t, filepath.Join(dir, "ids", "bad.json"), []byte("[1,2,"))},
		{"negative id", writeFile(t, filepath.Join(dir, "ids", "neg.json"), []byte("[2,-1]"))},
		{"id above vocab", writeFile(t, filepath.Join(dir, "ids", "big.json"), []byte("[2,99999999]"))},
		{"id above int32", writeFile(t, filepath.Join(dir, "ids", "huge.json"), []byte("[2,99999999999]"))},
		{"empty array", writeFile(t, filepath.Join(dir, "ids", "empty.json"), []byte("[]"))},
	} {
		add("hostile --ids-file", c.name+" run", true, false, "run", "--model", gmt, "--ids-file", c.path, "--max-tokens", "1")
		add("hostile --ids-file", c.name+" logits", true, false, "logits", "--model", gmt, "--ids-file", c.path, "-o", "{out}")
	}
	for _, c := range []struct {
		name, path string
	}{{"/dev/zero", "/dev/zero"}, {"fifo", fifo}, {"directory", dir}} {
		add("hostile --text", c.name, true, true, "verify", "perplexity", "--model", gmt, "--text", c.path)
		add("hostile report input", c.name, true, false, "verify", "report", "-o", "{out}", c.path)
		add("hostile model path", c.name, true, false, "run", "--model", c.path, "--ids", "2")
		add("hostile model path", c.name+" inspect", true, false, "inspect", c.path)
	}
	endless := func() io.Reader { return io.LimitReader(zeros{}, 1<<40) }
	cases = append(cases,
		hcase{group: "hostile stdin", name: "tokenize endless", args: []string{"tokenize", "--model", gmt, "-"}, stdin: endless, mustFail: true, always: true},
		hcase{group: "hostile stdin", name: "detokenize endless", args: []string{"detokenize", "--model", gmt, "-"}, stdin: endless, mustFail: true},
	)

	// Hostile flags (generic rules only: range checks are another part of the tool).
	for _, f := range [][]string{
		{"run", "--model", gmt, "--ids", "2,,3"},
		{"run", "--model", gmt, "--ids", "-1"},
		{"run", "--model", gmt, "--ids", "99999999999"},
		{"run", "--model", gmt, "--ids", ""},
		{"run", "--model", gmt, "--ids", "2", "--max-tokens", "-1"},
		{"run", "--model", gmt, "--ids", "2", "--max-tokens", "1000000000"},
		{"run", "--model", gmt, "--ids", "2", "--ctx", "-1"},
		{"run", "--model", gmt, "--ids", "2", "--ctx", "1099511627776"},
		{"run", "--model", gmt, "--ids", "2", "--temp", "NaN"},
		{"run", "--model", gmt, "--ids", "2", "--top-p", "2"},
		{"run", "--model", gmt, "--ids", "2", "--min-p", "2"},
		{"run", "--model", gmt, "--ids", "2", "--top-k", "-5"},
		{"run", "--model", gmt, "--ids", "2", "--repeat-penalty", "0"},
		{"run", "--model", gmt, "--ids", "2", "--threads", "-1"},
		{"logits", "--model", gmt, "--ids", "2,512,3", "-o", "{out}"},
		{"estimate", "--size", "1b", "--ctx", "-1"},
		{"estimate", "--size", "1b", "--ctx", "9223372036854775807"},
		{"estimate", "--size", "999b"},
		{"quantize", gmt, "-o", "{out}", "--type", "q9_9"},
		{"quantize", gmt, "-o", "{out}", "--override", "[=q8_0"},
		{"convert", ck, "-o", "{out}", "--dtype", "f8"},
		{"synth", "--size", "1b", "--layers", "-1", "-o", "{out}"},
		{"inspect"},
		{"nosuchverb"},
	} {
		add("hostile flags", strings.Join(f[min(3, len(f)-1):], " "), false, false, f...)
	}
	return cases
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestOutputRefusals: an output that is one of the command's inputs (directly, through a
// symbolic link, a hard link or another relative path), a directory, a device, a FIFO or a
// path in a missing directory is refused with a message naming the path as given; the input
// is unchanged and nothing is left behind.
func TestOutputRefusals(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ckb")
	if err := testutil.CopyDir(ck, goldenBDir); err != nil {
		t.Fatal(err)
	}
	gmt := filepath.Join(dir, "b.gmt")
	if _, err := convert.Run(ck, gmt, convert.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	orig := readFile(t, gmt)
	ids := writeFile(t, filepath.Join(ck, "ids.json"), []byte("[2,3]"))
	for _, l := range []struct{ link, target string }{{"link.gmt", gmt}, {"ckb-link", ck}} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(gmt, filepath.Join(dir, "hard.gmt")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	t.Chdir(sub)
	relGMT := filepath.Join("..", "b.gmt")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"quantize over its input", []string{"quantize", gmt, "-o", gmt, "--type", "q8_0"}, "output " + gmt + ": is also an input"},
		{"quantize through ../", []string{"quantize", gmt, "-o", "../sub/../b.gmt", "--type", "q8_0"}, "output ../sub/../b.gmt: is the same file as the input"},
		{"quantize through a symlink", []string{"quantize", relGMT, "-o", "../link.gmt", "--type", "q8_0"}, "output ../link.gmt: is the same file as the input"},
		{"quantize through a hard link", []string{"quantize", gmt, "-o", "../hard.gmt", "--type", "q8_0"}, "is the same file as the input"},
		{"quantize over the checkpoint's weights", []string{"quantize", ck, "-o", filepath.Join(dir, "ckb-link", "model.safetensors"), "--type", "q8_0"}, "is the same file as the input"},
		{"logits over its model", []string{"logits", "--model", relGMT, "--ids", "2,3", "-o", "../link.gmt"}, "output ../link.gmt: is the same file as the input ../b.gmt"},
		{"logits over its ids file", []string{"logits", "--model", gmt, "--ids-file", ids, "-o", ids}, "is also an input"},
		{"convert over its config", []string{"convert", ck, "-o", filepath.Join(dir, "ckb-link", "config.json")}, "is the same file as the input"},
		{"quantize to a directory", []string{"quantize", gmt, "-o", dir, "--type", "q8_0"}, "output " + dir + ": a directory"},
		{"convert to a directory", []string{"convert", ck, "-o", dir}, "output " + dir + ": a directory"},
		{"logits to a directory", []string{"logits", "--model", gmt, "--ids", "2", "-o", dir}, "output " + dir + ": a directory"},
		{"quantize to a missing directory", []string{"quantize", gmt, "-o", "missing/dir/x.gmt", "--type", "q8_0"}, "output missing/dir/x.gmt: directory missing/dir does not exist"},
		{"convert to a missing directory", []string{"convert", ck, "-o", "missing/dir/x.gmt"}, "output missing/dir/x.gmt: directory missing/dir does not exist"},
		{"logits to a missing directory", []string{"logits", "--model", gmt, "--ids", "2", "-o", "missing/x"}, "output missing/x: directory missing does not exist"},
		{"quantize to a device", []string{"quantize", gmt, "-o", "/dev/null", "--type", "q8_0"}, "output /dev/null: a character device"},
		{"logits to a device", []string{"logits", "--model", gmt, "--ids", "2", "-o", "/dev/null"}, "output /dev/null: a character device"},
		{"convert to a FIFO", []string{"convert", ck, "-o", fifo}, "output " + fifo + ": a named pipe"},
		{"synth over a file", []string{"synth", "--size", "270m", "-o", gmt}, "not a directory"},
		{"export gguf over its input", []string{"export", "gguf", relGMT, "-o", "../link.gmt"}, "output ../link.gmt: is the same file as the input ../b.gmt"},
		{"export gguf to a directory", []string{"export", "gguf", gmt, "-o", dir}, "output " + dir + ": a directory"},
		{"import gguf over its input", []string{"import", "gguf", fifo, "-o", fifo}, "output " + fifo + ": a named pipe"},
		{"verify report over its input", []string{"verify", "report", "-o", "../hard.gmt", gmt}, "is the same file as the input"},
		{"verify kld reference over its text", []string{"verify", "kld", "--reference", gmt, "--text", ids, "--save-reference", ids}, "is also an input"},
		{"imatrix over its model", []string{"imatrix", "--model", gmt, "--text", ids, "-o", "../hard.gmt"}, "is the same file as the input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := gt(t, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
				t.Errorf("gemmatool %q: exit %d, stderr %q, want a failure saying %q", tc.args, code, stderr, tc.want)
			}
			if strings.Contains(stderr, ".gemmatool-tmp-") || strings.Contains(stderr, ".tmp-") {
				t.Errorf("gemmatool %q: message names a temporary file: %q", tc.args, stderr)
			}
		})
	}
	if !bytes.Equal(readFile(t, gmt), orig) {
		t.Fatal("the input b.gmt changed")
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".gemmatool-tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	// Outputs get 0666 minus the umask, like other Unix tools (not the 0600 of a
	// temporary file), and writing over a regular file is allowed.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	out := filepath.Join(dir, "q.gmt")
	for _, args := range [][]string{
		{"quantize", gmt, "-o", out, "--type", "q8_0", "-q"},
		{"quantize", gmt, "-o", out, "--type", "q4_0", "-q"},
		{"logits", "--model", gmt, "--ids", "2,3", "-o", out + ".st"},
		{"convert", ck, "-o", out + ".c", "-q"},
	} {
		if _, stderr, code := gt(t, args...); code != 0 {
			t.Fatalf("gemmatool %q: exit %d: %s", args, code, stderr)
		}
	}
	for _, p := range []string{out, out + ".st", out + ".c"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v with umask 022, want -rw-r--r--", p, st.Mode())
		}
	}
}

// sparseCheckpoint writes a Gemma 3 270M checkpoint with one layer whose 335 MB of BF16
// weights are a hole in a sparse file: cheap to create, slow enough to convert that a
// signal arrives while the output is being written.
func sparseCheckpoint(t testing.TB, dir string) {
	t.Helper()
	cfg, err := convert.ReleasedConfig("270m", 1)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := convert.MarshalHFConfig(&cfg, convert.HFStyle{LayerTypes: true})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "config.json"), cj)
	header := map[string]any{}
	var off int64
	for _, e := range convert.ExpectedTensors(&cfg) {
		n := int64(2)
		for _, d := range e.SrcShape {
			n *= d
		}
		header[e.Source] = map[string]any{"dtype": "BF16", "shape": e.SrcShape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	h, _ := json.Marshal(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	b := append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...)
	p := writeFile(t, filepath.Join(dir, "model.safetensors"), b)
	if err := os.Truncate(p, int64(len(b))+off); err != nil {
		t.Fatal(err)
	}
}

// TestInterrupt: SIGINT or SIGTERM while convert or quantize writes removes the temporary
// file, prints one line and exits 130; a run killed by SIGKILL leaves a temporary file that
// the next run writing into the directory names as deletable.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gemmatool child processes")
	}
	ck := filepath.Join(t.TempDir(), "ck")
	sparseCheckpoint(t, ck)
	waitTemp := func(t *testing.T, dir string) string {
		deadline := time.Now().Add(hostileTimeout)
		for time.Now().Before(deadline) {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".gemmatool-tmp-") {
					return e.Name()
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatal("no temporary file appeared")
		return ""
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"convert SIGINT", syscall.SIGINT, []string{"convert", ck, "-q", "--dtype", "f32"}},
		{"quantize SIGTERM", syscall.SIGTERM, []string{"quantize", ck, "-q", "--type", "q4_0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cmd := gemmatoolCmd(append(tc.args, "-o", filepath.Join(out, "x.gmt"))...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitTemp(t, out)
			cmd.Process.Signal(tc.sig)
			cmd.Wait()
			msg := strings.TrimPrefix(stderr.String(), "gemmatool: warning: no tokenizer.json in "+ck+": the converted file will have no tokenizer (text generation needs one)\n")
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || msg != "gemmatool: interrupted; nothing written\n" {
				t.Errorf("after %v: exit %d, stderr %q; want 130 and one line", tc.sig, code, stderr.String())
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("after %v the output directory holds %v", tc.sig, ents)
			}
		})
	}
	t.Run("SIGKILL leftover noted", func(t *testing.T) {
		out := t.TempDir()
		cmd := gemmatoolCmd("convert", ck, "-q", "--dtype", "f32", "-o", filepath.Join(out, "x.gmt"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tmp := waitTemp(t, out)
		cmd.Process.Kill()
		cmd.Wait()
		_, stderr, code := gt(t, "convert", goldenBDir, "-q", "-o", filepath.Join(out, "b.gmt"))
		if code != 0 || !strings.Contains(stderr, "note: "+filepath.Join(out, tmp)) || !strings.Contains(stderr, "may be deleted") {
			t.Errorf("next convert into the directory: exit %d, stderr %q; want a note naming %s", code, stderr, tmp)
		}
	})
}
