package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gemmatool/gemmatool"
	"github.com/gemmatool/gemmatool/format"
)

// SynthOptions describe a random-weight checkpoint.
type SynthOptions struct {
	Size   string // "270m", "1b", "4b", "12b", "27b"
	Layers int    // > 0: keep only this many text (and vision) layers
	// VisionLayers > 0 sets the vision tower's layer count independently of Layers (for
	// example a full 27-layer tower with a 2-layer decoder, to benchmark the vision path).
	VisionLayers int
	Seed         uint64
	// ShardBytes > 0 splits the weights into shards of at most this many bytes (a tensor
	// larger than that gets a shard of its own) with model.safetensors.index.json; 0 writes
	// one model.safetensors, < 0 uses transformers' default of 5 GB shards.
	ShardBytes int64
	// NoTokenizer leaves out tokenizer.json and tokenizer_config.json (fast tests).
	NoTokenizer bool
	// Context, when not nil, stops the writing when done: the file being written is
	// removed and Synth's error wraps the context's error.
	Context context.Context
}

// DefaultShardBytes is transformers' default max_shard_size (5 GB).
const DefaultShardBytes = 5_000_000_000

// SynthResult lists what [Synth] wrote.
type SynthResult struct {
	Dir     string             `json:"dir"`
	Size    string             `json:"size"`
	Config  format.ModelConfig `json:"-"`
	Files   []string           `json:"files"`
	Tensors int                `json:"tensors"`
	Params  int64              `json:"params"`
	Bytes   int64              `json:"weight_bytes"`
}

