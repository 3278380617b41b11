package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/urfave/cli/v2"
	"github.com/x448/float16"
)

func init() {
	register(&cli.Command{
		Name:      "compare",
		Usage:     "compare two safetensors files of logits or hidden states, tensor by tensor",
		ArgsUsage: "TEST.safetensors REFERENCE.safetensors",
		Description: `For every tensor name in both files (F32, BF16 or F16; shapes must agree), in float64:
   max_abs_err    max |test − ref|
   norm_err       max |test − ref| / max |ref|   (the golden fixtures' criterion)
   rel_l2         ‖test − ref‖₂ / ‖ref‖₂
   top1           for tensors named *logits*: the fraction of rows (positions) whose largest
                  value is at the same index, over the last dimension
Tensors present in only one file are listed. --max-norm-err makes it a check: exit status 1
when any compared tensor exceeds it (or a named tensor is missing). This replaces the Python
comparison of the golden checks, e.g. with 'gemmatool logits' on a case's input ids.

Example:
   gemmatool logits --model a.gmt --ids-file ids.json -o out.safetensors
   gemmatool compare out.safetensors testdata/a_text_1b_like/expected.safetensors --max-norm-err 3e-5
   gemmatool compare q4.safetensors ref.safetensors --tensors logits --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tensors", Usage: "compare only these tensors (comma-separated; default: every common name)"},
			&cli.Float64Flag{Name: "max-norm-err", Usage: "fail (exit status 1) when a tensor's norm_err exceeds this (default: report only)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: compareAction,
	})
}

// maxCompareInput caps each input of compare (4 GiB: the logits of 4096 positions over
// Gemma 3's 262,144 ids in F32).
const maxCompareInput = 4 << 30

// tensorDiff is the comparison of one tensor.
type tensorDiff struct {
	Name      string   `json:"name"`
	Shape     []uint64 `json:"shape"`
	MaxAbsErr float64  `json:"max_abs_err"`
	MaxAbsRef float64  `json:"max_abs_ref"`
	NormErr   float64  `json:"norm_err"`
	RelL2     float64  `json:"rel_l2"`
	// Top1 is the fraction of rows whose argmax agrees (tensors named *logits*), else absent.
	Top1     *float64 `json:"top1,omitempty"`
	Rows     int      `json:"rows,omitempty"`
	Mismatch string   `json:"mismatch,omitempty"` // shape or dtype problem; no figures
}

type compareResult struct {
	Test      string       `json:"test"`
	Reference string       `json:"reference"`
	Tensors   []tensorDiff `json:"tensors"`
	OnlyTest  []string     `json:"only_in_test,omitempty"`
	OnlyRef   []string     `json:"only_in_reference,omitempty"`
	Failed    []string     `json:"failed,omitempty"`
}

func compareAction(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("want TEST.safetensors and REFERENCE.safetensors, got %d arguments", c.NArg())
	}
	if c.IsSet("max-norm-err") && !(c.Float64("max-norm-err") >= 0) {
		return usageError("--max-norm-err %v: want a value ≥ 0", c.Float64("max-norm-err"))
	}
	paths := c.Args().Slice()
	var files [2]safetensors.SafeTensors
	for i, p := range paths {
		b, err := readInput(p, c.App.Reader, maxCompareInput, "compare")
		if err != nil {
			return err
		}
		if files[i], err = safetensors.Deserialize(b); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	res := compareResult{Test: paths[0], Reference: paths[1]}
	names := files[0].Names()
	slices.Sort(names)
	var want []string
	if c.IsSet("tensors") {
		for _, n := range strings.Split(c.String("tensors"), ",") {
			want = append(want, strings.TrimSpace(n))
		}
	}
	for _, n := range names {
		if want != nil && !slices.Contains(want, n) {
			continue
		}
		tv, ok := files[1].Tensor(n)
		if !ok {
			res.OnlyTest = append(res.OnlyTest, n)
			continue
		}
		a, _ := files[0].Tensor(n)
		res.Tensors = append(res.Tensors, diffTensor(n, a, tv))
	}
	for _, n := range files[1].Names() {
		if _, ok := files[0].Tensor(n); !ok && (want == nil || slices.Contains(want, n)) {
			res.OnlyRef = append(res.OnlyRef, n)
		}
	}
	slices.Sort(res.OnlyRef)
	for _, n := range want {
		if !slices.ContainsFunc(res.Tensors, func(d tensorDiff) bool { return d.Name == n }) {
			res.Failed = append(res.Failed, n+" (missing)")
		}
	}
	limit := c.Float64("max-norm-err")
	for _, d := range res.Tensors {
		if d.Mismatch != "" || (c.IsSet("max-norm-err") && !(d.NormErr <= limit)) {
			res.Failed = append(res.Failed, d.Name)
		}
	}
	w := c.App.Writer
	if c.Bool("json") {
		if err := writeJSONLine(w, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "%-24s %-16s %12s %12s %12s %12s %s\n", "tensor", "shape", "max_abs_err", "max_abs_ref", "norm_err", "rel_l2", "top1")
		for _, d := range res.Tensors {
			if d.Mismatch != "" {
				fmt.Fprintf(w, "%-24s %s\n", d.Name, d.Mismatch)
				continue
			}
			top1 := ""
			if d.Top1 != nil {
				top1 = fmt.Sprintf("%.2f%% of %d rows", 100**d.Top1, d.Rows)
			}
			fmt.Fprintf(w, "%-24s %-16s %12.4g %12.4g %12.4g %12.4g %s\n", d.Name, fmt.Sprint(d.Shape), d.MaxAbsErr, d.MaxAbsRef, d.NormErr, d.RelL2, top1)
		}
		if len(res.OnlyTest) > 0 {
			fmt.Fprintf(w, "only in %s: %s\n", paths[0], strings.Join(res.OnlyTest, ", "))
		}
		if len(res.OnlyRef) > 0 {
			fmt.Fprintf(w, "only in %s: %s\n", paths[1], strings.Join(res.OnlyRef, ", "))
		}
	}
	if len(res.Failed) > 0 {
		if c.IsSet("max-norm-err") {
			return fmt.Errorf("compare: %s above --max-norm-err %g or not comparable", strings.Join(res.Failed, ", "), limit)
		}
		return fmt.Errorf("compare: %s not comparable", strings.Join(res.Failed, ", "))
	}
	return nil
}

// diffTensor compares test tensor a with reference b.
func diffTensor(name string, a, b safetensors.TensorView) tensorDiff {
	d := tensorDiff{Name: name, Shape: b.Shape()}
	if !slices.Equal(a.Shape(), b.Shape()) {
		d.Mismatch = fmt.Sprintf("shape %v in the test file, %v in the reference", a.Shape(), b.Shape())
		return d
	}
	x, err := floats(a)
	if err == nil {
		var y []float64
		if y, err = floats(b); err == nil {
			fillDiff(&d, x, y, strings.Contains(name, "logits"))
			return d
		}
	}
	d.Mismatch = err.Error()
	return d
}

// fillDiff computes the figures of d from test values x and reference values y (same length);
// with rows, the top-1 agreement over rows of the last dimension.
func fillDiff(d *tensorDiff, x, y []float64, rows bool) {
	var se, sr float64
	for i := range x {
		e := math.Abs(x[i] - y[i])
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		d.MaxAbsErr = max(d.MaxAbsErr, e)
		d.MaxAbsRef = max(d.MaxAbsRef, math.Abs(y[i]))
		se += e * e
		sr += y[i] * y[i]
	}
	d.NormErr = ratio(d.MaxAbsErr, d.MaxAbsRef)
	d.RelL2 = ratio(math.Sqrt(se), math.Sqrt(sr))
	if !rows || len(d.Shape) == 0 || d.Shape[len(d.Shape)-1] == 0 {
		return
	}
	v := int(d.Shape[len(d.Shape)-1])
	n := len(x) / v
	agree := 0
	for r := range n {
		if argmax64(x[r*v:(r+1)*v]) == argmax64(y[r*v:(r+1)*v]) {
			agree++
		}
	}
	f := float64(agree) / float64(max(n, 1))
	d.Top1, d.Rows = &f, n
}

// ratio is a/b, 0 when both are 0 and +Inf when only b is.
func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return a / b
}

func argmax64(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// floats widens a tensor's F32, BF16 or F16 values to float64.
func floats(t safetensors.TensorView) ([]float64, error) {
	data := t.Data()
	switch t.DType() {
	case safetensors.F32:
		out := make([]float64, len(data)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
		}
		return out, nil
	case safetensors.BF16:
		out := make([]float64, len(data)/2)
		for i := range out {
			out[i] = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16))
		}
		return out, nil
	case safetensors.F16:
		out := make([]float64, len(data)/2)
		for i := range out {
			out[i] = float64(float16.Frombits(binary.LittleEndian.Uint16(data[2*i:])).Float32())
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %v (want F32, BF16 or F16)", t.DType())
}
