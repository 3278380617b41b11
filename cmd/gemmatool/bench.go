package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
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
		Description: `Without --model: measures this machine's memory read bandwidth, then (with --kernels) the
matrix-vector kernels in GB/s of weight bytes and the matrix-matrix kernels in GFLOP/s for each
stored type on the Gemma 3 projection shapes.

With --model: prefill of --pp tokens and decode of --tg tokens from an empty context (as
llama-bench's pp/tg tests), after one untimed warm-up round, --reps times; prints medians, and decode as a fraction of the
roofline (measured bandwidth ÷ weight bytes read per token).

Examples:
   gemmatool bench
   gemmatool bench --kernels --shapes 1b --types q4_0,q8_0,bf16
   gemmatool bench --model s1b-q4_0.gmt --pp 512 --tg 128 --threads 2 --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model file to benchmark"},
			&cli.IntFlag{Name: "pp", Value: 512, Usage: "prompt tokens for the prefill test (0 skips it)"},
			&cli.IntFlag{Name: "tg", Value: 128, Usage: "tokens for the decode test (0 skips it)"},
			&cli.IntFlag{Name: "reps", Value: 3, Usage: "repetitions; the median is reported"},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (default: all cores)"},
			&cli.StringFlag{Name: "act", Value: "int8", Usage: "activation precision of the matmuls: int8 (integer dot products with q4_0, q8_0 and i4 weights, as llama.cpp does; other types stay exact; error measured in the README) or exact (f32 activations, what logits and verify use)"},
			mmapFlag,
			&cli.BoolFlag{Name: "kernels", Usage: "benchmark every kernel on the real projection shapes"},
			&cli.BoolFlag{Name: "vision", Usage: "with --model: time the vision tower and projector on one image instead of pp/tg"},
			&cli.StringFlag{Name: "shapes", Value: "1b", Usage: "model sizes whose shapes --kernels uses: 1b, 4b, 27b (comma-separated)"},
			&cli.StringFlag{Name: "types", Value: "f32,bf16,f16,q8_0,q4_0,i4,fp8,sfp8", Usage: "types for --kernels"},
			&cli.IntFlag{Name: "mm-n", Value: 128, Usage: "activation rows for the matrix-matrix kernel test"},
			&cli.Float64Flag{Name: "bw-gb", Value: 1, Usage: "buffer size in GB for the bandwidth test"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (one object for --model; JSON lines for --kernels)"},
		},
		Action: benchAction,
	})
}

func benchAction(c *cli.Context) error {
	ex, err := execFromFlags(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	threads := ex.NumThreads()
	bw := kernel.MeasureBandwidth(int(c.Float64("bw-gb")*1e9), threads)
	if !c.Bool("json") {
		fmt.Fprintf(w, "machine: %s, %d threads; memory read bandwidth %.1f GB/s\n", cpuName(), threads, bw)
	}
	if c.String("model") != "" {
		return benchModel(c, w, bw, ex)
	}
	if c.Bool("kernels") {
		return benchKernels(c, w, bw, ex)
	}
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"bandwidth_gbs": bw, "threads": threads, "cpu": cpuName()})
	}
	return nil
}

// benchModel runs llama-bench style pp and tg tests on a model file.
func benchModel(c *cli.Context, w io.Writer, bw float64, ex kernel.Exec) error {
	threads := ex.NumThreads()
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
		return benchVision(c, w, f, ex)
	}
	log := newWarnLogger(c.App.ErrWriter)
	m, err := runtime.Load(f, &runtime.LoadOptions{Resident: !c.Bool("mmap"), Logger: log})
	if err != nil {
		return err
	}
	pp, tg, reps := c.Int("pp"), c.Int("tg"), max(1, c.Int("reps"))
	sess := m.NewSession(&runtime.SessionOptions{MaxContext: max(pp, tg) + 1, Exec: ex})
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := min(m.SamplingLimit(), m.VocabRows())
	ids := make([]int32, max(pp, tg))
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	var ppTimes, tgTimes []float64
	logits := make([]float32, m.VocabRows()) // reused by every decode step, as Generate does
	// One untimed warm-up round first (as llama-bench does): it faults the file mapping in and
	// settles the worker pool, which would otherwise count against the first repetition.
	for r := -1; r < reps; r++ {
		if pp > 0 {
			sess.Reset()
			t0 := time.Now()
			if _, err := sess.Forward(&runtime.Batch{Tokens: ids[:pp], Logits: runtime.LogitsLast}); err != nil {
				return err
			}
			if r >= 0 {
				ppTimes = append(ppTimes, float64(pp)/time.Since(t0).Seconds())
			}
		}
		if tg > 0 {
			sess.Reset()
			t0 := time.Now()
			for i := 0; i < tg; i++ {
				if _, err := sess.Forward(&runtime.Batch{Tokens: ids[i : i+1], Logits: runtime.LogitsLast, LogitsInto: logits}); err != nil {
					return err
				}
			}
			if r >= 0 {
				tgTimes = append(tgTimes, float64(tg)/time.Since(t0).Seconds())
			}
		}
	}
	// Measure the bandwidth again after the runs and count the better of the two: the
	// machine's bandwidth drifts (other tenants of the host), and the roofline should not
	// flatter the decode figure with a low moment.
	bws := []float64{bw, kernel.MeasureBandwidth(int(c.Float64("bw-gb")*1e9), threads)}
	bw = max(bws[0], bws[1])
	wb := m.WeightBytes()
	res := struct {
		Model         string    `json:"model"`
		CPU           string    `json:"cpu"`
		Threads       int       `json:"threads"`
		Act           string    `json:"act"`
		Weights       string    `json:"weights"`
		PP            int       `json:"pp"`
		TG            int       `json:"tg"`
		PrefillTokS   float64   `json:"prefill_tok_s"`
		DecodeTokS    float64   `json:"decode_tok_s"`
		PrefillRuns   []float64 `json:"prefill_runs_tok_s"`
		DecodeRuns    []float64 `json:"decode_runs_tok_s"`
		BandwidthGBs  float64   `json:"bandwidth_gbs"`
		BandwidthRuns []float64 `json:"bandwidth_runs_gbs"`
		WeightBytes   int64     `json:"weight_bytes_per_token"`
		RooflineTokS  float64   `json:"roofline_tok_s"`
		RooflineFrac  float64   `json:"roofline_fraction"`
		DecodeReadGBs float64   `json:"decode_read_gbs"`
	}{Model: c.String("model"), CPU: cpuName(), Threads: threads, Act: c.String("act"), Weights: weightsPlace(m), PP: pp, TG: tg,
		PrefillTokS: median(ppTimes), DecodeTokS: median(tgTimes), PrefillRuns: ppTimes, DecodeRuns: tgTimes,
		BandwidthGBs: bw, BandwidthRuns: bws, WeightBytes: wb}
	res.RooflineTokS = bw * 1e9 / float64(wb)
	res.RooflineFrac = res.DecodeTokS / res.RooflineTokS
	res.DecodeReadGBs = res.DecodeTokS * float64(wb) / 1e9
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "model %s: %.3f GB of weights read per decoded token (%s)\n", res.Model, float64(wb)/1e9, res.Weights)
	if pp > 0 {
		fmt.Fprintf(w, "prefill pp%d: %8.2f tok/s (median of %d: %s)\n", pp, res.PrefillTokS, reps, fmtRuns(ppTimes))
	}
	if tg > 0 {
		fmt.Fprintf(w, "decode  tg%d: %8.2f tok/s (median of %d: %s) = %.1f GB/s, %.0f%% of the %.2f tok/s roofline (bandwidth %.1f GB/s, best of before and after: %s)\n",
			tg, res.DecodeTokS, reps, fmtRuns(tgTimes), res.DecodeReadGBs, 100*res.RooflineFrac, res.RooflineTokS, bw, fmtRuns(bws))
	}
	return nil
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
	peak := peakGFLOPS(ex)
	n := c.Int("mm-n")
	rng := rand.New(rand.NewPCG(3, 4))
	if !c.Bool("json") {
		fmt.Fprintf(w, "compute ceiling: %.0f GFLOP/s (f32 matrix product on cache-resident data, %d threads)\n", peak, threads)
		fmt.Fprintf(w, "%-18s %-5s %10s %7s %10s %7s\n", "shape", "type", "matvec GB/s", "of bw", "matmul GF/s", "of peak")
	}
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
			var payload []byte
			var scale float32 = 1
			var err error
			if t.Quantized() {
				payload, scale, err = quantize.Encode(t, shape, src, quantize.Options{})
			} else {
				payload, err = encodePlain(t, src)
			}
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
			if c.Bool("json") {
				enc.Encode(map[string]any{"shape": sh.name, "rows": sh.rows, "cols": sh.cols, "type": t.String(),
					"matvec_gbs": gbs, "matvec_bw_fraction": gbs / bw, "matmul_n": mmN, "matmul_gflops": gf, "matmul_peak_fraction": gf / peak})
			} else {
				fmt.Fprintf(w, "%-18s %-5s %10.1f %6.0f%% %10.1f %6.0f%%\n", sh.name, t, gbs, 100*gbs/bw, gf, 100*gf/peak)
			}
		}
	}
	return nil
}

func encodePlain(t format.DType, src []float32) ([]byte, error) {
	switch t {
	case format.F32:
		return append([]byte(nil), format.Float32Bytes(src)...), nil
	case format.BF16, format.F16:
		out := make([]byte, 2*len(src))
		for i, v := range src {
			h := format.Float32ToBF16(v)
			if t == format.F16 {
				h = format.Float32ToF16(v)
			}
			out[2*i], out[2*i+1] = byte(h), byte(h>>8)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bench: %v is not a plain type", t)
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
// throughput of the f32 matrix product on a cache-resident problem (1024×1024 weights, 4 MB,
// and 480 activation rows: 1 GFLOP with no memory traffic to speak of), best of 10 runs. The CPU's nominal clock
// is not a usable basis on virtual machines (this one reports 2.1 GHz and turbos well above).
func peakGFLOPS(ex kernel.Exec) float64 {
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
	m, err := kernel.NewMatrix(format.F32, []int64{rows, cols}, format.Float32Bytes(w), 1)
	if err != nil {
		return 0
	}
	y := make([]float32, n*rows)
	best := math.Inf(1)
	for r := 0; r < 10; r++ {
		t0 := time.Now()
		ex.MatMul(y, m, x, n)
		best = min(best, time.Since(t0).Seconds())
	}
	return 2 * rows * cols * n / best / 1e9
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
	var secs []float64
	for r := 0; r < max(1, c.Int("reps")); r++ {
		t0 := time.Now()
		if _, err := tw.Encode(ex, px, 1, false); err != nil {
			return err
		}
		secs = append(secs, time.Since(t0).Seconds())
	}
	// Multiply-adds ×2 of the matmuls: patch embedding, per layer q/k/v/o, fc1, fc2 and the
	// two attention products, then the projector.
	np, vh, vi := float64(tw.Patches()), float64(v.HiddenSize), float64(v.IntermediateSize)
	pl := float64(v.NumChannels * v.PatchSize * v.PatchSize)
	perLayer := np*(4*vh*vh+2*vh*vi) + 2*np*np*vh
	flops := 2 * (np*pl*vh + float64(v.NumLayers)*perLayer + float64(tw.MM.TokensPerImage)*vh*float64(tw.TextDim))
	med := median(secs)
	gf := flops / med / 1e9
	peak := peakGFLOPS(ex)
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"model": c.String("model"), "image_size": v.ImageSize, "layers": v.NumLayers,
			"seconds": med, "runs_seconds": secs, "gflop": flops / 1e9, "gflops": gf, "peak_gflops": peak, "peak_fraction": gf / peak, "threads": threads})
	}
	fmt.Fprintf(w, "vision tower (%d layers, %d×%d image, %d patches) + projector: %.2f s per image (median of %d: %s), %.0f GFLOP → %.1f GFLOP/s, %.0f%% of the %.0f GFLOP/s cache-resident f32 matmul ceiling\n",
		v.NumLayers, v.ImageSize, v.ImageSize, tw.Patches(), med, len(secs), fmtRuns(secs), flops/1e9, gf, 100*gf/peak, peak)
	return nil
}
