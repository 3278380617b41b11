package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

func init() {
	register(&cli.Command{
		Name:  "run",
		Usage: "generate a continuation of a prompt",
		Description: `Applies the Gemma 3 chat template to --prompt (with --system folded into the first user
turn) unless --raw is given, then generates until an EOS id of the model (1 or 106 for Gemma 3)
or --max-tokens, printing the text as it is produced. A line of speed figures (prefill and
decode tokens per second) ends the output on stderr. --ids or --ids-file replace the prompt by
token ids (no template, no BOS added). --temp 0 is greedy decoding.

Images (multimodal models): each --image is placed in the user turn before the text, as one
<start_of_image> that expands to the processor's image sequence (256 soft tokens whose
embeddings are replaced by the vision tower's projected features; the tokens of one image
attend to each other in both directions). With --raw the prompt must hold one
<start_of_image> per image; with --ids the ids must already be expanded (each run of image
soft tokens receives the next image). --pan-and-scan adds crops of wide or tall images.

Example:
   gemmatool run --model brown.gmt --prompt "The jury said" --raw --max-tokens 40
   gemmatool run --model g4b.gmt --image cat.jpg --prompt "Describe this image in one sentence."
   gemmatool run --model m.gmt --ids 2,17,300 --temp 0 --json
   gemmatool run -m m.gmt -f prompt.txt -c 4096 -n 128 --stop "\n\n" --json-stream
   echo "Why is the sky blue?" | gemmatool run -m ./gemma-3-1b-it -p -

Output: the text streams to stdout; a line of timings (prefill and decode tokens per second)
goes to stderr, also when Ctrl-C interrupts the generation (exit status 130). --json prints
{"prompt_ids","generated_ids","text","finish_reason",…}; finish_reason is "stop" (an EOS id
or a --stop string), "length" (--max-tokens), "context" (the context is full) or
"interrupted". --json-stream prints {"id","text"} per token, then that object.`,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file, or a Hugging Face checkpoint directory (converted once into a cache file)"},
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Usage: "prompt text (\"-\": read standard input)"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the prompt from this file (\"-\": standard input)"},
			&cli.StringFlag{Name: "system", Usage: "system prompt (folded into the first user turn)"},
			&cli.BoolFlag{Name: "raw", Usage: "send the prompt as is (BOS + text), without the chat template"},
			&cli.StringFlag{Name: "ids", Usage: "prompt as comma-separated token ids"},
			&cli.StringFlag{Name: "ids-file", Usage: "prompt as a JSON array of token ids in a file"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of streaming text"},
			&cli.BoolFlag{Name: "json-stream", Usage: "print one JSON object per token ({\"id\",\"text\"}), then the --json object"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print model, prompt and KV cache details on stderr"},
			&cli.StringFlag{Name: "act", Value: "int8", Usage: "activation precision of the matmuls: int8 (integer dot products with q4_0, q8_0 and i4 weights, as llama.cpp does; other types stay exact; error measured in the README) or exact (f32 activations, what logits and verify use)"},
			visionActFlag(),
			mmapFlag,
		}, samplingFlags()...), imageFlags(false)...),
		Action: runAction,
	})
}

// loadedModel is an open model file with its decoder and (when embedded) tokenizer.
type loadedModel struct {
	f   *format.File
	m   *runtime.Model
	tok *tokenizer.Tokenizer // nil when the file has no tokenizer
	// How long opening the file, loading the tokenizer (in parallel with the weights) and the
	// weights took, for --verbose; tokFrom says where the tokenizer came from.
	openTime, tokTime, weightsTime time.Duration
	tokFrom                        string
}

