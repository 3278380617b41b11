package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/convert/llamacpp"
	"github.com/gemmatool/gemmatool/format"
)

func init() {
	register(&cli.Command{
		Name:      "inspect",
		Usage:     "show a gemmatool file's (or a GGUF's) metadata, configuration, tensors and sizes",
		ArgsUsage: "FILE",
		Description: `Prints the source and tool provenance, the resolved model configuration, the tensor
table (name, type, shape, bytes), totals per component (text embedding, text decoder, vision
tower, projector) and the quantization policy when the file has one. Opening validates the
whole structure; --verify-checksums also recomputes every payload's CRC-32C and fails on the
first mismatch.

Example:
   gemmatool inspect gemma-3-1b-it.gmt
   gemmatool inspect --verify-checksums --json gemma-3-1b-it.gmt | jq .totals`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.BoolFlag{Name: "summary", Aliases: []string{"s"}, Usage: "leave out the per-tensor table (totals per component only)"},
			&cli.BoolFlag{Name: "verify-checksums", Usage: "recompute every tensor's CRC-32C"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: runInspect,
	})
}

// inspectReport is what inspect prints (and its --json form).
type inspectReport struct {
	File      string                   `json:"file"`
	Bytes     int64                    `json:"bytes"`
	Version   string                   `json:"version"`
	Meta      format.Metadata          `json:"metadata"`
	Embedded  []string                 `json:"embedded"`
	Tensors   []inspectTensor          `json:"tensors"`
	Totals    []convert.ComponentTotal `json:"totals"`
	Total     convert.ComponentTotal   `json:"total"`
	Checksums string                   `json:"checksums"` // "verified" or "not checked"
}

type inspectTensor struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Bytes int64   `json:"bytes"`
	Scale float32 `json:"scale,omitempty"`
}

