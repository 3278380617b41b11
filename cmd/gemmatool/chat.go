package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

func init() {
	register(&cli.Command{
		Name:  "chat",
		Usage: "talk with an instruction-tuned model, keeping the conversation in the KV cache",
		Description: `Reads one message per line from standard input (a line ending in "\" continues on the next
line), wraps it in the Gemma 3 chat template and streams the answer. Earlier turns stay in the
KV cache: each turn runs the prefill over its own new tokens only. After each answer, a line on
stderr gives the prompt and answer tokens with their speed and the context in use. Ctrl-C
stops the answer, not the chat; Ctrl-C at the prompt, Ctrl-D or /quit ends it.

Commands:
   /image PATH   attach an image to the next message (multimodal models; repeatable)
   /reset        forget the conversation (empty the KV cache)
   /save FILE    write the conversation as JSON ({"messages":[…]}, as tokenize --chat reads)
   /ids IDS      send token ids as they are (no template; ids of image soft tokens take the
                 attached images), for models without a tokenizer and for tests
   /help, /quit

--json prints one object per turn instead of the text: {"turn","prompt_tokens" (prefilled
this turn),"context_tokens" (in the cache after it),"generated_ids","text","finish_reason",
"prefill_tok_s","decode_tok_s"}.

Example:
   gemmatool chat --model gemma3-4b-it-q4_0.gmt
   gemmatool chat -m g4b.gmt --image cat.jpg --system "Answer in one sentence."
   printf 'Hi!\nWhat did I just say?\n' | gemmatool chat -m m.gmt --temp 0 --json`,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file, or a Hugging Face checkpoint directory (converted once into a cache file)"},
			&cli.StringFlag{Name: "system", Usage: "system prompt (folded into the first user turn)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per turn"},
			&cli.StringFlag{Name: "act", Value: "int8", Usage: "activation precision of the matmuls: int8 or exact (see run --help)"},
			mmapFlag,
		}, samplingFlags()...), imageFlags(false)...),
		Action: chatAction,
	})
}

// chatTurn is the --json output of one chat turn.
type chatTurn struct {
	Turn          int     `json:"turn"`
	PromptTokens  int     `json:"prompt_tokens"`
	ContextTokens int     `json:"context_tokens"`
	GeneratedIDs  []int32 `json:"generated_ids"`
	Text          string  `json:"text"`
	FinishReason  string  `json:"finish_reason"`
	PrefillTokS   float64 `json:"prefill_tok_s"`
	DecodeTokS    float64 `json:"decode_tok_s"`
}

// chatState is a conversation: the session's cache holds every id of ids but the last
// generated one (pending), which the next turn's prefill starts with.
type chatState struct {
	lm      *loadedModel
	ex      kernel.Exec
	s       *runtime.Session
	smp     *runtime.Sampler
	system  string
	images  []*runtime.Image // attached to the next message
	msgs    []tokenizer.Message
	pending []int32 // generated, not yet in the cache
	lastEOS bool    // the last answer ended with an EOS id
	turn    int
}

func chatAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	ex, err := execFromFlags(c)
	if err != nil {
		return err
	}
	for _, st := range c.StringSlice("stop") {
		if st == "" {
			return usageError("--stop: empty string")
		}
	}
	lm, err := openModel(c.String("model"), true, true, !c.Bool("mmap"), stderr)
	if err != nil {
		return err
	}
	defer lm.Close()
	if mp := lm.m.Config.MaxPositions; c.IsSet("ctx") && mp > 0 && c.Int("ctx") > mp {
		return usageError("--ctx %d is out of range: the model holds 1 … %d positions", c.Int("ctx"), mp)
	}
	kv, err := kvType(c)
	if err != nil {
		return err
	}
	ctx, err := fitContext(lm.m, kv, c.Int("ctx"), c.IsSet("ctx"), stderr)
	if err != nil {
		return err
	}
	images, err := loadImages(c, lm)
	if err != nil {
		return err
	}
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(time.Now().UnixNano())
	}
	cs := &chatState{lm: lm, ex: ex, smp: newSampler(c, lm, seed), system: c.String("system"), images: images,
		s: lm.m.NewSession(&runtime.SessionOptions{MaxContext: ctx, Exec: ex, KVType: kv})}

	// Ctrl-C during an answer stops the answer; at the prompt (or SIGTERM) it ends the chat.
	var answering, stopAnswer atomic.Bool
	quit := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sig); close(sig) }()
	go func() {
		closed := false
		for s := range sig {
			if s == os.Interrupt && answering.Load() {
				stopAnswer.Store(true)
			} else if !closed {
				closed = true
				close(quit)
			}
		}
	}()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(c.App.Reader)
		sc.Buffer(make([]byte, 64<<10), maxTextInput)
		var msg strings.Builder
		for sc.Scan() {
			l := sc.Text()
			if strings.HasSuffix(l, "\\") {
				msg.WriteString(strings.TrimSuffix(l, "\\") + "\n")
				continue
			}
			msg.WriteString(l)
			lines <- msg.String()
			msg.Reset()
		}
		readErr <- sc.Err()
		close(lines)
	}()
	interactive := false
	if f, ok := c.App.Reader.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
		fmt.Fprintf(stderr, "chat with %s: /help for commands, Ctrl-C stops an answer, Ctrl-D ends\n", filepath.Base(lm.f.Path))
	}
	jsonOut := c.Bool("json")
	for {
		if interactive {
			fmt.Fprint(stderr, "> ")
		}
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-quit:
			fmt.Fprintln(stderr)
			return errInterrupted
		}
		if !ok {
			return <-readErr
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		var ids []int32
		if strings.HasPrefix(line, "/") {
			cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
			arg = strings.TrimSpace(arg)
			var err error
			switch cmd {
			case "/quit", "/exit", "/bye":
				return nil
			case "/help", "/?":
				fmt.Fprintln(stderr, "commands: /image PATH, /reset, /save FILE, /ids IDS, /quit")
				continue
			case "/reset":
				cs.reset()
				fmt.Fprintln(stderr, "conversation reset")
				continue
			case "/image":
				err = cs.attach(c, arg)
				if err == nil {
					fmt.Fprintf(stderr, "image %s attached to the next message\n", arg)
					continue
				}
			case "/save":
				err = cs.save(arg)
				if err == nil {
					fmt.Fprintf(stderr, "saved %d messages to %s\n", len(cs.msgs), arg)
					continue
				}
			case "/ids":
				ids, err = parseIDs(arg)
				if err == nil && len(ids) == 0 {
					err = errors.New("/ids: no ids")
				}
			default:
				err = fmt.Errorf("unknown command %s%s (/help lists them)", cmd, suggest(strings.TrimPrefix(cmd, "/"), []string{"image", "reset", "save", "ids", "help", "quit"}, "/"))
			}
			if err != nil {
				fmt.Fprintf(stderr, "gemmatool: chat: %v\n", err)
				continue
			}
		}
		answering.Store(true)
		stopAnswer.Store(false)
		t, err := cs.answer(c, line, ids, func() bool { return stopAnswer.Load() }, stdout, jsonOut)
		answering.Store(false)
		if err != nil {
			if errors.Is(err, runtime.ErrContext) {
				fmt.Fprintf(stderr, "gemmatool: chat: %v: /reset to start again\n", err)
				continue
			}
			var ee cli.ExitCoder
			if errors.As(err, &ee) {
				fmt.Fprintf(stderr, "gemmatool: chat: %v\n", err)
				continue
			}
			return err
		}
		if jsonOut {
			if err := writeJSONLine(stdout, t); err != nil {
				return err
			}
			continue
		}
		note := ""
		if t.FinishReason != finishStop {
			note = ", " + t.FinishReason
		}
		fmt.Fprintf(stderr, "[prompt %d tokens, %.1f tok/s; answer %d tokens, %.1f tok/s; context %d/%d%s]\n",
			t.PromptTokens, t.PrefillTokS, len(t.GeneratedIDs), t.DecodeTokS, t.ContextTokens, cs.s.MaxContext(), note)
	}
}

// reset forgets the conversation.
func (cs *chatState) reset() {
	cs.s.Reset()
	cs.msgs, cs.pending, cs.images, cs.lastEOS = nil, nil, nil, false
}

// attach prepares the image at path for the next message.
func (cs *chatState) attach(c *cli.Context, path string) error {
	if path == "" {
		return errors.New("/image: give a file")
	}
	mc := cs.lm.f.Meta.Model
	if mc.Vision == nil || mc.MM == nil {
		return fmt.Errorf("/image: %s is a text-only model", cs.lm.f.Path)
	}
	cfg, err := runtime.ProcessorConfig(cs.lm.f)
	if err != nil {
		return err
	}
	cfg.PanAndScan = c.Bool("pan-and-scan")
	b, err := readInput(path, nil, maxImageInput, "/image")
	if err != nil {
		return err
	}
	im, err := runtime.PrepareImage(b, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cs.images = append(cs.images, im)
	return nil
}

// save writes the conversation as {"messages":[…]} through format.CreateOutput (a temporary
// file renamed into place; the model file is refused as the destination).
func (cs *chatState) save(path string) error {
	if path == "" {
		return errors.New("/save: give a file")
	}
	msgs := cs.msgs
	if cs.system != "" {
		msgs = append([]tokenizer.Message{{Role: "system", Content: []tokenizer.Part{{Type: "text", Text: cs.system}}}}, msgs...)
	}
	b, err := json.MarshalIndent(map[string]any{"messages": msgs}, "", "  ")
	if err != nil {
		return err
	}
	out, err := format.CreateOutput(nil, path, cs.lm.f.Path)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		out.Abort()
		return err
	}
	return out.Commit()
}