// loadTimes describes the load for --verbose.
func (l *loadedModel) loadTimes() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1e3) }
	s := "load: open " + ms(l.openTime)
	if l.tok != nil {
		s += ", tokenizer " + ms(l.tokTime) + " (" + l.tokFrom + ", beside the weights)"
	}
	if l.m != nil {
		s += ", weights " + ms(l.weightsTime)
		if l.m.Resident() && l.weightsTime > 0 {
			s += fmt.Sprintf(" (%s copied at %.1f GB/s)", humanBytes(l.m.WeightBytes()), float64(l.m.WeightBytes())/l.weightsTime.Seconds()/1e9)
		} else if hm, wb := format.HugeMapped(), l.m.WeightBytes(); !l.m.Resident() && hm >= 0 && wb > 0 {
			// The page cache's folio size decides the first pass's cost (README "Speed").
			s += fmt.Sprintf(" (%.0f%% of %s mapped in 2 MiB pages)", 100*min(1, float64(hm)/float64(wb)), humanBytes(wb))
		}
	}
	return s
}

func (l *loadedModel) Close() error { return l.f.Close() }

// openModel opens path and loads the text decoder (when decoder; its weights copied into
// huge-page memory when resident) and the embedded tokenizer (when tok and the file has one).
// A checkpoint directory is converted once into a cache file (see modelFromCheckpoint).
func openModel(path string, decoder, tok, resident bool, stderr io.Writer) (*loadedModel, error) {
	if isCheckpointDir(path) {
		p, err := modelFromCheckpoint(path, stderr, false)
		if err != nil {
			return nil, err
		}
		path = p
	}
	start := time.Now()
	f, err := openModelFile(path, stderr)
	if err != nil {
		return nil, err
	}
	l := &loadedModel{f: f, openTime: time.Since(start)}
	// The tokenizer (decompressing and parsing tokenizer.json) loads while the weights do.
	type tokResult struct {
		tok  *tokenizer.Tokenizer
		err  error
		took time.Duration
	}
	tokc := make(chan tokResult, 1)
	l.tokFrom = "tokenizer.json"
	if f.HasTokenizerTables() {
		l.tokFrom = "tables"
	}
	if tok {
		go func() {
			start := time.Now()
			t, err := embeddedTokenizer(f)
			tokc <- tokResult{t, err, time.Since(start)}
		}()
	} else {
		tokc <- tokResult{}
	}
	var loadErr error
	if decoder {
		log := newWarnLogger(stderr)
		start := time.Now()
		l.m, loadErr = runtime.Load(f, &runtime.LoadOptions{Logger: log, Resident: resident})
		l.weightsTime = time.Since(start)
	}
	tr := <-tokc
	l.tokTime = tr.took
	if err := errors.Join(loadErr, tr.err); err != nil {
		f.Close()
		return nil, err
	}
	l.tok = tr.tok
	return l, nil
}

// embeddedTokenizer loads the tokenizer embedded in f (nil when there is none): from the
// file's tokenizer tables when it has them (format 1.2 and later), which skips parsing
// tokenizer.json, else from the embedded tokenizer.json and tokenizer_config.json.
func embeddedTokenizer(f *format.File) (*tokenizer.Tokenizer, error) {
	tables, err := f.Tokenizer()
	if err != nil {
		return nil, err
	}
	if tables != nil {
		t, err := tokenizer.FromTables(tables)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		return t, nil
	}
	return jsonTokenizer(f)
}

