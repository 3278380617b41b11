package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

// imageManifest is DIR/manifest.json of `verify kld --image-set DIR`.
type imageManifest struct {
	Items []imageCase `json:"items"`
}

// imageCase is one image and its prompt: either Prompt (text with one <start_of_image>,
// tokenized with BOS) or IDs (already expanded, as `logits --ids`), then the answer: Answer
// (text) or AnswerIDs, or neither (the exact model's greedy answer of AnswerTokens tokens).
type imageCase struct {
	Image        string  `json:"image"`
	Prompt       string  `json:"prompt,omitempty"`
	IDs          []int32 `json:"ids,omitempty"`
	Answer       string  `json:"answer,omitempty"`
	AnswerIDs    []int32 `json:"answer_ids,omitempty"`
	AnswerTokens int     `json:"answer_tokens,omitempty"`
}

// readImageManifest reads and parses DIR/manifest.json of an image set (verb names the
// command in errors).
func readImageManifest(dir, verb string) (*imageManifest, error) {
	mf := filepath.Join(dir, "manifest.json")
	mb, err := readInput(mf, nil, maxManifestBytes, "--image-set")
	if err != nil {
		return nil, err
	}
	var man imageManifest
	if err := json.Unmarshal(mb, &man); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", verb, mf, err)
	}
	return &man, nil
}

// manifestImage is the path of an item's image: its name taken inside DIR (a leading "/" or
// "../" cannot leave it).
func manifestImage(dir string, it imageCase) string {
	return filepath.Join(dir, filepath.Clean("/" + it.Image)[1:])
}

// Limits on a manifest.
const (
	maxManifestBytes = 1 << 20
	maxImageCases    = 1000
	maxAnswerTokens  = 256
)

