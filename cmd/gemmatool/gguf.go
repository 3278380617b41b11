package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/convert/llamacpp"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/quantize"
)

func init() {
	register(&cli.Command{
		Name:  "export",
		Usage: "write a gemmatool file in another format (gguf)",
		Subcommands: []*cli.Command{{
			Name:      "gguf",
			Usage:     "write the text model as a llama.cpp gemma3 GGUF (llama.cpp, ollama, LM Studio)",
			ArgsUsage: "IN.gmt",
			Description: `Writes a GGUF v3 file that llama.cpp's gemma3 loader reads: architecture keys
(sliding-window layers, both RoPE bases, the global layers' linear RoPE scaling), norm weights
as 1+w in F32, the tied embedding, and the real tokenizer (tokens, scores, types, special ids,
merges, chat template). F32, F16, BF16, Q8_0 and Q4_0 tensors keep their bytes (quantized
blocks are regrouped into GGUF's layout); I4, FP8 and SFP8 tensors need --requantize.

Example:
   gemmatool export gguf model-q4_0.gmt -o model-q4_0.gguf
   llama-cli -m model-q4_0.gguf -p "The quick brown fox"`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FILE` (required)"},
				&cli.StringFlag{Name: "requantize", Usage: "re-encode tensors GGUF cannot hold (i4, fp8, sfp8) as `TYPE`: q8_0, q4_0 or bf16"},
				&cli.StringFlag{Name: "mmproj", Usage: "also write the vision tower and projector as a llama.cpp mmproj `FILE` (projector type gemma3)"},
				&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			},
			Action: exportGGUF,
		}},
	})
	register(&cli.Command{
		Name:  "import",
		Usage: "read a file of another format (gguf) into a gemmatool file",
		Subcommands: []*cli.Command{{
			Name:      "gguf",
			Usage:     "read a llama.cpp gemma3 GGUF (F32, F16, BF16, Q8_0, Q4_0 tensors) into a gemmatool file",
			ArgsUsage: "MODEL.gguf",
			Description: `Resolves the configuration from the gemma3.* keys, rebuilds the tokenizer from
the tokenizer.ggml.* keys (exact merges when the file carries them, else derived from the scores
as for a SentencePiece model), copies every tensor and records the GGUF's SHA-256 as the source.
Every size, offset, count and string length in the file is checked before use.

Example:
   gemmatool import gguf gemma-3-1b-it-q4_0.gguf -o gemma-3-1b-it-q4_0.gmt
   gemmatool verify perplexity --model gemma-3-1b-it-q4_0.gguf --text wiki.txt`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FILE` (required)"},
				&cli.StringFlag{Name: "mmproj", Usage: "also read the vision tower and projector from a llama.cpp gemma3 mmproj `FILE`"},
				&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			},
			Action: importGGUF,
		}},
	})
}