// jsonTokenizer loads the tokenizer of f's embedded tokenizer.json and tokenizer_config.json
// (nil when there is none).
func jsonTokenizer(f *format.File) (*tokenizer.Tokenizer, error) {
	tj, ok, err := f.EmbeddedFile("tokenizer.json")
	if err != nil || !ok {
		return nil, err
	}
	tc, _, err := f.EmbeddedFile("tokenizer_config.json")
	if err != nil {
		return nil, err
	}
	t, err := tokenizer.Load(tj, tc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return t, nil
}

// fileTokenizerTables returns the tokenizer tables a file made from f stores: f's own, or
// those of its embedded tokenizer.json for a file written before format 1.2 (nil without one).
func fileTokenizerTables(f *format.File) (*format.TokenizerTables, error) {
	tables, err := f.Tokenizer()
	if err != nil || tables != nil {
		return tables, err
	}
	t, err := jsonTokenizer(f)
	if err != nil || t == nil {
		return nil, err
	}
	return t.Tables(), nil
}

// needTokenizer returns the tokenizer or an error naming the file.
func (l *loadedModel) needTokenizer() (*tokenizer.Tokenizer, error) {
	if l.tok == nil {
		return nil, fmt.Errorf("%s: the model file has no embedded tokenizer (convert a checkpoint directory that has tokenizer.json)", l.f.Path)
	}
	return l.tok, nil
}

// parseIDs reads a list of ids: comma- or space-separated, or a JSON array.
func parseIDs(s string) ([]int32, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var ids []int32
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, fmt.Errorf("token ids: %w", err)
		}
		return ids, nil
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	ids := make([]int32, 0, len(f))
	for _, x := range f {
		v, err := strconv.ParseInt(x, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("token ids: %q is not an integer", x)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}

// idsFromFlags returns the ids of --ids or --ids-file, or nil when neither is set.
func idsFromFlags(c *cli.Context) ([]int32, error) {
	switch {
	case c.IsSet("ids") && c.IsSet("ids-file"):
		return nil, usageError("%s: give --ids or --ids-file, not both", c.Command.Name)
	case c.IsSet("ids"):
		ids, err := parseIDs(c.String("ids"))
		if err != nil {
			return nil, usageError("%s: --ids: %v", c.Command.Name, err)
		}
		return ids, nil
	case c.IsSet("ids-file"):
		b, err := readInput(c.String("ids-file"), c.App.Reader, maxIDsInput, "--ids-file")
		if err != nil {
			return nil, err
		}
		var ids []int32
		if err := json.Unmarshal(b, &ids); err != nil {
			return nil, fmt.Errorf("%s: want a JSON array of token ids: %w", c.String("ids-file"), err)
		}
		return ids, nil
	}
	return nil, nil
}

// runResult is the --json output of run (and the last line of --json-stream).
type runResult struct {
	PromptIDs    []int32 `json:"prompt_ids"`
	GeneratedIDs []int32 `json:"generated_ids"`
	Text         string  `json:"text"`
	FinishReason string  `json:"finish_reason"`
	// StopString is the --stop string that ended generation.
	StopString  string  `json:"stop_string,omitempty"`
	PrefillTokS float64 `json:"prefill_tok_s"`
	DecodeTokS  float64 `json:"decode_tok_s"`
	// VisionSeconds is the time spent in the vision tower (0 without images).
	VisionSeconds float64 `json:"vision_seconds,omitempty"`
}

func runAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	ex, err := execFromFlags(c)
	if err != nil {
		return err
	}
	vex, err := visionExec(c, ex)
	if err != nil {
		return err
	}
	if c.Bool("json") && c.Bool("json-stream") {
		return usageError("give --json or --json-stream, not both")
	}
	ids, err := idsFromFlags(c)
	if err != nil {
		return err
	}
	promptText, havePrompt, err := readPrompt(c)
	if err != nil {
		return err
	}
	if ids == nil && !havePrompt {
		return usageError("give --prompt, --file, --ids or --ids-file")
	}
	if ids != nil && (havePrompt || c.IsSet("system")) {
		return usageError("--ids/--ids-file replace --prompt, --file and --system")
	}
	if len(ids) == 0 && ids != nil {
		return usageError("the prompt has no token ids")
	}
	for _, st := range c.StringSlice("stop") {
		if st == "" {
			return usageError("--stop: empty string")
		}
	}
	resident := residentFor(c.Bool("mmap"), c.Int("max-tokens"))
	lm, err := openModel(c.String("model"), true, true, resident, stderr)
	if err != nil {
		return err
	}
	defer lm.Close()
	m, tok := lm.m, lm.tok
	images, err := loadImages(c, lm)
	if err != nil {
		return err
	}
	if ids == nil {
		if tok, err = lm.needTokenizer(); err != nil {
			return err
		}
		var text string
		if c.Bool("raw") {
			text = promptText
			if c.IsSet("system") {
				text = c.String("system") + "\n\n" + text
			}
			if images != nil {
				if err := rawWithImages(text, len(images)); err != nil {
					return err
				}
			}
		} else if text, err = chatWithImages(c.String("system"), promptText, len(images)); err != nil {
			return err
		}
		if images != nil {
			if ids, err = runtime.ExpandImages(tok, text, images, lm.f.Meta.Model.MM.TokensPerImage, c.Bool("raw")); err != nil {
				return err
			}
		} else {
			ids = tok.Encode(text, c.Bool("raw"))
		}
	}
	if mp := m.Config.MaxPositions; c.IsSet("ctx") && mp > 0 && c.Int("ctx") > mp {
		return usageError("--ctx %d is out of range: the model holds 1 … %d positions", c.Int("ctx"), mp)
	}
	if images == nil {
		if err := checkNoImageTokens("run", lm, ids); err != nil {
			return err
		}
	}
	var prompt *runtime.Batch
	var visionTime time.Duration
	if images != nil {
		if prompt, _, visionTime, err = imageBatch(vex, lm, ids, images, false); err != nil {
			return err
		}
	}
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(time.Now().UnixNano())
	}
	smp := newSampler(c, lm, seed)
	kv, err := kvType(c)
	if err != nil {
		return err
	}
	ctx, err := fitContext(m, kv, c.Int("ctx"), c.IsSet("ctx"), stderr)
	if err != nil {
		return err
	}
	s := m.NewSession(&runtime.SessionOptions{MaxContext: ctx, Exec: ex, KVType: kv})
	if len(ids) >= s.MaxContext() {
		return fmt.Errorf("run: the prompt has %d tokens, the context holds %d", len(ids), s.MaxContext())
	}
	verbose := c.Bool("verbose")
	if verbose {
		fmt.Fprintf(stderr, "context: %d positions, KV cache (%s) up to %.1f MB", s.MaxContext(), kv, float64(m.KVCacheBytes(s.MaxContext(), kv))/1e6)
		if kv != runtime.KVF32 {
			fmt.Fprintf(stderr, " (f32 would take %.1f MB)", float64(m.KVCacheBytes(s.MaxContext(), runtime.KVF32))/1e6)
		}
		fmt.Fprintln(stderr)
		cfg := m.Config
		fmt.Fprintf(stderr, "model: %s: %d layers, hidden %d, %d/%d heads × %d, window %d, vocab %d, weights %s, %d threads\n",
			lm.f.Path, cfg.NumLayers, cfg.HiddenSize, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim, cfg.SlidingWindow, m.VocabRows(),
			humanBytes(m.WeightBytes()), ex.NumThreads())
		switch {
		case m.Resident():
			fmt.Fprintf(stderr, "weights: copied into huge-page memory\n")
		case !resident && !c.Bool("mmap"):
			fmt.Fprintf(stderr, "weights: read in place from the file mapping (a run of fewer than %d tokens would not win back the copy)\n", residentMinTokens)
		default:
			fmt.Fprintf(stderr, "weights: read in place from the file mapping\n")
		}
		fmt.Fprintln(stderr, lm.loadTimes())
		fmt.Fprintf(stderr, "prompt: %d tokens; sampling: temp %g top-k %d top-p %g min-p %g repeat-penalty %g seed %d\n",
			len(ids), c.Float64("temp"), c.Int("top-k"), c.Float64("top-p"), c.Float64("min-p"), c.Float64("repeat-penalty"), seed)
	}
	jsonOut, stream := c.Bool("json"), c.Bool("json-stream")
	out := newTextOut(tok, c.StringSlice("stop"))
	cancelled := stopOnCancel(c.Context)
	var werr error
	var eos []int32
	if c.Bool("ignore-eos") {
		eos = []int32{}
	}
	gen, st, err := s.Generate(ids, runtime.GenerateOptions{
		MaxTokens: c.Int("max-tokens"),
		Sampler:   smp,
		Prompt:    prompt,
		EOS:       eos,
		OnToken: func(id int32) error {
			piece, hit := out.add(id)
			switch {
			case stream:
				werr = writeJSONLine(stdout, tokenEvent{ID: id, Text: piece})
			case !jsonOut:
				_, werr = io.WriteString(stdout, piece)
			}
			if werr != nil {
				return werr
			}
			if hit {
				return errStopString
			}
			return cancelled()
		},
	})
	if err != nil && !errors.Is(err, errStopString) && !errors.Is(err, errStopped) && err != werr {
		return err
	}
	if rest := out.flush(); !jsonOut && !stream {
		io.WriteString(stdout, rest)
	}
	if !jsonOut && !stream && tok != nil {
		fmt.Fprintln(stdout)
	}
	reason := finishReason(st, err)
	if verbose {
		kv := s.Cache()
		fmt.Fprintf(stderr, "kv cache: %s, %d positions, %s in use (a full cache on every layer would hold %s), %s allocated\n",
			kv.Type(), kv.Len(), humanBytes(int64(kv.Bytes())), humanBytes(int64(kv.FullBytes())), humanBytes(int64(kv.AllocatedBytes())))
		fmt.Fprintf(stderr, "stop: %s after %d tokens\n", reason, st.Generated)
	}
	if jsonOut || stream {
		r := runResult{PromptIDs: ids, VisionSeconds: visionTime.Seconds(), GeneratedIDs: gen, PrefillTokS: st.PrefillTokS(), DecodeTokS: st.DecodeTokS(),
			FinishReason: reason, StopString: out.hit, Text: out.text.String()}
		if r.GeneratedIDs == nil {
			r.GeneratedIDs = []int32{}
		}
		if e := writeJSONLine(stdout, r); e != nil && werr == nil {
			werr = e
		}
	} else {
		if images != nil {
			fmt.Fprintf(stderr, "vision: %d images, %.2f s; ", len(images), visionTime.Seconds())
		}
		fmt.Fprintf(stderr, "prefill: %d tokens, %.1f tok/s; decode: %d tokens, %.1f tok/s\n",
			st.PromptTokens, st.PrefillTokS(), st.DecodeSteps, st.DecodeTokS())
	}
	if reason == finishInterrupted && errors.Is(err, errStopped) {
		return errInterrupted
	}
	if errors.Is(werr, os.ErrClosed) {
		return nil
	}
	return werr
}

