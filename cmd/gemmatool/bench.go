package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/vision"
)

func init() {
	register(&cli.Command{
		Name:  "bench",
		Usage: "measure memory bandwidth, kernel throughput per type and shape, and a model's prefill/decode speed",
		Description: `Without --model: measures this machine's memory read ceiling (several methods, see
below), then (with --kernels) the matrix-vector kernels in GB/s of weight bytes and the
matrix-matrix kernels in GFLOP/s for each stored type on the Gemma 3 projection shapes.

With --model: llama-bench's tests. ppN is the prefill of N prompt tokens, tgN the decode of N
tokens from an empty context, each after one untimed warm-up round and repeated -r times; -t,
-p and -n take comma-separated lists and every combination runs. The table has llama-bench's
columns (t/s is the mean ± standard deviation over the repetitions); -o csv, json (one array)
and jsonl (one object per test) print its fields (n_prompt, n_gen, avg_ts, stddev_ts, samples_ts…).

Roofline: a tg test reads the decoder weights once per token, so its tok/s is bounded by the
memory read ceiling ÷ the bytes read per token. The ceiling is the best of several
measurements, taken before and after the tests: streaming reads of 1 GB and 256 MB buffers,
and matrix-vector products over 512 MB of resident BF16 and Q8_0 matrices (decode's access
pattern: each thread reads its rows of one matrix after another). Their spread is reported:
on a shared machine it is often 20–40 %. A decode that reads faster than the ceiling means the
ceiling was under-measured; the fraction is then not printed as a result but flagged.

Examples:
   gemmatool bench
   gemmatool bench --kernels --shapes 1b --types q4_0,q8_0,bf16
   gemmatool bench -m s1b-q4_0.gmt -t 1,2 -p 128,512 -n 64,128 -r 5
   gemmatool bench -m s1b-q4_0.gmt -o json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model file (or checkpoint directory) to benchmark"},
			&cli.StringFlag{Name: "n-prompt", Aliases: []string{"p", "pp"}, Value: "512", Usage: "prompt tokens of the prefill tests, comma-separated (0 skips them)"},
			&cli.StringFlag{Name: "n-gen", Aliases: []string{"n", "tg"}, Value: "128", Usage: "tokens of the decode tests, comma-separated (0 skips them)"},
			&cli.IntFlag{Name: "repetitions", Aliases: []string{"r", "reps"}, Value: 3, Usage: "repetitions of each test"},
			&cli.StringFlag{Name: "threads", Aliases: []string{"t"}, Usage: "worker threads, comma-separated (default: all cores)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "md", Usage: "output format with --model: md, csv, json or jsonl"},
			kvTypeFlag(),
			&cli.StringFlag{Name: "act", Value: "int8", Usage: "activation precision of the matmuls: int8 (integer dot products with q4_0, q8_0 and i4 weights, as llama.cpp does; other types stay exact; error measured in the README) or exact (f32 activations, what logits and verify use)"},
			mmapFlag,
			&cli.BoolFlag{Name: "kernels", Usage: "benchmark every kernel on the real projection shapes"},
			&cli.BoolFlag{Name: "vision", Usage: "with --model: time the vision tower and projector on one image instead of pp/tg"},
			visionActFlag(),
			&cli.StringFlag{Name: "shapes", Value: "1b", Usage: "model sizes whose shapes --kernels uses: 1b, 4b, 27b (comma-separated)"},
			&cli.StringFlag{Name: "types", Value: "f32,bf16,f16,q8_0,q4_0,i4,fp8,sfp8", Usage: "types for --kernels"},
			&cli.IntFlag{Name: "mm-n", Value: 128, Usage: "activation rows for the matrix-matrix kernel test"},
			&cli.Float64Flag{Name: "bw-gb", Value: 1, Usage: "buffer size in GB of the streaming bandwidth test"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (-o jsonl with --model; JSON lines for --kernels)"},
			&cli.BoolFlag{Name: "csv", Usage: "with --model: -o csv"},
		},
		Action: benchAction,
	})
}

// intList parses a comma-separated list of integers in [lo, hi] for flag name.
func intList(c *cli.Context, name string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(c.String(name), ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < lo || v > hi {
			return nil, usageError("--%s %q: want comma-separated integers in [%d, %d]", name, c.String(name), lo, hi)
		}
		out = append(out, v)
	}
	return out, nil
}

func benchAction(c *cli.Context) error {
	threads := []int{kernel.Exec{}.NumThreads()}
	if c.IsSet("threads") {
		var err error
		if threads, err = intList(c, "threads", 1, maxThreads); err != nil {
			return err
		}
	}
	pps, err := intList(c, "n-prompt", 0, maxCtx)
	if err != nil {
		return err
	}
	tgs, err := intList(c, "n-gen", 0, maxCtx)
	if err != nil {
		return err
	}
	format := c.String("output")
	switch {
	case c.Bool("json") && c.Bool("csv"):
		return usageError("give --json or --csv, not both")
	case c.Bool("json"):
		format = "jsonl"
	case c.Bool("csv"):
		format = "csv"
	}
	if !slices.Contains([]string{"md", "csv", "json", "jsonl"}, format) {
		return usageError("--output %q: want md, csv, json or jsonl", format)
	}
	ex, err := execFromFlags(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.String("model") != "" {
		return benchModel(c, w, ex, threads, pps, tgs, format)
	}
	ex.Threads = threads[0]
	ceil := measureCeiling(int(c.Float64("bw-gb")*1e9), ex)
	if !c.Bool("json") {
		fmt.Fprintf(w, "machine: %s, %d threads; memory read ceiling %s\n", cpuName(), threads[0], &ceil)
	}
	if c.Bool("kernels") {
		return benchKernels(c, w, ceil.Best, ex)
	}
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"bandwidth_gbs": ceil.Best, "bandwidth_methods": ceil.Methods, "bandwidth_spread": ceil.Spread(), "threads": threads[0], "cpu": cpuName()})
	}
	return nil
}

// ceilingMethod is one measurement of the memory read ceiling.
type ceilingMethod struct {
	Method string  `json:"method"`
	GBs    float64 `json:"gbs"`
}

// ceiling is the memory read ceiling: the best of several methods (every one of them
// under-measures when the machine is busy; none over-measures).
type ceiling struct {
	Methods []ceilingMethod `json:"methods"`
	Best    float64         `json:"best_gbs"`
}

func (c *ceiling) add(method string, gbs float64) {
	c.Methods = append(c.Methods, ceilingMethod{method, gbs})
	c.Best = max(c.Best, gbs)
}

// Spread is (best − worst) / best over the methods.
func (c *ceiling) Spread() float64 {
	lo := math.Inf(1)
	for _, m := range c.Methods {
		lo = min(lo, m.GBs)
	}
	if c.Best <= 0 {
		return 0
	}
	return (c.Best - lo) / c.Best
}

func (c *ceiling) String() string {
	var parts []string
	for _, m := range c.Methods {
		parts = append(parts, fmt.Sprintf("%s %.1f", m.Method, m.GBs))
	}
	return fmt.Sprintf("%.1f GB/s (best of: %s GB/s; spread %.0f%%)", c.Best, strings.Join(parts, ", "), 100*c.Spread())
}

// measureCeiling measures the memory read ceiling four ways: streaming reads of a bytes-long
// buffer by threads goroutines and by twice as many (more reads in flight), and decode's access
// pattern, MatVec over bytes/2 (512 MB by default) of resident F32 and BF16 copies of a Gemma 3 1B feed-forward
// matrix (6912 × 1152; each thread reads its rows of one matrix after another, each call
// reading its matrix from memory).
func measureCeiling(bytes int, ex kernel.Exec) ceiling {
	threads := ex.NumThreads()
	ex.Mode = kernel.ModeExact // the products are read-bound on the exact path
	var c ceiling
	c.add(fmt.Sprintf("stream ×%d", threads), kernel.MeasureBandwidth(bytes, threads))
	c.add(fmt.Sprintf("stream ×%d", 2*threads), kernel.MeasureBandwidth(bytes, 2*threads))
	for _, t := range []format.DType{format.F32, format.BF16} {
		if g, err := matVecBandwidth(ex, t, 6912, 1152, max(bytes/2, 32<<20)); err == nil {
			c.add("matvec "+t.String(), g)
		}
	}
	return c
}

// matVecBandwidth returns the best weight bytes per second of MatVec over copies of a
// rows × cols matrix of type t totalling about total bytes (resident, as a loaded model's
// weights).
func matVecBandwidth(ex kernel.Exec, t format.DType, rows, cols, total int) (float64, error) {
	rng := rand.New(rand.NewPCG(9, 10))
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 0.02)
	}
	shape := []int64{int64(rows), int64(cols)}
	payload, scale, err := quantize.Encode(t, shape, src, quantize.Options{})
	if err != nil {
		return 0, err
	}
	ms := make([]*kernel.Matrix, max(1, total/len(payload)))
	for i := range ms {
		if ms[i], err = kernel.NewMatrix(t, shape, payload, scale); err != nil {
			return 0, err
		}
	}
	kernel.Resident(ms, nil)
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, rows)
	best := math.Inf(1)
	for pass := 0; pass < 5; pass++ {
		t0 := time.Now()
		for _, m := range ms {
			ex.MatVec(y, m, x)
		}
		best = min(best, time.Since(t0).Seconds())
	}
	return float64(len(ms)) * float64(ms[0].WeightBytes()) / best / 1e9, nil
}

// benchRow is one test of bench --model, with llama-bench's field names.
type benchRow struct {
	Model      string    `json:"model_filename"`
	Size       int64     `json:"model_size"`
	Params     int64     `json:"model_n_params"`
	Backend    string    `json:"backend"`
	CPU        string    `json:"cpu_info"`
	Threads    int       `json:"n_threads"`
	Act        string    `json:"act"`
	Weights    string    `json:"weights"`
	NPrompt    int       `json:"n_prompt"`
	NGen       int       `json:"n_gen"`
	AvgTS      float64   `json:"avg_ts"`
	StddevTS   float64   `json:"stddev_ts"`
	SamplesTS  []float64 `json:"samples_ts"`
	ReadGBs    float64   `json:"read_gbs,omitempty"`    // tg: weight bytes per token × tok/s
	CeilingGBs float64   `json:"ceiling_gbs,omitempty"` // tg: best of the ceiling's methods
	Roofline   float64   `json:"roofline_ts,omitempty"` // tg: ceiling ÷ bytes per token
	Fraction   float64   `json:"roofline_fraction,omitempty"`
	UnderMeas  bool      `json:"ceiling_under_measured,omitempty"`
	Ceiling    *ceiling  `json:"ceiling,omitempty"`
}

func (r *benchRow) test() string {
	if r.NGen > 0 {
		return fmt.Sprintf("tg%d", r.NGen)
	}
	return fmt.Sprintf("pp%d", r.NPrompt)
}

// benchModel runs llama-bench's pp and tg tests on a model for every thread count.
func benchModel(c *cli.Context, w io.Writer, ex kernel.Exec, threads, pps, tgs []int, outFmt string) error {
	path := c.String("model")
	if isCheckpointDir(path) {
		var err error
		if path, err = modelFromCheckpoint(path, c.App.ErrWriter, false); err != nil {
			return err
		}
	}
	f, err := openFormat(path, "--model")
	if err != nil {
		return err
	}
	defer f.Close()
	if c.Bool("vision") {
		ex.Threads = threads[0]
		if ex, err = visionExec(c, ex); err != nil {
			return err
		}
		return benchVision(c, w, f, ex)
	}
	m, err := runtime.Load(f, &runtime.LoadOptions{Resident: !c.Bool("mmap"), Logger: newWarnLogger(c.App.ErrWriter)})
	if err != nil {
		return err
	}
	var size, params int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	for _, t := range f.Tensors() {
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		params += n
	}
	reps := c.Int("repetitions")
	maxLen := max(slices.Max(pps), slices.Max(tgs))
	if mp := m.Config.MaxPositions; mp > 0 && maxLen >= mp {
		return usageError("tests of %d tokens exceed the model's %d positions", maxLen, mp)
	}
	kv, err := kvType(c)
	if err != nil {
		return err
	}
	newSession := func(ex kernel.Exec) *runtime.Session {
		return m.NewSession(&runtime.SessionOptions{MaxContext: maxLen + 1, Exec: ex, KVType: kv})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := min(m.SamplingLimit(), m.VocabRows())
	ids := make([]int32, maxLen)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	logits := make([]float32, m.VocabRows()) // reused by every decode step, as Generate does
	wb := m.WeightBytes()
	bwBytes := int(c.Float64("bw-gb") * 1e9)
	var rows []*benchRow
	md := outFmt == "md"
	if md {
		fmt.Fprintf(w, "| model | size | params | backend | threads | test | t/s |\n| --- | ---: | ---: | --- | ---: | --- | ---: |\n")
	}
	for _, th := range threads {
		ex.Threads = th
		sess := newSession(ex)
		ceil := measureCeiling(bwBytes, ex)
		var thRows []*benchRow
		var tests []benchRow
		for _, pp := range pps {
			if pp > 0 {
				tests = append(tests, benchRow{NPrompt: pp})
			}
		}
		for _, tg := range tgs {
			if tg > 0 {
				tests = append(tests, benchRow{NGen: tg})
			}
		}
		for _, tst := range tests {
			r := tst
			r.Model, r.Size, r.Params, r.Backend, r.CPU, r.Threads, r.Act, r.Weights = filepath.Base(path), size, params, "CPU", cpuName(), th, c.String("act"), weightsPlace(m)
			// One untimed warm-up round first (as llama-bench does): it faults the file mapping
			// in and settles the worker pool.
			for rep := -1; rep < reps; rep++ {
				sess.Reset()
				t0 := time.Now()
				if r.NPrompt > 0 {
					if _, err := sess.Forward(&runtime.Batch{Tokens: ids[:r.NPrompt], Logits: runtime.LogitsLast}); err != nil {
						return err
					}
				} else {
					for i := 0; i < r.NGen; i++ {
						if _, err := sess.Forward(&runtime.Batch{Tokens: ids[i : i+1], Logits: runtime.LogitsLast, LogitsInto: logits}); err != nil {
							return err
						}
					}
				}
				if rep >= 0 {
					r.SamplesTS = append(r.SamplesTS, float64(r.NPrompt+r.NGen)/time.Since(t0).Seconds())
				}
				if c.Context.Err() != nil {
					return errInterrupted
				}
			}
			r.AvgTS, r.StddevTS = meanStd(r.SamplesTS)
			thRows = append(thRows, &r)
			if md {
				fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %.2f ± %.2f |\n", r.Model, humanBytes(r.Size), humanCount(r.Params), r.Backend+" ("+r.Act+", "+r.Weights+")", th, r.test(), r.AvgTS, r.StddevTS)
			}
		}
		// Measure the ceiling again after the tests: the machine's bandwidth drifts, and a low
		// moment must not flatter the decode figures.
		after := measureCeiling(bwBytes, ex)
		for _, mm := range after.Methods {
			ceil.add(mm.Method+" (after)", mm.GBs)
		}
		for _, r := range thRows {
			if r.NGen == 0 {
				continue
			}
			r.Ceiling, r.CeilingGBs = &ceil, ceil.Best
			r.ReadGBs = r.AvgTS * float64(wb) / 1e9
			r.Roofline = ceil.Best * 1e9 / float64(wb)
			r.Fraction = r.ReadGBs / ceil.Best
			r.UnderMeas = r.Fraction > 1
		}
		rows = append(rows, thRows...)
	}
	return writeBenchRows(w, rows, wb, outFmt)
}

// writeBenchRows prints the rows of bench --model after the table (md: the roofline lines),
// or all of them (csv, json, jsonl). wb is the weight bytes read per decoded token.
func writeBenchRows(w io.Writer, rows []*benchRow, wb int64, outFmt string) error {
	switch outFmt {
	case "md":
		fmt.Fprintf(w, "\nroofline: weights read per decoded token %s\n", humanBytes(wb))
		seen := map[int]bool{}
		for _, r := range rows {
			if r.NGen == 0 {
				continue
			}
			if !seen[r.Threads] {
				seen[r.Threads] = true
				fmt.Fprintf(w, "memory read ceiling, %d threads: %s\n", r.Threads, r.Ceiling)
			}
			if r.UnderMeas {
				fmt.Fprintf(w, "  %s: reads %.1f GB/s, above the measured ceiling of %.1f GB/s: the ceiling was under-measured (the machine's bandwidth moved during the run); no roofline fraction given\n",
					r.test(), r.ReadGBs, r.CeilingGBs)
				continue
			}
			fmt.Fprintf(w, "  %s: reads %.1f GB/s = %.0f%% of the ceiling (roofline %.2f tok/s)\n", r.test(), r.ReadGBs, 100*r.Fraction, r.Roofline)
		}
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"model_filename", "model_size", "model_n_params", "backend", "n_threads", "act", "weights", "n_prompt", "n_gen", "avg_ts", "stddev_ts", "read_gbs", "ceiling_gbs", "roofline_fraction", "ceiling_under_measured"})
		for _, r := range rows {
			f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
			cw.Write([]string{r.Model, fmt.Sprint(r.Size), fmt.Sprint(r.Params), r.Backend, fmt.Sprint(r.Threads), r.Act, r.Weights, fmt.Sprint(r.NPrompt), fmt.Sprint(r.NGen),
				f(r.AvgTS), f(r.StddevTS), f(r.ReadGBs), f(r.CeilingGBs), f(r.Fraction), fmt.Sprint(r.UnderMeas)})
		}
		cw.Flush()
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "jsonl":
		for _, r := range rows {
			if err := writeJSONLine(w, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// meanStd returns the mean and the sample standard deviation of x.
func meanStd(x []float64) (float64, float64) {
	if len(x) == 0 {
		return 0, 0
	}
	var s float64
	for _, v := range x {
		s += v
	}
	mean := s / float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}

// humanCount renders a parameter count as llama-bench does (72.82 M, 3.88 B).
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// weightsPlace names where m's weights live, for the bench report.
func weightsPlace(m *runtime.Model) string {
	if m.Resident() {
		return "resident"
	}
	return "mmap"
}

type benchShape struct {
	name       string
	rows, cols int
}

// projectionShapes returns the decoder projection shapes of a released size.
func projectionShapes(size string) ([]benchShape, error) {
	type dims struct{ d, q, kv, inter int }
	s, ok := map[string]dims{"1b": {1152, 1024, 256, 6912}, "4b": {2560, 2048, 1024, 10240}, "27b": {5376, 4096, 2048, 21504}}[size]
	if !ok {
		return nil, usageError("--shapes %q: want 1b, 4b or 27b", size)
	}
	return []benchShape{
		{size + " attn_q", s.q, s.d}, {size + " attn_k/v", s.kv, s.d}, {size + " attn_o", s.d, s.q},
		{size + " ffn_gate/up", s.inter, s.d}, {size + " ffn_down", s.d, s.inter}, {size + " lm_head", 262144, s.d},
	}, nil
}

func benchKernels(c *cli.Context, w io.Writer, bw float64, ex kernel.Exec) error {
	threads := ex.NumThreads()
	var shapes []benchShape
	for _, s := range strings.Split(c.String("shapes"), ",") {
		sh, err := projectionShapes(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		shapes = append(shapes, sh...)
	}
	var types []format.DType
	for _, s := range strings.Split(c.String("types"), ",") {
		t, err := format.ParseDType(strings.TrimSpace(s))
		if err != nil {
			return usageError("--types: %v", err)
		}
		types = append(types, t)
	}
	peak := peakGFLOPS(format.F32, ex)
	// The int8 path (--act int8 with q4_0, q8_0 or i4 weights) multiplies integers: its ceiling
	// is measured on its own (Q8_0 weights, cache-resident), never the f32 one.
	int8Path := func(t format.DType) bool {
		return c.String("act") == "int8" && (t == format.Q4_0 || t == format.Q8_0 || t == format.I4)
	}
	var peak8 float64
	if slices.ContainsFunc(types, int8Path) {
		peak8 = peakGFLOPS(format.Q8_0, ex)
	}
	n := c.Int("mm-n")
	rng := rand.New(rand.NewPCG(3, 4))
	if !c.Bool("json") {
		fmt.Fprintf(w, "compute ceiling: %.0f GFLOP/s (f32 matrix product on cache-resident data, %d threads)\n", peak, threads)
		if peak8 > 0 {
			fmt.Fprintf(w, "int8 compute ceiling: %.0f GFLOP/s (the int8 path's matrix product with Q8_0 weights on cache-resident data; q4_0, q8_0 and i4 are compared with it)\n", peak8)
		}
		fmt.Fprintf(w, "%-18s %-5s %10s %7s %10s %7s\n", "shape", "type", "matvec GB/s", "of bw", "matmul GF/s", "of peak")
	}
	underMeasured := false
	frac := func(v, ceil float64) string {
		if v > ceil {
			underMeasured = true
			return "  >100%*"
		}
		return fmt.Sprintf("%7.0f%%", 100*v/ceil)
	}
	defer func() {
		if underMeasured && !c.Bool("json") {
			fmt.Fprintln(w, "* above the measured ceiling: the ceiling was under-measured (the machine was busier while it was measured); the fraction is not a result")
		}
	}()
	enc := json.NewEncoder(w)
	for _, sh := range shapes {
		src := make([]float32, sh.rows*sh.cols)
		for i := range src {
			src[i] = float32(rng.NormFloat64() * 0.02)
		}
		x := make([]float32, n*sh.cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for _, t := range types {
			shape := []int64{int64(sh.rows), int64(sh.cols)}
			payload, scale, err := quantize.Encode(t, shape, src, quantize.Options{})
			if err != nil {
				return err
			}
			// Matrix-vector products cycle through copies of the weights totalling at least
			// 512 MB, so every call reads from memory, not from the caches (a decode step
			// reads each matrix once).
			// The copies live in huge-page memory, as a resident model's weights do.
			copies := max(1, int((512<<20)/int64(len(payload))))
			ms := make([]*kernel.Matrix, copies)
			for i := range ms {
				if ms[i], err = kernel.NewMatrix(t, shape, payload, scale); err != nil {
					return err
				}
			}
			kernel.Resident(ms, nil)
			m := ms[0]
			y := make([]float32, n*sh.rows)
			next := 0
			mv := timeIt(func() {
				ex.MatVec(y[:sh.rows], ms[next], x[:sh.cols])
				next = (next + 1) % len(ms)
			})
			gbs := float64(m.WeightBytes()) / mv / 1e9
			mmN := n
			if sh.rows > 100000 {
				mmN = min(n, 16) // the lm_head matmul only runs on the last position
			}
			mm := timeIt(func() { ex.MatMul(y[:mmN*sh.rows], m, x[:mmN*sh.cols], mmN) })
			gf := 2 * float64(sh.rows) * float64(sh.cols) * float64(mmN) / mm / 1e9
			pk := peak
			if int8Path(t) {
				pk = peak8
			}
			if c.Bool("json") {
				enc.Encode(map[string]any{"shape": sh.name, "rows": sh.rows, "cols": sh.cols, "type": t.String(),
					"matvec_gbs": gbs, "matvec_bw_fraction": gbs / bw, "matmul_n": mmN, "matmul_gflops": gf, "matmul_peak_gflops": pk, "matmul_peak_fraction": gf / pk,
					"ceiling_under_measured": gbs > bw || gf > pk})
			} else {
				fmt.Fprintf(w, "%-18s %-5s %10.1f %s %10.1f %s\n", sh.name, t, gbs, frac(gbs, bw), gf, frac(gf, pk))
			}
		}
	}
	return nil
}

// timeIt returns the median seconds per call of f over ~0.5 s (at least 3 calls).
func timeIt(f func()) float64 {
	f() // warm up: page in, grow pools
	var ts []float64
	start := time.Now()
	for len(ts) < 3 || (time.Since(start) < 500*time.Millisecond && len(ts) < 1000) {
		t0 := time.Now()
		f()
		ts = append(ts, time.Since(t0).Seconds())
	}
	return median(ts)
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRuns(x []float64) string {
	parts := make([]string, len(x))
	for i, v := range x {
		parts[i] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Join(parts, ", ")
}

// cpuName reads the CPU model from /proc/cpuinfo (Linux), else GOARCH.
func cpuName() string {
	if v := cpuinfo("model name"); v != "" {
		return v
	}
	return goruntime.GOARCH
}

// peakGFLOPS measures the compute ceiling the GFLOP/s figures are compared with: the best
// throughput of the matrix product with weights of type t (F32, or Q8_0 for the int8 path) on a cache-resident problem (1024×1024 weights, 4 MB,
// and 480 activation rows: 1 GFLOP with no memory traffic to speak of), best of 10 runs. The CPU's nominal clock
// is not a usable basis on virtual machines (this one reports 2.1 GHz and turbos well above).
func peakGFLOPS(t format.DType, ex kernel.Exec) float64 {
	wall, _ := peakGFLOPSCPU(t, ex)
	return wall
}

// peakGFLOPSCPU is peakGFLOPS (the best of 10 products, by wall time) and the rate per
// second of CPU time over all 10 (0 where CPU time is not measured): on a machine shared
// with other jobs, the second is what the process's own threads achieved while they ran.
func peakGFLOPSCPU(t format.DType, ex kernel.Exec) (wall, cpu float64) {
	const rows, cols, n = 1024, 1024, 480
	rng := rand.New(rand.NewPCG(7, 8))
	w := make([]float32, rows*cols)
	x := make([]float32, n*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	payload, scale := format.Float32Bytes(w), float32(1)
	if t != format.F32 {
		var err error
		if payload, scale, err = quantize.Encode(t, []int64{rows, cols}, w, quantize.Options{}); err != nil {
			return 0, 0
		}
	}
	m, err := kernel.NewMatrix(t, []int64{rows, cols}, payload, scale)
	if err != nil {
		return 0, 0
	}
	y := make([]float32, n*rows)
	best := math.Inf(1)
	c0 := processCPUSeconds()
	for r := 0; r < 10; r++ {
		t0 := time.Now()
		ex.MatMul(y, m, x, n)
		best = min(best, time.Since(t0).Seconds())
	}
	if c := processCPUSeconds() - c0; c > 0 {
		cpu = 10 * 2 * rows * cols * n / c / 1e9
	}
	return 2 * rows * cols * n / best / 1e9, cpu
}

func cpuinfo(key string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// visionActName names the products of the vision tower under ex.
func visionActName(ex kernel.Exec) string {
	if ex.Mode == kernel.ModeBF16 {
		if kernel.HasBF16() {
			return "bf16"
		}
		return "bf16 requested, exact: no AVX-512 BF16"
	}
	if ex.Mode == kernel.ModeInt8 {
		return "int8 where the weights are quantized, else exact"
	}
	return "exact"
}

// benchVision times the vision tower and projector on one image of random pixels.
func benchVision(c *cli.Context, w io.Writer, f *format.File, ex kernel.Exec) error {
	threads := ex.NumThreads()
	tw, err := vision.Load(f)
	if err != nil {
		return err
	}
	v := tw.Cfg
	px := make([]float32, v.NumChannels*v.ImageSize*v.ImageSize)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range px {
		px[i] = float32(rng.Float64()*2 - 1)
	}
	var secs, cpus []float64
	for r := 0; r < max(1, c.Int("repetitions")); r++ {
		t0, c0 := time.Now(), processCPUSeconds()
		if _, err := tw.Encode(ex, px, 1, false); err != nil {
			return err
		}
		secs = append(secs, time.Since(t0).Seconds())
		cpus = append(cpus, processCPUSeconds()-c0)
	}
	// Multiply-adds ×2 of the matmuls: patch embedding, per layer q/k/v/o, fc1, fc2 and the
	// two attention products, then the projector.
	np, vh, vi := float64(tw.Patches()), float64(v.HiddenSize), float64(v.IntermediateSize)
	pl := float64(v.NumChannels * v.PatchSize * v.PatchSize)
	perLayer := np*(4*vh*vh+2*vh*vi) + 2*np*np*vh
	flops := 2 * (np*pl*vh + float64(v.NumLayers)*perLayer + float64(tw.MM.TokensPerImage)*vh*float64(tw.TextDim))
	med := median(secs)
	gf := flops / med / 1e9
	peak, peakCPU := peakGFLOPSCPU(format.F32, kernel.Exec{Threads: ex.Threads})
	// Per CPU-second (both threads' time): the rate of the process's own threads while they
	// ran, against the ceiling's, measured the same way. Unlike the wall-time ratio it does
	// not depend on how much of the machine other jobs took during each measurement.
	cpuMed := median(cpus)
	var gfCPU float64
	if cpuMed > 0 {
		gfCPU = flops / cpuMed / 1e9 * float64(threads)
	}
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"model": c.String("model"), "image_size": v.ImageSize, "layers": v.NumLayers,
			"vision_act": visionActName(ex), "seconds": med, "runs_seconds": secs, "gflop": flops / 1e9, "gflops": gf, "peak_gflops": peak, "peak_fraction": gf / peak, "threads": threads,
			"cpu_seconds": cpuMed, "gflops_per_cpu": gfCPU, "peak_gflops_per_cpu": peakCPU * float64(threads), "peak_fraction_per_cpu": gfCPU / (peakCPU * float64(threads))})
	}
	of := fmt.Sprintf("%.0f%% of", 100*gf/peak)
	if gf > peak {
		of = "above (the ceiling was under-measured: the machine was busier while it was measured)"
	}
	fmt.Fprintf(w, "vision tower (%d layers, %d×%d image, %d patches, %s) + projector: %.2f s per image (median of %d: %s), %.0f GFLOP → %.1f GFLOP/s, %s the %.0f GFLOP/s cache-resident f32 matmul ceiling\n",
		v.NumLayers, v.ImageSize, v.ImageSize, tw.Patches(), visionActName(ex), med, len(secs), fmtRuns(secs), flops/1e9, gf, of, peak)
	if gfCPU > 0 && peakCPU > 0 {
		fmt.Fprintf(w, "per CPU time (%.1f CPU s, %d threads): %.1f GFLOP/s against the ceiling's %.1f GFLOP/s measured the same way: %.0f%%\n",
			cpuMed, threads, gfCPU, peakCPU*float64(threads), 100*gfCPU/(peakCPU*float64(threads)))
	}
	return nil
}
