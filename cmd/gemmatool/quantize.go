package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
)

func init() {
	register(&cli.Command{
		Name:      "quantize",
		Usage:     "quantize a Hugging Face checkpoint directory or a gemmatool file (one streaming pass)",
		ArgsUsage: "SRC -o FILE",
		Description: `SRC is a Hugging Face Gemma 3 checkpoint directory (read, planned and quantized in one pass)
or a gemmatool file in F32/BF16/F16 (requantizing an already quantized file needs
--allow-requantize). Types:
   q4_0  llama.cpp Q4_0: blocks of 32, f16 scale (what Google's *-qat-q4_0-unquantized were trained for)
   q8_0  llama.cpp Q8_0: blocks of 32, f16 scale
   i4    per-channel symmetric int4, f32 scale per row (by default searched over clipping ratios)
   fp8   OCP FP8 E4M3 with an f32 scale per row
   sfp8  gemma.cpp switched floating point (8 bits) with a per-tensor scale
   bf16, f16, f32, keep   plain types
   auto  the scheme a QAT checkpoint was trained for (detected from its name and model card), else q8_0
Policy: the text decoder's linear weights get --type; the tied embedding gets q8_0 under
q4_0/i4 (--embed to change); the vision tower keeps its precision unless --vision; norms,
biases, position/patch embeddings and the projector keep their precision; --override
'GLOB=TYPE' (repeatable, first match wins) sets anything. Every quantized tensor's error
(relative L2, SNR in dB, max abs) is stored in the file and the ten worst are printed.

Examples:
   gemmatool quantize ./gemma-3-4b-it-qat-q4_0-unquantized -o gemma3-4b-q4_0.gmt --type auto
   gemmatool quantize model.gmt -o model-q8_0.gmt --type q8_0 --embed bf16
   gemmatool quantize ./ckpt -o m.gmt --type q4_0 --override 'text.blk.0.*=q8_0' --json
   gemmatool quantize m.gmt -o m-q4_0.gmt --type q4_0 --embed bf16 --imatrix m.imatrix`,
		Flags: append(policyFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "output file"},
			&cli.StringFlag{Name: "i4-scale", Value: "search", Usage: "per-channel int4 scale rule: search (min squared error over clipping ratios 1.00…0.50) or absmax"},
			&cli.StringFlag{Name: "imatrix", Usage: "importance matrix (gemmatool's or llama.cpp's GGUF imatrix, see 'gemmatool imatrix'): q4_0 and i4 minimise the importance-weighted error"},
			&cli.StringFlag{Name: "gptq-scale", Value: "search", Usage: "with an imatrix from 'imatrix --full': how GPTQ picks each q4_0 block's scale from its updated weights: search (importance-weighted) or max (max/−8)"},
			&cli.Float64Flag{Name: "gptq-damp", Value: 0.01, Usage: "with an imatrix from 'imatrix --full': GPTQ's damping, a fraction of the mean diagonal of E[x xᵀ]"},
			&cli.BoolFlag{Name: "no-gptq", Usage: "ignore the full second moments of an imatrix from 'imatrix --full' (diagonal weighting only)"},
			&cli.BoolFlag{Name: "smooth", Usage: "fold searched per-channel power-of-two scales (AWQ-style equivalent transforms: norms → q/k/v and gate/up, up rows ↔ down columns, v rows ↔ o columns) into the weights before quantizing; needs --imatrix"},
			&cli.Float64Flag{Name: "target-bpw", Usage: "choose a type per decoder linear weight (q3_k … q8_0, i4, iq4_nl) for this average bits per weight, from each tensor's measured sensitivity; needs --imatrix"},
			&cli.StringFlag{Name: "calib-text", Usage: "with --target-bpw: text whose windows measure how much each tensor's error reaches the output (SRC must be a gemmatool file); without it the local weighted error alone decides"},
			&cli.IntFlag{Name: "calib-chunks", Value: 4, Usage: "windows of --calib-text to run (--target-bpw)"},
			&cli.IntFlag{Name: "calib-ctx", Value: 256, Usage: "window size of --calib-text (--target-bpw)"},
			&cli.BoolFlag{Name: "allow-requantize", Usage: "accept a source file that is already quantized (its decoded values are quantized again)"},
			&cli.IntFlag{Name: "threads", Usage: "encoding goroutines (default: all cores)"},
			&cli.BoolFlag{Name: "json", Usage: "print the full report as JSON"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		),
		Action: quantizeAction,
	})
}