// residentMinTokens is the shortest generation for which run copies the weights into
// huge-page memory: the copy costs about as much as ~100 tokens of the decode time it saves
// (a few percent per token), so shorter runs read the weights in place and start at once.
const residentMinTokens = 128

// residentFor says whether run copies the weights: not with --mmap, not for a run of fewer
// than residentMinTokens tokens (maxTokens 0 means until EOS or a full context).
func residentFor(mmap bool, maxTokens int) bool {
	return !mmap && (maxTokens == 0 || maxTokens >= residentMinTokens)
}

// newSampler builds the sampler of the sampling flags, limited to the ids the model and its
// tokenizer can produce.
func newSampler(c *cli.Context, lm *loadedModel, seed uint64) *runtime.Sampler {
	limit := lm.m.SamplingLimit()
	if lm.tok != nil {
		limit = min(limit, lm.tok.VocabSize())
	}
	return runtime.NewSampler(runtime.SamplerOptions{
		Temperature: c.Float64("temp"), TopK: c.Int("top-k"), TopP: c.Float64("top-p"), MinP: c.Float64("min-p"),
		RepetitionPenalty: c.Float64("repeat-penalty"), Seed: seed, Limit: limit,
	})
}

// mmapFlag opts out of copying the weights into huge-page memory at load (run, bench).
var mmapFlag = &cli.BoolFlag{Name: "mmap", Usage: "read the weights in place from the file mapping instead of copying them into huge-page memory at load: starts at once and shares the page cache with other processes, but decode is slower (see README); run does this by itself for --max-tokens below 128"}
