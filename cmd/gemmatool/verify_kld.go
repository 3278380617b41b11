package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/convert/llamacpp"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

func kldCommand() *cli.Command {
	return &cli.Command{
		Name:  "kld",
		Usage: "KL divergence and the llama-perplexity statistics of a model against a reference, over a text",
		Description: `Runs the windows of 'verify perplexity' through a reference and a test model and compares
their next-token distributions at every scored position (full softmax, float64): KL(P_ref ‖ P_test)
in nats per token (mean ± standard error, min, 1/5/10 %, median, 90/95/99/99.9 %, max), Δp of the
reference's top token (mean and RMS, with quantiles), same-top-1 agreement ± its error, both
perplexities, their ratio and difference ± errors, and the correlation of the two models' per-token
log-probabilities. One line per window while it runs (running values, as llama-perplexity prints
per chunk); --json prints the verify JSON document with every figure and the per-window values.

--reference is a gemmatool file, a Hugging Face checkpoint directory or a llama.cpp GGUF (converted
or imported to a temporary file first), or a saved reference (.kldref). Without --reference the source recorded in the
model's provenance is used when it is still on disk with the same SHA-256 (the gemmatool file it
was quantized from, else its checkpoint directory); with --act int8 and no --reference the model's
own exact path is the reference, and so it is with --kv-type bf16 (the model's own f32 KV cache). --save-reference FILE stores the reference's distributions (the
most likely tokens' exact logits until the tail holds at most --tail-mass, at most --k-max per
position, zstd): later runs against FILE need only the model under test in memory, and report the
KL with a bound on its truncation error (kl_bound_mean). Without --model, --save-reference only
writes the file.

Examples:
   gemmatool verify kld --model m-q4_0.gmt --reference m.gmt --text wiki.txt --ctx 512 --chunks 20
   gemmatool verify kld --reference m.gmt --save-reference m.kldref --text wiki.txt --ctx 512 --chunks 20
   gemmatool verify kld --model m-q4_0.gmt --reference m.kldref --text wiki.txt --json
   gemmatool verify kld --model m-q4_0.gmt --act int8 --text wiki.txt
   gemmatool verify kld --model g4b.gmt --image-set ./images --vision q8_0

--image-set DIR reads DIR/manifest.json: {"items": [{"image": "cat.png", "prompt": "<start_of_image>What is
this?", "answer": "A cat."}, …]}; "ids" (expanded prompt ids) may replace "prompt" and "answer_ids"
the answer; without an answer the exact model's greedy answer of "answer_tokens" (default 8) tokens
is used. The model runs once with its vision tower as stored and once with it quantized to
--vision, and the KL of the answer tokens' distributions is reported per image and overall.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model file under test"},
			&cli.StringFlag{Name: "reference", Aliases: []string{"r"}, Usage: "reference: gemmatool file, checkpoint directory or .kldref (default: the model's recorded source)"},
			&cli.StringFlag{Name: "save-reference", Usage: "write the reference's distributions to this .kldref file"},
			&cli.Float64Flag{Name: "tail-mass", Value: 1e-6, Usage: "saved reference: probability left in each row's tail"},
			&cli.IntFlag{Name: "k-max", Value: 4096, Usage: "saved reference: most tokens kept per position"},
			&cli.StringFlag{Name: "act", Value: "exact", Usage: "activation precision of the model under test: exact or int8"},
			&cli.StringFlag{Name: "kv-type", Value: "f32", Usage: "KV cache element type of the model under test: f32 or bf16 (without --reference, bf16 is measured against the model's own f32 cache)"},
			&cli.StringFlag{Name: "text", Usage: "UTF-8 text file (required unless --image-set)"},
			&cli.IntFlag{Name: "ctx", Value: 512, Usage: "window size in tokens, BOS included (a saved reference fixes it)"},
			&cli.IntFlag{Name: "stride", Usage: "text tokens between window starts (default: ctx − 1)"},
			&cli.IntFlag{Name: "chunks", Usage: "stop after this many windows (default: all)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
			&cli.StringFlag{Name: "image-set", Usage: "directory with manifest.json of images, prompts and answers: KL of the answer tokens with the vision tower quantized to --vision against the exact tower (--text is then not used)"},
			&cli.StringFlag{Name: "vision", Usage: "with --image-set: the vision tower's type to measure (q8_0, fp8, q4_0, sfp8, i4)"},
			&cli.BoolFlag{Name: "json", Usage: "print the verify JSON document"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no per-window lines or progress bar"},
		},
		Action: kldAction,
	}
}

// kldSavedRows is the logits block of the model under test when the reference is saved.
const kldSavedRows = 32

// refKind tells how a --reference path is read.
type refKind int

const (
	refGMT refKind = iota
	refSaved
	refDir
	refGGUF
)

func referenceKind(path string) (refKind, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st.IsDir() {
		return refDir, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, len(verify.RefMagic))
	n, _ := io.ReadFull(f, head)
	if n == len(head) && string(head) == verify.RefMagic {
		return refSaved, nil
	}
	if llamacpp.IsGGUF(path) {
		return refGGUF, nil
	}
	return refGMT, nil
}

// defaultReference finds the source recorded in a model file's provenance: the gemmatool
// file it was quantized from (same source files by SHA-256), else its checkpoint directory
// (every recorded file present with the same SHA-256).
func defaultReference(f *format.File) (string, error) {
	src := f.Meta.Source
	if src.From != "" {
		if g, err := openFormat(src.From, "reference"); err == nil { // a recorded path may name anything
			same := slices.Equal(g.Meta.Source.Files, src.Files)
			g.Close()
			if same {
				return src.From, nil
			}
		}
	}
	if src.Dir != "" && len(src.Files) > 0 {
		ok := true
		for _, sf := range src.Files {
			if h, err := fileSHA256(filepath.Join(src.Dir, sf.Name)); err != nil || h != sf.SHA256 {
				ok = false
				break
			}
		}
		if ok {
			return src.Dir, nil
		}
	}
	where := src.Dir
	if src.From != "" {
		where = src.From
	}
	if where == "" {
		where = "an unrecorded location"
	}
	return "", usageError("verify kld: %s was made from %s, which is not on disk with the recorded SHA-256: pass --reference (the BF16 file or checkpoint directory, or a .kldref)", f.Path, where)
}

func kldAction(c *cli.Context) error {
	if c.IsSet("image-set") {
		return imageSetAction(c)
	}
	if !c.IsSet("text") {
		return usageError("verify kld: give --text (or --image-set DIR)")
	}
	exact := kernel.Exec{Threads: c.Int("threads")}
	mode := kernel.ModeExact
	switch c.String("act") {
	case "exact":
	case "int8":
		mode = kernel.ModeInt8
	default:
		return usageError("verify kld: --act %q, want exact or int8", c.String("act"))
	}
	kv, err := kvType(c)
	if err != nil {
		return err
	}
	model, refPath, save := c.String("model"), c.String("reference"), c.String("save-reference")
	if model == "" && (save == "" || refPath == "") {
		return usageError("verify kld: give --model (and a reference), or --reference with --save-reference to save one")
	}
	ctx, stride, chunks := c.Int("ctx"), c.Int("stride"), c.Int("chunks")
	if ctx < 2 || stride < 0 || stride > ctx-1 || chunks < 0 {
		return usageError("verify kld: want --ctx ≥ 2, 0 ≤ --stride ≤ ctx − 1, --chunks ≥ 0")
	}
	if save != "" {
		if err := checkOutput(c, save, model, refPath, c.String("text")); err != nil {
			return err
		}
	}
	text, err := readInput(c.String("text"), c.App.Reader, maxTextInput, "--text")
	if err != nil {
		return err
	}
	doc := &verify.Doc{Schema: verify.Schema, Verb: "kld", Command: commandLine(c), Model: model, Text: c.String("text")}

	var lm *loadedModel
	if model != "" {
		if lm, err = openModel(model, true, true, false, c.App.ErrWriter); err != nil {
			return err
		}
		defer lm.Close()
		doc.Provenance, doc.Quantization = &lm.f.Meta.Source, lm.f.Meta.Quantization
		if refPath == "" && mode == kernel.ModeExact && kv == runtime.KVF32 {
			if refPath, err = defaultReference(lm.f); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: reference: %s (the model's recorded source)\n", refPath)
		}
	}
	doc.Reference = refPath
	kind := refGMT
	if refPath != "" {
		if kind, err = referenceKind(refPath); err != nil {
			return err
		}
	}
	if kind == refSaved && save != "" {
		return usageError("verify kld: --reference is already a saved reference")
	}

	// The reference: a saved one, or a model (possibly converted from a checkpoint first).
	var ref verify.Reference
	var refModel *loadedModel
	var saved *verify.RefReader
	switch {
	case kind == refSaved:
		if saved, err = verify.OpenRef(refPath); err != nil {
			return err
		}
		defer saved.Close()
		ref = saved
		o := saved.Options()
		ctx, stride, chunks = o.Ctx, o.Stride, o.Chunks
	case refPath != "":
		gmt := refPath
		if kind == refGGUF {
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: importing %s for the reference\n", refPath)
			tmp, cleanup, err := llamacpp.ImportTemp(refPath, llamacpp.ImportOptions{})
			if err != nil {
				return err
			}
			defer cleanup()
			gmt = tmp
		}
		if kind == refDir {
			tmp, err := os.MkdirTemp("", "gemmatool-ref-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			gmt = filepath.Join(tmp, "reference.gmt")
			fmt.Fprintf(c.App.ErrWriter, "gemmatool: converting %s for the reference\n", refPath)
			if _, err := convert.Run(refPath, gmt, convert.Options{ToolVersion: version}, nil); err != nil {
				return err
			}
		}
		if refModel, err = openModel(gmt, true, lm == nil, false, c.App.ErrWriter); err != nil {
			return err
		}
		defer refModel.Close()
		ref = &verify.FullReference{M: verify.NewModelScorer(refModel.m, ctx, exact)}
	default: // --act int8 or --kv-type bf16 against the model's own exact path
		ref = &verify.FullReference{M: verify.NewModelScorer(lm.m, ctx, exact)}
	}

	tokSrc := lm
	if tokSrc == nil {
		tokSrc = refModel
	}
	tok, err := tokSrc.needTokenizer()
	if err != nil {
		return err
	}
	if mp := tokSrc.m.Config.MaxPositions; mp > 0 && ctx > mp {
		return usageError("verify kld: --ctx %d exceeds the model's %d positions", ctx, mp)
	}
	if lm != nil && refModel != nil && refModel.m.VocabRows() != lm.m.VocabRows() {
		return fmt.Errorf("verify kld: %s has %d logits, %s has %d", refPath, refModel.m.VocabRows(), model, lm.m.VocabRows())
	}
	ids := tok.Encode(string(text), false)
	o := verify.PerplexityOptions{Ctx: ctx, Stride: stride, Chunks: chunks, BOS: tok.BOS()}
	doc.Ctx, doc.Stride, doc.Chunks = ctx, stride, chunks
	if saved != nil {
		h := saved.Header
		if h.TextSHA256 != verify.TokensSHA256(ids) || h.BOS != o.BOS {
			return fmt.Errorf("verify kld: %s was saved from another text or tokenizer (%d tokens, SHA-256 %.12s…; this text: %d tokens, %.12s…)",
				refPath, h.TextTokens, h.TextSHA256, len(ids), verify.TokensSHA256(ids))
		}
		if h.Vocab != lm.m.VocabRows() {
			return fmt.Errorf("verify kld: %s holds %d logits per position, %s has %d", refPath, h.Vocab, model, lm.m.VocabRows())
		}
	}
	quiet := c.Bool("quiet") || c.Bool("json")
	w := c.App.Writer

	if save != "" {
		ws, err := verify.Windows(len(ids), ctx, stride, chunks)
		if err != nil {
			return err
		}
		ro := verify.RefOptions{TailMass: c.Float64("tail-mass"), KMax: c.Int("k-max"), Exec: exact}
		if !(ro.TailMass > 0 && ro.TailMass < 1) || ro.KMax < 1 || ro.KMax > refModel.m.VocabRows() {
			return usageError("verify kld: want 0 < --tail-mass < 1 and 1 ≤ --k-max ≤ %d", refModel.m.VocabRows())
		}
		rw, err := verify.CreateRef(c.Context, save, verify.RefHeader{Vocab: refModel.m.VocabRows(), Ctx: ctx, Stride: stride, Chunks: chunks,
			BOS: o.BOS, TextTokens: len(ids), TextSHA256: verify.TokensSHA256(ids), Windows: len(ws),
			TailMass: ro.TailMass, KMax: ro.KMax, Reference: refPath}, model, refPath, c.String("text"))
		if err != nil {
			return err
		}
		so, done := progressOptions(c, o, "save reference", quiet && !c.Bool("json"))
		pr, err := verify.SaveReference(verify.NewModelScorer(refModel.m, ctx, exact), ids, so, ro, rw)
		done()
		if err != nil {
			rw.Abort()
			return interrupted(c, err)
		}
		if err := rw.Commit(); err != nil {
			return interrupted(c, err)
		}
		st, _ := os.Stat(save)
		full := int64(pr.Tokens) * int64(refModel.m.VocabRows()) * 4
		if !c.Bool("json") || lm == nil {
			fmt.Fprintf(c.App.ErrWriter, "saved %s: %d positions, %.1f MB (%.2f %% of their full float32 logits); reference perplexity %.4f\n",
				save, pr.Tokens, float64(st.Size())/1e6, 100*float64(st.Size())/float64(full), pr.PPL)
		}
		if lm == nil {
			if c.Bool("json") {
				doc.Verb = "perplexity"
				doc.Perplexity = pr
				return writeJSON(w, doc)
			}
			return nil
		}
		// Compare against the file just written: one pass of the reference model is enough.
		if saved, err = verify.OpenRef(save); err != nil {
			return err
		}
		defer saved.Close()
		ref = saved
	}

	test := verify.NewModelScorerKV(lm.m, ctx, kernel.Exec{Mode: mode, Threads: exact.Threads}, kv)
	if saved != nil {
		// Against a saved reference only the model under test is in memory: keep its logits
		// blocks small too (32 rows: 32 MiB for a 262,144-token vocabulary).
		test.SetBlockRows(kldSavedRows)
	}
	ko := verify.KLDOptions{PerplexityOptions: o, Exec: exact}
	lines := !quiet
	if lines {
		fmt.Fprintf(w, "%6s %10s %22s %22s %8s %9s\n", "window", "PPL(test)", "ln(PPL(test)/PPL(ref))", "KL divergence", "RMS Δp", "same top")
		ko.Window = func(r verify.WindowReport) {
			fmt.Fprintf(w, "%6d %10.4f %22s %22s %7.3f%% %8.3f%%\n", r.Index+1, r.RunPPLTest,
				fmt.Sprintf("%.6f", r.RunLnRatio), fmt.Sprintf("%.6f ± %.6f", r.RunKLDMean, r.RunKLDStderr), 100*r.RunDeltaPRMS, 100*r.RunSameTop)
		}
	}
	var done func()
	ko.PerplexityOptions, done = progressOptions(c, o, "kld", !c.Bool("json") || c.Bool("quiet")) // the window lines are the progress of the text form
	res, err := verify.Compare(ref, test, ids, ko)
	done()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		doc.KLD = res
		return writeJSON(w, doc)
	}
	printKLD(w, res)
	return nil
}

// progressOptions returns o with a progress bar labelled label (none when off).
func progressOptions(c *cli.Context, o verify.PerplexityOptions, label string, off bool) (verify.PerplexityOptions, func()) {
	var bar *progress
	o.Progress = func(done, total int) {
		if bar == nil {
			bar = newProgress(c.App.ErrWriter, label, int64(total), "", off)
		}
		bar.Update(int64(done))
	}
	return o, func() { bar.Done() }
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", " ")
	return e.Encode(v)
}

// printKLD prints the statistics in llama-perplexity's order.
func printKLD(w io.Writer, r *verify.KLDResult) {
	var b bytes.Buffer
	f := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-32s %s\n", name+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "\n====== perplexity statistics (%d tokens) ======\n", r.Tokens)
	f("PPL(test)", "%.6f ± %.6f", r.PPLTest, r.PPLTestStderr)
	f("PPL(ref)", "%.6f ± %.6f", r.PPLRef, r.PPLRefStderr)
	f("Cor(ln PPL(test), ln PPL(ref))", "%.2f%%", 100*r.NLLCorrelation)
	f("Mean ln(PPL(test)/PPL(ref))", "%.6f ± %.6f", r.LnRatioMean, r.LnRatioStderr)
	f("Mean PPL(test)/PPL(ref)", "%.6f ± %.6f", r.PPLRatio, r.PPLRatioStderr)
	f("Mean PPL(test)-PPL(ref)", "%.6f ± %.6f", r.PPLDiff, r.PPLDiffStderr)
	b.WriteString("\n====== KL divergence statistics (nats/token) ======\n")
	f("Mean    KLD", "%.6f ± %.6f", r.KLDMean, r.KLDStderr)
	if r.KLBoundMean > 0 {
		f("KLD truncation bound", "+%.6f (saved reference: true mean in [mean, mean + bound])", r.KLBoundMean)
	}
	q := r.KLD
	for _, x := range []struct {
		n string
		v float64
	}{{"Maximum KLD", q.Max}, {"99.9%   KLD", q.P999}, {"99.0%   KLD", q.P99}, {"95.0%   KLD", q.P95}, {"90.0%   KLD", q.P90},
		{"Median  KLD", q.P50}, {"10.0%   KLD", q.P10}, {" 5.0%   KLD", q.P05}, {" 1.0%   KLD", q.P01}, {"Minimum KLD", q.Min}} {
		f(x.n, "%.6f", x.v)
	}
	b.WriteString("\n====== token probability statistics ======\n")
	f("Mean    Δp", "%.3f ± %.3f %%", 100*r.DeltaPMean, 100*r.DeltaPStderr)
	d := r.DeltaP
	for _, x := range []struct {
		n string
		v float64
	}{{"Maximum Δp", d.Max}, {"99.9%   Δp", d.P999}, {"99.0%   Δp", d.P99}, {"95.0%   Δp", d.P95}, {"90.0%   Δp", d.P90},
		{"Median  Δp", d.P50}, {"10.0%   Δp", d.P10}, {" 5.0%   Δp", d.P05}, {" 1.0%   Δp", d.P01}, {"Minimum Δp", d.Min}} {
		f(x.n, "%.3f%%", 100*x.v)
	}
	f("RMS Δp", "%.3f ± %.3f %%", 100*r.DeltaPRMS, 100*r.DeltaPRMSStderr)
	f("Same top p", "%.3f ± %.3f %%", 100*r.SameTop, 100*r.SameTopStderr)
	w.Write(b.Bytes())
}

// commandLine reconstructs the command that ran (for the JSON document and the report): the
// command path, the flags that were set, then the arguments.
func commandLine(c *cli.Context) string {
	var path []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" && x.Command.Name != c.App.Name {
			path = append([]string{x.Command.Name}, path...)
		}
	}
	args := append([]string{"gemmatool"}, path...)
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		switch x := c.Value(name).(type) {
		case bool:
			if x {
				args = append(args, "--"+name)
			}
		case cli.StringSlice:
			for _, s := range x.Value() {
				args = append(args, "--"+name, s)
			}
		case *cli.StringSlice:
			for _, s := range x.Value() {
				args = append(args, "--"+name, s)
			}
		default:
			args = append(args, "--"+name, fmt.Sprint(x))
		}
	}
	return shellJoin(append(args, c.Args().Slice()...))
}

// fileSHA256 returns the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