func runInspect(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) != 1 {
		return usageError("inspect: want one file, got %d arguments (see gemmatool inspect --help)", len(args))
	}
	if llamacpp.IsGGUF(args[0]) {
		return inspectGGUF(c, args[0])
	}
	if isCheckpointDir(args[0]) {
		return fmt.Errorf("%s is a directory: inspect reads a gemmatool file; for a Hugging Face checkpoint directory, 'gemmatool estimate %s' sizes it and 'gemmatool convert %s -o FILE' converts it", args[0], args[0], args[0])
	}
	f, err := openFormat(args[0], "inspect")
	if err != nil {
		return err
	}
	defer f.Close()
	rep := inspectReport{File: args[0], Bytes: f.Size(), Version: fmt.Sprintf("%d.%d", f.Major, f.Minor), Meta: f.Meta,
		Embedded: f.FileNames(), Checksums: "not checked"}
	if c.Bool("verify-checksums") {
		bar := newProgress(c.App.ErrWriter, "verify", 0, "B", c.Bool("quiet") || c.Bool("json"))
		err := f.VerifyChecksums(func(done, total int64) { bar.total = total; bar.Update(done) })
		bar.Done()
		if err != nil {
			return err
		}
		rep.Checksums = "verified"
	}
	totals := map[string]*convert.ComponentTotal{}
	rep.Total.Component = "total"
	for _, t := range f.Tensors() {
		it := inspectTensor{Name: t.Name, DType: t.DType.String(), Shape: t.Shape, Bytes: t.Length}
		if t.Scale != 1 {
			it.Scale = t.Scale
		}
		rep.Tensors = append(rep.Tensors, it)
		n, _ := format.NumElements(t.Shape)
		comp := convert.Component(t.Name)
		ct := totals[comp]
		if ct == nil {
			ct = &convert.ComponentTotal{Component: comp}
			totals[comp] = ct
		}
		for _, x := range []*convert.ComponentTotal{ct, &rep.Total} {
			x.Tensors++
			x.Params += n
			x.Bytes += t.Length
		}
	}
	for _, name := range convert.Components {
		if ct := totals[name]; ct != nil {
			rep.Totals = append(rep.Totals, *ct)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if c.Bool("summary") {
		rep.Tensors = nil
	}
	printInspect(c.App.Writer, &rep)
	return nil
}

func printInspect(w io.Writer, r *inspectReport) {
	m := r.Meta
	fmt.Fprintf(w, "file        %s (%s, format %s)\n", r.File, humanBytes(r.Bytes), r.Version)
	fmt.Fprintf(w, "source      %s\n", m.Source.Name)
	for _, sf := range m.Source.Files {
		h := sf.SHA256
		if len(h) > 16 {
			h = h[:16] + "…"
		}
		fmt.Fprintf(w, "              %-34s %10s  sha256 %s\n", sf.Name, humanBytes(sf.Bytes), h)
	}
	if m.Source.From != "" {
		fmt.Fprintf(w, "from        %s\n", m.Source.From)
	}
	fmt.Fprintf(w, "tool        %s %s\n", m.Tool.Name, m.Tool.Version)
	mc := m.Model
	t := mc.Text
	global := 0
	for i := range t.LayerTypes {
		if t.IsGlobal(i) {
			global++
		}
	}
	fmt.Fprintf(w, "model       %s (%s)\n", mc.Arch, mc.HFClass)
	fmt.Fprintf(w, "text        %d layers (%d sliding, window %d; %d global), hidden %d, ffn %d, heads %d q / %d kv × %d, vocab %d\n",
		t.NumLayers, t.NumLayers-global, t.SlidingWindow, global, t.HiddenSize, t.IntermediateSize, t.NumHeads, t.NumKVHeads, t.HeadDim, t.VocabSize)
	fmt.Fprintf(w, "            rope %g global (×1/%g), %g local; query_pre_attn_scalar %g; rms_norm_eps %g; context %d; stop ids %v\n",
		t.RopeTheta, t.RopeScaling, t.RopeLocalTheta, t.QueryPreAttnScalar, t.RMSNormEps, t.MaxPositions, t.EOS)
	if t.FinalLogitSoftcap > 0 {
		fmt.Fprintf(w, "            final logit soft-cap %g\n", t.FinalLogitSoftcap)
	}
	if v := mc.Vision; v != nil {
		fmt.Fprintf(w, "vision      SigLIP %d layers, hidden %d, ffn %d, %d heads, patch %d, image %d\n",
			v.NumLayers, v.HiddenSize, v.IntermediateSize, v.NumHeads, v.PatchSize, v.ImageSize)
	}
	if mm := mc.MM; mm != nil {
		fmt.Fprintf(w, "multimodal  %d tokens per image; boi %d, eoi %d, image token %d\n", mm.TokensPerImage, mm.BOIToken, mm.EOIToken, mm.ImageToken)
	}
	tr := m.Transforms
	fmt.Fprintf(w, "transforms  norms folded (1+w): %v", tr.NormPlusOneFolded)
	if len(tr.Transposed) > 0 {
		fmt.Fprintf(w, "; transposed: %s", strings.Join(tr.Transposed, ", "))
	}
	fmt.Fprintln(w)
	if q := m.Quantization; q != nil {
		fmt.Fprintf(w, "quantization preset %s", q.Preset)
		if q.QAT != "" {
			fmt.Fprintf(w, ", QAT target %s (%s)", q.QAT, q.QATEvidence)
		}
		if q.I4Scale != "" {
			fmt.Fprintf(w, ", i4 scales %s", q.I4Scale)
		}
		fmt.Fprintln(w)
		for _, r := range q.Rules {
			fmt.Fprintf(w, "              %-32s → %-6s %s\n", r.Pattern, r.DType, r.Why)
		}
	}
	if len(r.Embedded) > 0 {
		fmt.Fprintf(w, "embedded    %s\n", strings.Join(r.Embedded, ", "))
	}
	fmt.Fprintf(w, "checksums   %s\n\n", r.Checksums)

	nw, sw := len("tensor"), len("shape")
	for _, x := range r.Tensors {
		nw, sw = max(nw, len(x.Name)), max(sw, len(fmt.Sprint(x.Shape)))
	}
	qerr := map[string]format.TensorError{}
	if q := m.Quantization; q != nil {
		for _, e := range q.Tensors {
			qerr[e.Name] = e
		}
	}
	if len(r.Tensors) > 0 {
		fmt.Fprintf(w, "%-*s  %-5s  %-*s  %14s", nw, "tensor", "type", sw, "shape", "bytes")
		if len(qerr) > 0 {
			fmt.Fprintf(w, "  %-6s %10s %8s", "from", "rel L2", "SNR dB")
		}
		fmt.Fprintln(w)
		for _, x := range r.Tensors {
			fmt.Fprintf(w, "%-*s  %-5s  %-*s  %14d", nw, x.Name, x.DType, sw, fmt.Sprint(x.Shape), x.Bytes)
			if e, ok := qerr[x.Name]; ok {
				fmt.Fprintf(w, "  %-6s %10.3e %8.2f", e.From, e.RelL2, e.SNRdB)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "component\ttensors\tparams\tbytes\t\t")
	for _, ct := range append(append([]convert.ComponentTotal(nil), r.Totals...), r.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t\n", ct.Component, ct.Tensors, groupDigits(ct.Params), ct.Bytes, humanBytes(ct.Bytes))
	}
	tw.Flush()
}