// imageSetAction runs `verify kld --image-set DIR`: every image's answer tokens through the
// model as stored (the exact vision tower) and through a copy whose vision tower is quantized
// to --vision, and compares the answer tokens' distributions.
func imageSetAction(c *cli.Context) error {
	dir, vis := c.String("image-set"), c.String("vision")
	if vis == "" {
		return usageError("verify kld --image-set: give --vision TYPE (q8_0, fp8, …), the vision tower's type to measure")
	}
	if !c.IsSet("model") {
		return usageError("verify kld --image-set: give --model (a multimodal gemmatool file)")
	}
	man, err := readImageManifest(dir, "verify kld")
	if err != nil {
		return err
	}
	if len(man.Items) == 0 || len(man.Items) > maxImageCases {
		return fmt.Errorf("verify kld: %s: %d items, want 1 … %d", filepath.Join(dir, "manifest.json"), len(man.Items), maxImageCases)
	}
	model := c.String("model")
	exact, err := openModel(model, true, true, false, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer exact.Close()
	if exact.f.Meta.Model.Vision == nil || exact.f.Meta.Model.MM == nil {
		return fmt.Errorf("verify kld: %s is a text-only model: --image-set needs a multimodal one", model)
	}
	// The quantized copy: the same file with only the vision tower's weights re-typed.
	tmp, err := os.MkdirTemp("", "gemmatool-vision-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	qpath := filepath.Join(tmp, "vision.gmt")
	if code := run([]string{"gemmatool", "quantize", model, "-o", qpath, "--type", "keep", "--embed", "keep", "--vision", vis, "--allow-requantize", "-q"}, io.Discard, c.App.ErrWriter); code != 0 {
		return fmt.Errorf("verify kld: quantizing the vision tower of %s to %s failed", model, vis)
	}
	quant, err := openModel(qpath, true, false, false, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer quant.Close()
	cfg, err := runtime.ProcessorConfig(exact.f)
	if err != nil {
		return err
	}
	mm := exact.f.Meta.Model.MM
	ex := kernel.Exec{Threads: c.Int("threads")}
	rep := &verify.ImageReport{Vision: vis}
	var toks [][]verify.TokenKL
	for k, it := range man.Items {
		name := fmt.Sprintf("%s item %d (%s)", filepath.Join(dir, "manifest.json"), k, it.Image)
		b, err := readInput(manifestImage(dir, it), nil, maxImageInput, "--image-set")
		if err != nil {
			return err
		}
		im, err := runtime.PrepareImage(b, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		images := []*runtime.Image{im}
		ids := it.IDs
		if ids == nil {
			tok, err := exact.needTokenizer()
			if err != nil {
				return err
			}
			if err := rawWithImages(it.Prompt, 1); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if ids, err = runtime.ExpandImages(tok, it.Prompt, images, mm.TokensPerImage, true); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		answer := it.AnswerIDs
		if answer == nil && it.Answer != "" {
			tok, err := exact.needTokenizer()
			if err != nil {
				return err
			}
			answer = tok.Encode(it.Answer, false)
		}
		forward := func(lm *loadedModel, seq []int32) ([]float32, error) {
			bt, _, _, err := imageBatch(ex, lm, seq, images, false)
			if err != nil {
				return nil, err
			}
			bt.Logits = runtime.LogitsAll
			res, err := lm.m.NewSession(&runtime.SessionOptions{Exec: ex}).Forward(bt)
			if err != nil {
				return nil, err
			}
			return res.Logits, nil
		}
		if answer == nil { // greedy answer of the exact model
			n := it.AnswerTokens
			if n <= 0 {
				n = 8
			}
			seq := append([]int32(nil), ids...)
			for range min(n, maxAnswerTokens) {
				lg, err := forward(exact, seq)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				v := exact.m.VocabRows()
				last := lg[len(lg)-v:]
				best := 0
				for i := range last {
					if last[i] > last[best] {
						best = i
					}
				}
				seq = append(seq, int32(best))
				answer = append(answer, int32(best))
			}
		}
		if len(answer) == 0 || len(answer) > maxAnswerTokens {
			return fmt.Errorf("%s: %d answer tokens, want 1 … %d", name, len(answer), maxAnswerTokens)
		}
		seq := append(append([]int32(nil), ids...), answer...)
		p, err := forward(exact, seq)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		q, err := forward(quant, seq)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		v := exact.m.VocabRows()
		var ts []verify.TokenKL
		for pos := len(ids) - 1; pos < len(seq)-1; pos++ {
			t, err := verify.CompareLogits(p[pos*v:(pos+1)*v], q[pos*v:(pos+1)*v], seq[pos+1])
			if err != nil {
				return fmt.Errorf("%s: position %d: %w", name, pos, err)
			}
			ts = append(ts, t)
		}
		toks = append(toks, ts)
		rep.Items = append(rep.Items, verify.ImageItem{Image: it.Image, Prompt: it.Prompt})
	}
	verify.SummarizeImages(rep, toks)
	if c.Bool("json") {
		return writeJSON(c.App.Writer, &verify.Doc{Schema: verify.Schema, Verb: "images", Command: commandLine(c), Model: model,
			Reference: model + " (exact vision tower)", Provenance: &exact.f.Meta.Source, Quantization: exact.f.Meta.Quantization, Images: rep})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "vision tower %s against exact: %d answer tokens of %d images\n", vis, rep.Tokens, len(rep.Items))
	fmt.Fprintf(w, "  %-30s %7s %12s %12s %9s\n", "image", "tokens", "mean KL", "max KL", "same top")
	for _, it := range rep.Items {
		fmt.Fprintf(w, "  %-30s %7d %12.6g %12.6g %8.2f%%\n", it.Image, it.Tokens, it.KLDMean, it.KLDMax, 100*it.SameTop)
	}
	fmt.Fprintf(w, "mean KL %.6g ± %.3g nats/token, same top %.2f%%\n", rep.KLDMean, rep.KLDStderr, 100*rep.SameTop)
	return nil
}