func exportGGUF(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("export gguf: want one IN.gmt, got %d arguments (see gemmatool export gguf --help)", c.NArg())
	}
	out := c.String("output")
	if out == "" {
		return usageError("export gguf: missing -o FILE")
	}
	var o llamacpp.ExportOptions
	switch rq := strings.ToLower(c.String("requantize")); rq {
	case "":
	case "q8_0", "q4_0", "bf16":
		o.Requantize, _ = format.ParseDType(rq)
		o.EncodeBlock = encodeGGUFBlock
	default:
		return usageError("export gguf: --requantize %q, want q8_0, q4_0 or bf16", rq)
	}
	if err := checkOutput(c, out, c.Args().First()); err != nil {
		return err
	}
	mm := c.String("mmproj")
	if mm != "" {
		if err := checkOutput(c, mm, c.Args().First(), out); err != nil {
			return err
		}
	}
	f, err := openFormat(c.Args().First(), "export gguf")
	if err != nil {
		return err
	}
	defer f.Close()
	bar := newProgress(c.App.ErrWriter, "export", 0, "B", c.Bool("quiet") || c.Bool("json"))
	o.Progress = func(done, total int64) { bar.total = total; bar.Update(done) }
	o.Context, o.Inputs = c.Context, []string{c.Args().First()}
	if mm != "" && f.Meta.Model.Vision == nil {
		bar.Done()
		return fmt.Errorf("export gguf: --mmproj: %s has no vision tower (a text-only model)", f.Path)
	}
	rep, err := llamacpp.Export(f, out, o)
	if err == nil && mm != "" {
		o.Inputs = append(o.Inputs, out)
		err = llamacpp.ExportMMProj(f, mm, o)
	}
	bar.Done()
	if err != nil {
		return interrupted(c, err)
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(rep)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: %s\n", w)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d tensors %v, %s tokenizer", out, rep.Tensors, rep.Types, rep.Tokenizer)
	if len(rep.Requantized) > 0 {
		fmt.Fprintf(c.App.Writer, ", %d tensors requantized", len(rep.Requantized))
	}
	if mm != "" {
		fmt.Fprintf(c.App.Writer, "; vision tower and projector in %s", mm)
	}
	fmt.Fprintln(c.App.Writer)
	return nil
}

// encodeGGUFBlock encodes one 32-value block in GGUF's Q8_0 or Q4_0 layout.
func encodeGGUFBlock(t format.DType, dst []byte, x []float32) error {
	xs := (*[32]float32)(x)
	switch t {
	case format.Q8_0:
		return quantize.EncodeQ8_0Block((*[34]byte)(dst), xs)
	case format.Q4_0:
		return quantize.EncodeQ4_0Block((*[18]byte)(dst), xs)
	}
	return fmt.Errorf("no GGUF block encoder for %v", t)
}

func importGGUF(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("import gguf: want one MODEL.gguf, got %d arguments (see gemmatool import gguf --help)", c.NArg())
	}
	out := c.String("output")
	if out == "" {
		return usageError("import gguf: missing -o FILE")
	}
	inputs := []string{c.Args().First()}
	if mm := c.String("mmproj"); mm != "" {
		inputs = append(inputs, mm)
	}
	if err := checkOutput(c, out, inputs...); err != nil {
		return err
	}
	bar := newProgress(c.App.ErrWriter, "import", 0, "B", c.Bool("quiet") || c.Bool("json"))
	rep, err := llamacpp.Import(c.Args().First(), out, llamacpp.ImportOptions{ToolVersion: version, Context: c.Context, MMProj: c.String("mmproj"),
		Progress: func(done, total int64) { bar.total = total; bar.Update(done) }})
	bar.Done()
	if err != nil {
		return interrupted(c, err)
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(rep)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "gemmatool: warning: %s\n", w)
	}
	tok := "no tokenizer"
	if rep.Tokenizer {
		tok = "tokenizer rebuilt"
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d tensors %v, %s; source sha256 %s\n", out, rep.Tensors, rep.Types, tok, rep.SHA256)
	return nil
}

// openModelFile opens a gemmatool file; a GGUF is imported first into a temporary gemmatool
// file (see [llamacpp.ImportTemp]), which is unlinked once mapped, so every verb that takes
// --model (run, logits, verify perplexity and kld) reads llama.cpp files too.
func openModelFile(path string, stderr io.Writer) (*format.File, error) {
	if !llamacpp.IsGGUF(path) {
		return openFormat(path, "--model")
	}
	fmt.Fprintf(stderr, "gemmatool: importing %s (as gemmatool import gguf would)\n", path)
	tmp, cleanup, err := llamacpp.ImportTemp(path, llamacpp.ImportOptions{ToolVersion: version})
	if err != nil {
		return nil, err
	}
	defer cleanup()
	f, err := format.Open(tmp, nil)
	if err != nil {
		return nil, err
	}
	f.Path = path
	return f, nil
}