// Synth writes a random-weight Gemma 3 checkpoint into dir in the exact Hugging Face layout
// of a released size: config.json as Google's files look (flat for 270M/1B, minimal
// text_config for 4B+), generation_config.json, the real tokenizer files, a
// preprocessor_config.json for the multimodal sizes, and BF16 safetensors (sharded with an
// index when asked). Weights are N(0, 0.02), RMSNorm weights (stored centred at 0) N(0, 0.02),
// LayerNorm weights 1 + N(0, 0.02) and biases N(0, 0.02); every tensor has its own generator
// seeded from (seed, tensor name), so the output depends only on the options. Tensors are
// generated and written in chunks: memory does not grow with the size. progress, when not
// nil, gets the weight bytes written so far.
func Synth(dir string, o SynthOptions, progress func(done, total int64)) (*SynthResult, error) {
	cfg, err := ReleasedConfig(o.Size, o.Layers)
	if err != nil {
		return nil, err
	}
	if o.VisionLayers > 0 {
		if cfg.Vision == nil {
			return nil, fmt.Errorf("synth: --vision-layers: the %s model has no vision tower", o.Size)
		}
		if o.VisionLayers > 1024 {
			return nil, fmt.Errorf("synth: %d vision layers, want at most 1024", o.VisionLayers)
		}
		cfg.Vision.NumLayers = o.VisionLayers
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := &SynthResult{Dir: dir, Size: strings.ToLower(o.Size), Config: cfg}
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	write := func(name string, data []byte) error {
		res.Files = append(res.Files, name)
		return writeFile(ctx, filepath.Join(dir, name), data)
	}
	style := HFStyle{Minimal: cfg.Vision != nil, LayerTypes: res.Size == "270m"}
	cj, err := MarshalHFConfig(&cfg, style)
	if err != nil {
		return nil, err
	}
	if err := write("config.json", append(cj, '\n')); err != nil {
		return nil, err
	}
	gen, _ := json.MarshalIndent(map[string]any{
		"bos_token_id": cfg.Text.BOS, "eos_token_id": cfg.Text.EOS, "pad_token_id": cfg.Text.PAD,
		"cache_implementation": "hybrid", "do_sample": true, "top_k": 64, "top_p": 0.95,
		"transformers_version": "4.50.0.dev0",
	}, "", "  ")
	if err := write("generation_config.json", append(gen, '\n')); err != nil {
		return nil, err
	}
	if !o.NoTokenizer {
		tj, tc, err := gemmatool.TokenizerFiles()
		if err != nil {
			return nil, err
		}
		if err := write("tokenizer.json", tj); err != nil {
			return nil, err
		}
		if err := write("tokenizer_config.json", tc); err != nil {
			return nil, err
		}
	}
	if v := cfg.Vision; v != nil {
		pp, _ := json.MarshalIndent(map[string]any{
			"do_convert_rgb": nil, "do_normalize": true, "do_pan_and_scan": nil, "do_rescale": true, "do_resize": true,
			"image_mean": []float64{0.5, 0.5, 0.5}, "image_std": []float64{0.5, 0.5, 0.5},
			"image_processor_type": "Gemma3ImageProcessor", "image_seq_length": cfg.MM.TokensPerImage,
			"pan_and_scan_max_num_crops": nil, "pan_and_scan_min_crop_size": nil, "pan_and_scan_min_ratio_to_activate": nil,
			"processor_class": "Gemma3Processor", "resample": 2, "rescale_factor": 1.0 / 255,
			"size": map[string]int{"height": v.ImageSize, "width": v.ImageSize},
		}, "", "  ")
		if err := write("preprocessor_config.json", append(pp, '\n')); err != nil {
			return nil, err
		}
	}

	// Weights, sorted by name as transformers writes them.
	exp := ExpectedTensors(&cfg)
	sort.Slice(exp, func(i, j int) bool { return exp[i].Source < exp[j].Source })
	var total int64
	for _, e := range exp {
		total += STBytes("BF16", e.SrcShape)
	}
	res.Tensors, res.Bytes = len(exp), total
	res.Params = total / 2
	shardBytes := o.ShardBytes
	if shardBytes < 0 {
		shardBytes = DefaultShardBytes
	}
	var shards [][]Expected
	if shardBytes == 0 || total <= shardBytes {
		shards = [][]Expected{exp}
	} else {
		var cur []Expected
		var curBytes int64
		for _, e := range exp {
			n := STBytes("BF16", e.SrcShape)
			if len(cur) > 0 && curBytes+n > shardBytes {
				shards = append(shards, cur)
				cur, curBytes = nil, 0
			}
			cur = append(cur, e)
			curBytes += n
		}
		shards = append(shards, cur)
	}
	var done int64
	weightMap := map[string]string{}
	for si, part := range shards {
		file := "model.safetensors"
		if len(shards) > 1 {
			file = fmt.Sprintf("model-%05d-of-%05d.safetensors", si+1, len(shards))
		}
		ts := make([]STensor, len(part))
		for i, e := range part {
			e := e
			weightMap[e.Source] = file
			ts[i] = STensor{Name: e.Source, DType: "BF16", Shape: e.SrcShape, Fill: func(w io.Writer) error {
				return fillRandom(w, e, o.Seed, func(n int64) {
					done += n
					if progress != nil {
						progress(done, total)
					}
				})
			}}
		}
		if err := writeSafetensors(ctx, filepath.Join(dir, file), map[string]string{"format": "pt"}, ts); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, file)
	}
	if len(shards) > 1 {
		b, err := indexJSON(total, weightMap)
		if err != nil {
			return nil, err
		}
		if err := writeFile(ctx, filepath.Join(dir, "model.safetensors.index.json"), b); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, "model.safetensors.index.json")
	}
	sort.Strings(res.Files)
	return res, nil
}

// synthChunk is the number of values generated per write.
const synthChunk = 1 << 18

// fillRandom writes e's BF16 values: mean 1 for LayerNorm weights, 0 otherwise, sd 0.02.
func fillRandom(w io.Writer, e Expected, seed uint64, advance func(int64)) error {
	h := fnv.New64a()
	h.Write([]byte(e.Source))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	mean := 0.0
	if isLayerNormWeight(e.Name) {
		mean = 1
	}
	n := int64(1)
	for _, d := range e.SrcShape {
		n *= d
	}
	buf := make([]byte, 2*min(n, synthChunk))
	for n > 0 {
		k := min(n, synthChunk)
		for i := int64(0); i < k; i++ {
			f := float32(mean + 0.02*rng.NormFloat64())
			binary.LittleEndian.PutUint16(buf[2*i:], format.Float32ToBF16(f))
		}
		if _, err := w.Write(buf[:2*k]); err != nil {
			return err
		}
		advance(2 * k)
		n -= k
	}
	return nil
}

// isLayerNormWeight reports the SigLIP LayerNorm weights (γ·x̂ + β, so centred at 1), as
// opposed to Gemma's RMSNorm weights (applied as 1 + w, so centred at 0).
func isLayerNormWeight(canonical string) bool {
	return strings.HasPrefix(canonical, "vision.") && (strings.HasSuffix(canonical, ".ln1") ||
		strings.HasSuffix(canonical, ".ln2") || strings.HasSuffix(canonical, ".post_ln"))
}