// turnIDs returns the ids that the next turn appends to the conversation: the pending answer
// token, the end of the previous model turn, and the user turn of text (or ids as given).
func (cs *chatState) turnIDs(text string, ids []int32) ([]int32, error) {
	images := cs.images
	tok := cs.lm.tok
	if ids != nil {
		return append(append([]int32(nil), cs.pending...), ids...), nil
	}
	if tok == nil {
		return nil, usageError("%s has no tokenizer: send token ids with /ids", cs.lm.f.Path)
	}
	var parts []tokenizer.Part
	for range images {
		parts = append(parts, tokenizer.Part{Type: "image"})
	}
	parts = append(parts, tokenizer.Part{Type: "text", Text: text})
	var rendered string
	if cs.s.Pos() == 0 && len(cs.pending) == 0 {
		var msgs []tokenizer.Message
		if cs.system != "" {
			msgs = append(msgs, tokenizer.Message{Role: "system", Content: []tokenizer.Part{{Type: "text", Text: cs.system}}})
		}
		msgs = append(msgs, tokenizer.Message{Role: "user", Content: parts})
		var err error
		if rendered, err = tokenizer.RenderChat(msgs, true); err != nil {
			return nil, err
		}
	} else {
		// The previous answer is in the cache up to its last token (pending); close the model
		// turn as the template does ("<end_of_turn>\n"), then open the user turn.
		var b strings.Builder
		if !cs.lastEOS {
			b.WriteString("<end_of_turn>")
		}
		b.WriteString("\n<start_of_turn>user\n")
		for range images {
			b.WriteString("<start_of_image>")
		}
		b.WriteString(strings.TrimSpace(text))
		b.WriteString("<end_of_turn>\n<start_of_turn>model\n")
		rendered = b.String()
	}
	var out []int32
	if images != nil {
		var err error
		if out, err = runtime.ExpandImages(tok, rendered, images, cs.lm.f.Meta.Model.MM.TokensPerImage, false); err != nil {
			return nil, err
		}
	} else {
		out = tok.Encode(rendered, false)
	}
	return append(append([]int32(nil), cs.pending...), out...), nil
}

// answer runs one turn: the prefill of its new ids, then generation until an EOS id, a stop
// string, --max-tokens, the end of the context or stop() (Ctrl-C).
func (cs *chatState) answer(c *cli.Context, text string, rawIDs []int32, stop func() bool, w io.Writer, jsonOut bool) (*chatTurn, error) {
	ids, err := cs.turnIDs(text, rawIDs)
	if err != nil {
		return nil, err
	}
	var prompt *runtime.Batch
	if cs.images != nil {
		if prompt, _, _, err = imageBatch(cs.ex, cs.lm, ids, cs.images, false); err != nil {
			return nil, err
		}
	} else if err := checkNoImageTokens("chat", cs.lm, ids); err != nil {
		return nil, err
	}
	if n := cs.s.Pos() + len(ids); n >= cs.s.MaxContext() {
		return nil, fmt.Errorf("%w: the conversation would hold %d tokens, the context %d", runtime.ErrContext, n, cs.s.MaxContext())
	}
	out := newTextOut(cs.lm.tok, c.StringSlice("stop"))
	var eos []int32
	if c.Bool("ignore-eos") {
		eos = []int32{}
	}
	var werr error
	gen, st, err := cs.s.Generate(ids, runtime.GenerateOptions{
		MaxTokens: c.Int("max-tokens"), Sampler: cs.smp, Prompt: prompt, EOS: eos,
		OnToken: func(id int32) error {
			piece, hit := out.add(id)
			if !jsonOut {
				if cs.lm.tok == nil {
					piece = fmt.Sprint(id, " ")
				}
				if _, werr = io.WriteString(w, piece); werr != nil {
					return werr
				}
			}
			if hit {
				return errStopString
			}
			if stop() {
				return errStopped
			}
			return nil
		},
	})
	if err != nil && !errors.Is(err, errStopString) && !errors.Is(err, errStopped) {
		return nil, err
	}
	if rest := out.flush(); !jsonOut {
		io.WriteString(w, rest+"\n")
	}
	var user []tokenizer.Part
	for range cs.images {
		user = append(user, tokenizer.Part{Type: "image"})
	}
	user = append(user, tokenizer.Part{Type: "text", Text: text})
	cs.images = nil
	cs.turn++
	cs.pending = nil
	if len(gen) > 0 {
		cs.pending = gen[len(gen)-1:]
	}
	cs.lastEOS = st.StopReason == runtime.StopEOS
	cs.msgs = append(cs.msgs,
		tokenizer.Message{Role: "user", Content: user},
		tokenizer.Message{Role: "assistant", Content: []tokenizer.Part{{Type: "text", Text: out.text.String()}}})
	if gen == nil {
		gen = []int32{}
	}
	return &chatTurn{Turn: cs.turn, PromptTokens: len(ids), ContextTokens: cs.s.Pos(), GeneratedIDs: gen, Text: out.text.String(),
		FinishReason: finishReason(st, err), PrefillTokS: st.PrefillTokS(), DecodeTokS: st.DecodeTokS()}, werr
}
