package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/vision"
)

func init() {
	register(&cli.Command{
		Name:  "logits",
		Usage: "run one prefill and write logits and hidden states as F32 safetensors",
		Description: `Writes logits [seq, vocab] (every embedding row, after the final soft-cap when the config sets
one), hidden_states [n_layers+1, seq, hidden] (the input embeddings, then the residual stream
after each decoder layer, before the final norm) and final_hidden [seq, hidden] (after the
final norm), with the semantics of the golden fixtures, so that the numerics can be compared
with the Hugging Face implementation (e.g. with tools/compare.py). --prompt is tokenized with
BOS and without the chat template.

With images (--image, repeatable, or --pixel-values) it also writes vision_last_hidden_state
[n_img, patches, vision hidden], mm_pooled [n_img, tokens, vision hidden] and image_features
[n_img, tokens, hidden]. A --prompt must then hold one <start_of_image> per image (it expands
as the processor does); --ids must already be expanded: each run of image soft tokens receives
the next image's features, and a count mismatch is an error.

Example:
   gemmatool logits --model m.gmt --ids 2,75,456 -o out.safetensors
   gemmatool logits --model g4b.gmt --image cat.png --prompt "<start_of_image>A photo of" -o out.safetensors`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file"},
			&cli.StringFlag{Name: "ids", Usage: "comma-separated token ids"},
			&cli.StringFlag{Name: "ids-file", Usage: "JSON array of token ids in a file"},
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Usage: "text (tokenized with BOS)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "output .safetensors file"},
			&cli.BoolFlag{Name: "no-hidden", Usage: "write only logits and final_hidden"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
			visionActFlag(),
		}, imageFlags(true)...),
		Action: logitsAction,
	})
}

func logitsAction(c *cli.Context) error {
	ex := kernel.Exec{Threads: c.Int("threads")} // exact: logits are the model's own
	vex, err := visionExec(c, ex)                // unless --vision-act asks otherwise for the image features
	if err != nil {
		return err
	}
	ids, err := idsFromFlags(c)
	if err != nil {
		return err
	}
	if (ids != nil) == c.IsSet("prompt") {
		return usageError("logits: give exactly one of --ids, --ids-file or --prompt")
	}
	inputs := append([]string{c.String("model"), c.String("ids-file"), c.String("pixel-values")}, c.StringSlice("image")...)
	if err := checkOutput(c, c.String("output"), inputs...); err != nil {
		return err
	}
	lm, err := openModel(c.String("model"), true, ids == nil, false, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer lm.Close()
	images, err := loadImages(c, lm)
	if err != nil {
		return err
	}
	if ids == nil {
		tok, err := lm.needTokenizer()
		if err != nil {
			return err
		}
		if images != nil {
			if err := rawWithImages(c.String("prompt"), len(images)); err != nil {
				return err
			}
			if ids, err = runtime.ExpandImages(tok, c.String("prompt"), images, lm.f.Meta.Model.MM.TokensPerImage, true); err != nil {
				return err
			}
		} else {
			ids = tok.Encode(c.String("prompt"), true)
		}
	}
	if len(ids) == 0 {
		return usageError("logits: no token ids")
	}
	if images == nil {
		if err := checkNoImageTokens("logits", lm, ids); err != nil {
			return err
		}
	}
	m := lm.m
	b := &runtime.Batch{Tokens: ids}
	var vo *vision.Output
	if images != nil {
		if b, vo, _, err = imageBatch(vex, lm, ids, images, true); err != nil {
			return err
		}
	}
	b.Logits, b.Hidden, b.FinalHidden = runtime.LogitsAll, !c.Bool("no-hidden"), true
	s := m.NewSession(&runtime.SessionOptions{Exec: ex})
	res, err := s.Forward(b)
	if err != nil {
		return err
	}
	n, d := int64(len(ids)), int64(m.Hidden())
	ts := []stTensor{{"logits", []int64{n, int64(m.VocabRows())}, res.Logits}}
	if res.HiddenStates != nil {
		ts = append(ts, stTensor{"hidden_states", []int64{int64(m.NumLayers() + 1), n, d}, res.HiddenStates})
	}
	ts = append(ts, stTensor{"final_hidden", []int64{n, d}, res.FinalHidden})
	if vo != nil {
		mc := lm.f.Meta.Model
		ni := int64(len(vo.Features) / (mc.MM.TokensPerImage * m.Hidden()))
		vh, tokens := int64(mc.Vision.HiddenSize), int64(mc.MM.TokensPerImage)
		patches := int64(len(vo.LastHidden)) / (ni * vh)
		ts = append(ts, stTensor{"vision_last_hidden_state", []int64{ni, patches, vh}, vo.LastHidden},
			stTensor{"mm_pooled", []int64{ni, tokens, vh}, vo.Pooled},
			stTensor{"image_features", []int64{ni, tokens, d}, vo.Features})
	}
	err = writeSafetensorsFile(c.Context, c.String("output"), inputs, ts, map[string]string{"format": "pt", "producer": "gemmatool logits"})
	return interrupted(c, err)
}

// stTensor is one F32 tensor to write.
type stTensor struct {
	name  string
	shape []int64
	data  []float32
}

// writeSafetensorsFile writes F32 tensors in the safetensors format (8-byte little-endian
// header length, JSON header padded with spaces to a multiple of 8, then the data in order)
// through a format.Output (a temporary file renamed into place; path may be none of inputs).
func writeSafetensorsFile(ctx context.Context, path string, inputs []string, ts []stTensor, meta map[string]string) error {
	f, err := format.CreateOutput(ctx, path, inputs...)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := writeSafetensors(bw, ts, meta); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

func writeSafetensors(w io.Writer, ts []stTensor, meta map[string]string) error {
	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int64  `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	header := map[string]any{}
	if meta != nil {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range ts {
		n := int64(1)
		for _, s := range t.shape {
			n *= s
		}
		if n != int64(len(t.data)) {
			return fmt.Errorf("safetensors: tensor %s: shape %v holds %d values, have %d", t.name, t.shape, n, len(t.data))
		}
		header[t.name] = entry{"F32", t.shape, [2]int64{off, off + 4*n}}
		off += 4 * n
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	var lenBuf [8]byte
	for i := range 8 {
		lenBuf[i] = byte(uint64(len(hb)) >> (8 * i))
	}
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hb); err != nil {
		return err
	}
	for _, t := range ts {
		if _, err := w.Write(format.Float32Bytes(t.data)); err != nil {
			return err
		}
	}
	return nil
}