// ckSource reads a checkpoint's tensors through its conversion plan.
type ckSource struct{ ck *convert.Checkpoint }

func (s ckSource) Specs() []quantize.TensorSpec {
	var out []quantize.TensorSpec
	for _, e := range s.ck.Plan.Entries {
		out = append(out, quantize.TensorSpec{Name: e.Name, DType: e.SrcDType, Shape: e.Shape})
	}
	return out
}

func (s ckSource) ReadRows(name string, row0 int, dst []float32) error {
	e, ok := s.ck.Plan.Entry(name)
	if !ok {
		return fmt.Errorf("quantize: no tensor %q in %s", name, s.ck.Dir)
	}
	return s.ck.ReadRows(e, int64(row0), int64(len(dst))/max(e.Cols(), 1), dst)
}

func (s ckSource) Raw(string) ([]byte, float32, error) { return nil, 1, nil }
func (s ckSource) Done(string)                         {}

func quantizeAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("quantize: want one SRC (checkpoint directory or gemmatool file), got %d arguments", c.NArg())
	}
	if err := checkPolicyFlags(c); err != nil {
		return err
	}
	src, out := c.Args().First(), c.String("output")
	var job quantize.Job
	var hints quantize.QATHints
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := checkOutput(c, out, src); err != nil {
		return err
	}
	if st.IsDir() {
		ck, err := convert.OpenCheckpoint(src)
		if err != nil {
			return err
		}
		defer ck.Close()
		if err := ck.CheckTied(); err != nil {
			return err
		}
		// Hashing the source files (for the metadata) overlaps the quantization; it ends
		// before the checkpoint is closed.
		var meta *format.Metadata
		var metaErr error
		hashed := make(chan struct{})
		go func() {
			defer close(hashed)
			meta, metaErr = ck.Metadata(version)
		}()
		defer func() { <-hashed }()
		files, err := ck.Files()
		if err != nil {
			return err
		}
		for _, w := range ck.Warnings {
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: %s\n", w)
		}
		abs, _ := filepath.Abs(src)
		hints = quantize.QATHints{DirName: filepath.Base(abs), NameOrPath: ck.Config.NameOrPath, ModelCard: readCard(src)}
		job = quantize.Job{Src: ckSource{ck}, Files: files, Tokenizer: ck.TokenizerTables(), Inputs: ck.InputPaths(), FinishMeta: func(m *format.Metadata) error {
			<-hashed
			if metaErr != nil {
				return metaErr
			}
			*m = *meta
			return nil
		}}
	} else {
		f, err := openFormat(src, "quantize")
		if err != nil {
			return err
		}
		defer f.Close()
		if !c.Bool("allow-requantize") {
			for _, t := range f.Tensors() {
				if t.DType.Quantized() {
					return fmt.Errorf("quantize: %s is already quantized (tensor %q is %v); quantizing decoded values again compounds the error: start from the checkpoint, or pass --allow-requantize", src, t.Name, t.DType)
				}
			}
		}
		files := map[string][]byte{}
		for _, n := range f.FileNames() {
			b, _, err := f.EmbeddedFile(n)
			if err != nil {
				return err
			}
			files[n] = b
		}
		meta := f.Meta
		meta.Source.From, _ = filepath.Abs(src)
		meta.Quantization = nil
		meta.Tool = format.Tool{Name: "gemmatool", Version: version}
		hints = quantize.QATHints{NameOrPath: f.Meta.Source.Name, DirName: strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))}
		tables, err := fileTokenizerTables(f)
		if err != nil {
			return err
		}
		job = quantize.Job{Src: quantize.FileSource{F: f}, Meta: meta, Files: files, Tokenizer: tables, Inputs: []string{src}}
	}
	qat := quantize.DetectQAT(hints)
	preset, err := presetFromFlags(c, qat)
	if err != nil {
		return err
	}
	if !strings.EqualFold(c.String("type"), "auto") {
		if w := qat.Warning(preset); w != "" {
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: %s\n", w)
		}
	}
	pol, err := policyFromFlags(c, preset)
	if err != nil {
		return err
	}
	switch c.String("i4-scale") {
	case "search":
		job.Opts.I4Scale = quantize.I4Search
	case "absmax":
		job.Opts.I4Scale = quantize.I4AbsMax
	default:
		return usageError("--i4-scale %q: want search or absmax", c.String("i4-scale"))
	}
	if p := c.String("imatrix"); p != "" {
		im, err := quantize.ReadImatrix(p)
		if err != nil {
			return err
		}
		hit := 0
		for _, s := range job.Src.Specs() {
			if im.Weights(s.Name) != nil {
				hit++
			}
		}
		if hit == 0 {
			return fmt.Errorf("quantize: %s has no entry for any tensor of %s", p, src)
		}
		job.Imatrix, job.ImatrixFile = im, filepath.Base(p)
		switch c.String("gptq-scale") {
		case "search":
			job.GPTQScale = quantize.GPTQScaleSearch
		case "max":
			job.GPTQScale = quantize.GPTQScaleMax
		default:
			return usageError("--gptq-scale %q: want search or max", c.String("gptq-scale"))
		}
		if d := c.Float64("gptq-damp"); !(d > 0 && d <= 1) {
			return usageError("--gptq-damp %v: want 0 < damp ≤ 1", d)
		}
		job.GPTQDamp, job.NoGPTQ = c.Float64("gptq-damp"), c.Bool("no-gptq")
		if qat.Target != "" {
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: %s is a %s QAT checkpoint: importance-weighted rounding re-chooses the scales it was trained for (on the bundled QAT model, q4_0 perplexity 643.34 without --imatrix, 647.43 with it); omit --imatrix to keep them\n", src, qat.Target)
			if len(im.Moments) > 0 && !c.Bool("no-gptq") {
				fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: GPTQ (the imatrix has second moments) moves the weights off that grid too: it reproduces the BF16 model, not the quantized one QAT trained for\n")
			}
		}
	}
	job.Policy, job.QAT, job.Workers = pol, qat, c.Int("threads")
	gainSrc, gainIm := job.Src, job.Imatrix
	if c.Bool("smooth") {
		if job.Imatrix == nil {
			return usageError("quantize: --smooth needs --imatrix FILE (the calibration statistics it searches with)")
		}
		folded := false
		if fs, ok := job.Src.(quantize.FileSource); ok {
			folded = fs.F.Meta.Transforms.NormPlusOneFolded
		}
		if err := job.ApplySmooth(folded); err != nil {
			return err
		}
	}
	if c.IsSet("target-bpw") {
		if err := planBudget(c, &job, gainSrc, gainIm); err != nil {
			return err
		}
	}
	job.Preset = c.String("type")
	if job.Preset == "auto" {
		job.Preset = "auto (" + presetLabel(preset) + ")"
	}
	var total int64
	for _, s := range job.Src.Specs() {
		n, _ := format.NumElements(s.Shape)
		total += n
	}
	bar := newProgress(c.App.ErrWriter, "quantize", total, "", c.Bool("quiet") || c.Bool("json"))
	job.Progress = func(done, _ int64) { bar.Update(done) }
	t0 := time.Now()
	q, err := quantize.RunContext(c.Context, out, job)
	bar.Done()
	if err != nil {
		return interrupted(c, err)
	}
	el := time.Since(t0)
	size := int64(0)
	if fi, err := os.Stat(out); err == nil {
		size = fi.Size()
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(struct {
			Output  string  `json:"output"`
			Bytes   int64   `json:"bytes"`
			Seconds float64 `json:"seconds"`
			*format.Quantization
		}{out, size, el.Seconds(), q})
	}
	printQuantReport(c.App.Writer, out, size, el, q, pol)
	return nil
}

