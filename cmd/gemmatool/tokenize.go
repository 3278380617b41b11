package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

func init() {
	register(&cli.Command{
		Name:      "tokenize",
		Usage:     "print the token ids of a text with the model's tokenizer",
		ArgsUsage: "TEXT|-",
		Description: `Prints the ids of TEXT (or of standard input for "-"), space-separated, with BOS unless --no-bos.
--json prints {"text":…,"ids":[…]}. --jsonl reads JSON lines from standard input, each
{"text":…,"add_special_tokens":bool} (default true) or, with --chat,
{"messages":[…],"add_generation_prompt":bool} (rendered with the Gemma 3 chat template), and
writes one {"text":…,"ids":[…]} per line, the text being the rendered prompt for --chat.

Example:
   gemmatool tokenize --model m.gmt "Hello world"
   printf '{"text":"Hi"}\n' | gemmatool tokenize --model m.gmt --jsonl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file (its embedded tokenizer)"},
			&cli.BoolFlag{Name: "no-bos", Usage: "do not prepend BOS"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.BoolFlag{Name: "jsonl", Usage: "batch mode: JSON lines on stdin, JSON lines on stdout"},
			&cli.BoolFlag{Name: "chat", Usage: "with --jsonl: lines hold chat messages"},
		},
		Action: tokenizeAction,
	})
	register(&cli.Command{
		Name:      "detokenize",
		Usage:     "print the text of token ids with the model's tokenizer",
		ArgsUsage: "ID... | IDS | -",
		Description: `The ids are separate arguments, one comma- or space-separated list, or a JSON array; "-"
reads them from standard input.
Special tokens (BOS, turn markers…) are kept unless --skip-special.

Example:
   gemmatool detokenize --model m.gmt 2 9259 1902
   gemmatool tokenize --model m.gmt "Hello world" | gemmatool detokenize --model m.gmt -`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "gemmatool model file (its embedded tokenizer)"},
			&cli.BoolFlag{Name: "skip-special", Usage: "drop special tokens"},
		},
		Action: detokenizeAction,
	})
}

func loadTokenizer(c *cli.Context) (*tokenizer.Tokenizer, func(), error) {
	lm, err := openModel(c.String("model"), false, true, false, c.App.ErrWriter)
	if err != nil {
		return nil, nil, err
	}
	tok, err := lm.needTokenizer()
	if err != nil {
		lm.Close()
		return nil, nil, err
	}
	return tok, func() { lm.Close() }, nil
}

// argOrStdin returns the single argument, or standard input when it is "-".
func argOrStdin(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError("%s: give one %s argument (or - for standard input)", c.Command.Name, what)
	}
	a := c.Args().First()
	if a != "-" {
		return a, nil
	}
	b, err := readInput("-", c.App.Reader, maxTextInput, c.Command.Name)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func formatIDs(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(id)))
	}
	return b.String()
}

type tokenized struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func tokenizeAction(c *cli.Context) error {
	if c.Bool("chat") && !c.Bool("jsonl") {
		return usageError("tokenize: --chat needs --jsonl")
	}
	if c.Bool("jsonl") && c.NArg() > 0 {
		return usageError("tokenize: --jsonl reads standard input and takes no argument")
	}
	var text string
	if !c.Bool("jsonl") {
		var err error
		if text, err = argOrStdin(c, "TEXT"); err != nil {
			return err
		}
	}
	tok, done, err := loadTokenizer(c)
	if err != nil {
		return err
	}
	defer done()
	out := c.App.Writer
	if !c.Bool("jsonl") {
		ids := tok.Encode(text, !c.Bool("no-bos"))
		if ids == nil {
			ids = []int32{}
		}
		if c.Bool("json") {
			return json.NewEncoder(out).Encode(tokenized{text, ids})
		}
		_, err := fmt.Fprintln(out, formatIDs(ids))
		return err
	}
	sc := bufio.NewScanner(c.App.Reader)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var r tokenized
		if c.Bool("chat") {
			var in struct {
				Messages []tokenizer.Message `json:"messages"`
				AddGen   bool                `json:"add_generation_prompt"`
			}
			if err := json.Unmarshal(b, &in); err != nil {
				return fmt.Errorf("tokenize: line %d: %w", line, err)
			}
			s, err := tokenizer.RenderChat(in.Messages, in.AddGen)
			if err != nil {
				return fmt.Errorf("tokenize: line %d: %w", line, err)
			}
			r = tokenized{s, tok.Encode(s, false)}
		} else {
			var in struct {
				Text       *string `json:"text"`
				AddSpecial *bool   `json:"add_special_tokens"`
			}
			if err := json.Unmarshal(b, &in); err != nil {
				return fmt.Errorf("tokenize: line %d: %w", line, err)
			}
			if in.Text == nil {
				return fmt.Errorf("tokenize: line %d: no \"text\" member", line)
			}
			add := !c.Bool("no-bos")
			if in.AddSpecial != nil {
				add = *in.AddSpecial
			}
			r = tokenized{*in.Text, tok.Encode(*in.Text, add)}
		}
		if r.IDs == nil {
			r.IDs = []int32{}
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return sc.Err()
}

func detokenizeAction(c *cli.Context) error {
	var s string
	var err error
	switch {
	case c.NArg() == 0:
		return usageError("detokenize: give the token ids as arguments (2 9259 1902, or 2,9259,1902), or - for standard input")
	case c.NArg() == 1:
		if s, err = argOrStdin(c, "IDS"); err != nil {
			return err
		}
	default:
		s = strings.Join(c.Args().Slice(), " ")
	}
	ids, err := parseIDs(s)
	if err != nil {
		return usageError("detokenize: %v", err)
	}
	tok, done, err := loadTokenizer(c)
	if err != nil {
		return err
	}
	defer done()
	for _, id := range ids {
		if _, ok := tok.Token(id); !ok {
			return fmt.Errorf("detokenize: id %d is not in the vocabulary (%d ids)", id, tok.VocabSize())
		}
	}
	_, err = fmt.Fprintln(c.App.Writer, tok.Decode(ids, c.Bool("skip-special")))
	return err
}
