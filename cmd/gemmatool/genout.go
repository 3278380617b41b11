package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// Finish reasons of run --json, --json-stream and chat --json (the OpenAI API's names, plus
// "context" and "interrupted").
const (
	finishStop        = "stop"        // an EOS id or a --stop string
	finishLength      = "length"      // --max-tokens
	finishContext     = "context"     // the context is full
	finishInterrupted = "interrupted" // SIGINT or SIGTERM
)

// errStopString and errStopped end a generation from its OnToken callback.
var (
	errStopString = errors.New("stop string")
	errStopped    = errors.New("stopped")
)

// finishReason maps a generation's outcome to a finish reason.
func finishReason(st runtime.GenerateStats, err error) string {
	switch {
	case errors.Is(err, errStopString):
		return finishStop
	case errors.Is(err, errStopped):
		return finishInterrupted
	}
	switch st.StopReason {
	case runtime.StopEOS:
		return finishStop
	case runtime.StopMaxTokens:
		return finishLength
	case runtime.StopContext:
		return finishContext
	}
	return finishInterrupted
}

// textOut turns generated ids into text for a writer: it decodes them as a stream, holds back
// text that may begin a stop string, and reports when one is complete (the text before it is
// written, the stop string and anything after it are not).
type textOut struct {
	sd    *tokenizer.StreamDecoder // nil: no tokenizer, no text
	stops []string
	held  string // decoded text not yet written: a possible prefix of a stop string
	text  strings.Builder
	hit   string // the stop string that ended generation
}

func newTextOut(tok *tokenizer.Tokenizer, stops []string) *textOut {
	t := &textOut{}
	for _, st := range stops {
		t.stops = append(t.stops, unescape(st))
	}
	if tok != nil {
		t.sd = tok.NewStreamDecoder(true)
	}
	return t
}

// add decodes id and returns the text that can be written now, and whether a stop string is
// complete.
func (t *textOut) add(id int32) (string, bool) {
	if t.sd == nil {
		return "", false
	}
	return t.release(t.held + t.sd.Add(id))
}

// flush returns the text still held at the end of generation.
func (t *textOut) flush() string {
	if t.sd == nil || t.hit != "" {
		return ""
	}
	s, _ := t.release(t.held + t.sd.Flush())
	s += t.held
	t.text.WriteString(t.held)
	t.held = ""
	return s
}

func (t *textOut) release(s string) (string, bool) {
	cut, hit := -1, ""
	for _, st := range t.stops {
		if i := strings.Index(s, st); i >= 0 && (cut < 0 || i < cut) {
			cut, hit = i, st
		}
	}
	if cut >= 0 {
		t.hit, t.held = hit, ""
		t.text.WriteString(s[:cut])
		return s[:cut], true
	}
	keep := 0 // the longest suffix of s that is a proper prefix of a stop string
	for _, st := range t.stops {
		for k := min(len(st)-1, len(s)); k > keep; k-- {
			if strings.HasSuffix(s, st[:k]) {
				keep = k
				break
			}
		}
	}
	out := s[:len(s)-keep]
	t.held = s[len(s)-keep:]
	t.text.WriteString(out)
	return out, false
}

// unescape turns the escapes \n, \t, \\ and \" of a command-line string into characters (as
// llama.cpp does for its reverse prompts); a string that is not a valid Go string body stays as
// it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}

// genFlags are the flags of run and chat that shape one generation.
func samplingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "max-tokens", Aliases: []string{"n", "n-predict"}, Value: 256, Usage: "maximum tokens to generate (0: until EOS or the context is full)"},
		&cli.Float64Flag{Name: "temp", Value: 1.0, Usage: "sampling temperature (0: greedy)"},
		&cli.IntFlag{Name: "top-k", Value: 64, Usage: "keep the K most likely tokens (0: off)"},
		&cli.Float64Flag{Name: "top-p", Value: 0.95, Usage: "nucleus sampling mass (1: off)"},
		&cli.Float64Flag{Name: "min-p", Value: 0, Usage: "drop tokens below this fraction of the best one's probability (0: off)"},
		&cli.Float64Flag{Name: "repeat-penalty", Value: 1, Usage: "repetition penalty (1: off)"},
		&cli.Uint64Flag{Name: "seed", Aliases: []string{"s"}, Usage: "random seed (default: from the clock)"},
		&cli.StringSliceFlag{Name: "stop", Aliases: []string{"r"}, Usage: "stop when the output contains this string, which is not printed (repeatable; \\n and \\t are newline and tab)"},
		&cli.BoolFlag{Name: "ignore-eos", Usage: "keep generating after an end-of-sequence id"},
		&cli.IntFlag{Name: "ctx", Aliases: []string{"c", "ctx-size"}, Usage: "context length (default: the model's maximum, or the largest whose KV cache fits in the available memory beside the weights)"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "threads (default: all cores)"},
		kvTypeFlag(),
	}
}

// stopOnCancel returns an OnToken hook that ends the generation with errStopped once ctx is
// cancelled (between tokens: the prefill runs to its end).
func stopOnCancel(ctx context.Context) func() error {
	return func() error {
		if ctx.Err() != nil {
			return errStopped
		}
		return nil
	}
}

// readPrompt returns the prompt of --prompt (standard input for "-") or --file (a file, or
// standard input for "-"), read through readInput's cap.
func readPrompt(c *cli.Context) (string, bool, error) {
	switch {
	case c.IsSet("prompt") && c.IsSet("file"):
		return "", false, usageError("give --prompt or --file, not both")
	case c.IsSet("file"):
		b, err := readInput(c.String("file"), c.App.Reader, maxTextInput, "--file")
		return string(b), true, err
	case c.IsSet("prompt"):
		if c.String("prompt") == "-" {
			b, err := readInput("-", c.App.Reader, maxTextInput, "--prompt")
			return string(b), true, err
		}
		return c.String("prompt"), true, nil
	}
	return "", false, nil
}

// tokenEvent is one line of run --json-stream before the summary.
type tokenEvent struct {
	ID   int32  `json:"id"`
	Text string `json:"text"`
}

// writeJSONLine writes v as one JSON line.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