// readCard returns the start of a checkpoint's README.md (model card), if any.
func readCard(dir string) string {
	p := filepath.Join(dir, "README.md")
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return "" // a FIFO would block
	}
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

func printQuantReport(w io.Writer, out string, size int64, el time.Duration, q *format.Quantization, pol quantize.Policy) {
	fmt.Fprintf(w, "wrote %s: %s in %.1f s, preset %s", out, humanBytes(size), el.Seconds(), q.Preset)
	if q.QAT != "" {
		fmt.Fprintf(w, " (QAT target %s: %s)", q.QAT, q.QATEvidence)
	}
	fmt.Fprintln(w)
	counts := map[string]int{}
	for _, t := range q.Tensors {
		counts[t.DType]++
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%d × %s", v, k))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "quantized tensors: %s (embedding: %s)\n", strings.Join(parts, ", "), embedLabel(pol))
	worst := append([]format.TensorError(nil), q.Tensors...)
	sort.Slice(worst, func(i, j int) bool { return worst[i].RelL2 > worst[j].RelL2 })
	if len(worst) > 10 {
		worst = worst[:10]
	}
	if b := q.Budget; b != nil {
		counts := map[string]int{}
		for _, t := range b.Tensors {
			counts[t.DType]++
		}
		var parts []string
		for k, v := range counts {
			parts = append(parts, fmt.Sprintf("%d × %s", v, k))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "size budget: %.3f bits per weight (target %.3f), gains %s: %s\n", b.BPW, b.TargetBPW, b.GainFrom, strings.Join(parts, ", "))
		for _, t := range b.Tensors {
			fmt.Fprintf(w, "  %-28s %-6s %6.3f bpw  gain %.3g\n", t.Name, t.DType, t.BPW, t.Gain)
		}
	}
	if sm := q.Smooth; sm != nil {
		scaled, groups := 0, 0
		for _, g := range sm.Groups {
			if g.Scaled > 0 {
				groups++
				scaled += g.Scaled
			}
		}
		fmt.Fprintf(w, "smoothing: %d of %d layer places transformed, %d channels scaled (α and exponents in the metadata)\n", groups, len(sm.Groups), scaled)
	}
	if im := q.Imatrix; im != nil {
		fmt.Fprintf(w, "importance-weighted encoding of %d tensors (imatrix %s: %d windows of %d)\n", im.Weighted, im.File, im.Chunks, im.ChunkSize)
		if im.GPTQ > 0 {
			fmt.Fprintf(w, "GPTQ error feedback (full second moments) for %d q4_0/i4 tensors\n", im.GPTQ)
		}
	}
	if len(worst) > 0 {
		fmt.Fprintf(w, "worst tensors (all of them are in the file's metadata and in --json):\n")
		fmt.Fprintf(w, "  %-28s %-5s %10s %8s %10s", "tensor", "type", "rel L2", "SNR dB", "max abs")
		if q.Imatrix != nil {
			fmt.Fprintf(w, " %10s", "w rel L2")
		}
		fmt.Fprintln(w)
		for _, t := range worst {
			fmt.Fprintf(w, "  %-28s %-5s %10.3e %8.2f %10.3e", t.Name, t.DType, t.RelL2, t.SNRdB, t.MaxAbs)
			if q.Imatrix != nil {
				fmt.Fprintf(w, " %10.3e", t.WRelL2)
			}
			fmt.Fprintln(w)
		}
	}
}
