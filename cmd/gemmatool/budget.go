package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/quantize"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/verify"
)

// planBudget runs quantize --target-bpw: it measures the tensors' gains on --calib-text (when
// given) with the unquantized model read from the source file, chooses the types, and puts
// them into the job's policy as per-tensor overrides.
func planBudget(c *cli.Context, job *quantize.Job, gainSrc quantize.Source, gainIm *quantize.Imatrix) error {
	target := c.Float64("target-bpw")
	if !(target > 1 && target <= 32) {
		return usageError("quantize: --target-bpw %v: want a number of bits per weight in (1, 32]", target)
	}
	if job.Imatrix == nil {
		return usageError("quantize: --target-bpw needs --imatrix FILE")
	}
	var m *runtime.Model
	var windows [][]int32
	if p := c.String("calib-text"); p != "" {
		fs, ok := gainSrc.(quantize.FileSource)
		if !ok {
			return usageError("quantize: --calib-text needs SRC to be a gemmatool file (convert the checkpoint first)")
		}
		var err error
		if m, err = runtime.Load(fs.F, nil); err != nil {
			return err
		}
		tok, err := embeddedTokenizer(fs.F)
		if err != nil {
			return err
		}
		if tok == nil {
			return fmt.Errorf("quantize: --calib-text: %s has no tokenizer", fs.F.Path)
		}
		text, err := readInput(p, c.App.Reader, maxTextInput, "--calib-text")
		if err != nil {
			return err
		}
		ids := tok.Encode(string(text), false)
		ws, err := verify.Windows(len(ids), c.Int("calib-ctx"), 0, c.Int("calib-chunks"))
		if err != nil {
			return fmt.Errorf("quantize: --calib-text %s: %w", p, err)
		}
		for _, w := range ws {
			windows = append(windows, append([]int32{tok.BOS()}, ids[w.Start:w.End]...))
		}
	}
	var bar *progress
	plan, err := quantize.PlanBudget(job.Src, job.Imatrix, gainSrc, gainIm, target, nil, m, windows, func(done, total int) {
		if bar == nil {
			bar = newProgress(c.App.ErrWriter, "sensitivity", int64(total), "", c.Bool("quiet") || c.Bool("json"))
		}
		bar.Update(int64(done))
	})
	bar.Done()
	if err != nil {
		return err
	}
	job.Policy.Overrides = append(plan.Overrides, job.Policy.Overrides...)
	job.BudgetInfo = plan.Info()
	return nil
}
