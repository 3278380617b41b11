package tokenizer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// gemma3TemplateSHA256 is the SHA-256 of the chat_template string of the Gemma 3
// tokenizer_config.json, the template RenderChat implements.
const gemma3TemplateSHA256 = "7de1c58e208eda46e9c7f86397df37ec49883aeece39fb961e0a6b24088dd3c4"

func isGemma3Template(tmpl string) bool {
	sum := sha256.Sum256([]byte(tmpl))
	return hex.EncodeToString(sum[:]) == gemma3TemplateSHA256
}

// Part is one item of a message's content: {"type": "text", "text": ...} or
// {"type": "image"}. Items of other types render as nothing, as in the template.
type Part struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// Message is one chat message in the Hugging Face format. Role is "system", "user" or
// "assistant" (rendered as "model"). In JSON, content is a string or a list of parts; a string
// becomes a single text part, which renders identically.
type Message struct {
	Role    string `json:"role"`
	Content []Part `json:"content"`
}

// UnmarshalJSON accepts content as a string or as an array of parts. A missing content is
// empty; null or any other type is an error, as the template raises "Invalid content type".
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    *string         `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("tokenizer: chat message: %w", err)
	}
	if raw.Role == nil {
		return errors.New("tokenizer: chat message has no role")
	}
	msg := Message{Role: *raw.Role}
	c := bytes.TrimLeft(raw.Content, " \t\r\n")
	switch {
	case len(c) == 0:
	case c[0] == '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return fmt.Errorf("tokenizer: chat message content: %w", err)
		}
		msg.Content = []Part{{Type: "text", Text: s}}
	case c[0] == '[':
		if err := json.Unmarshal(c, &msg.Content); err != nil {
			return fmt.Errorf("tokenizer: chat message content: %w", err)
		}
		if msg.Content == nil {
			msg.Content = []Part{}
		}
	default:
		return fmt.Errorf("tokenizer: chat message content is %.20s, want a string or an array", c)
	}
	*m = msg
	return nil
}

// Chat rendering strings of the Gemma 3 template.
const (
	bosText          = "<bos>"
	startOfTurn      = "<start_of_turn>"
	endOfTurn        = "<end_of_turn>\n"
	startOfImageText = "<start_of_image>"
)

// RenderChat renders messages with the Gemma 3 chat template, exactly as Hugging Face
// apply_chat_template does (tokenize the result with Encode(text, false): the text already
// starts with <bos>):
//
//   - The output starts with <bos>.
//   - A leading system message is not a turn: its text (a string content, or the text of its
//     first part) followed by "\n\n" is put, untrimmed, before the content of the first turn.
//   - The remaining messages must alternate user, non-user, user, ... starting with user;
//     otherwise RenderChat returns an error, as the template raises one.
//   - Each turn is <start_of_turn> + role ("assistant" becomes "model") + "\n" + content +
//     "<end_of_turn>\n". Text is trimmed of leading and trailing white space (Jinja's trim,
//     Python str.strip: [unicode.IsSpace] and U+001C–U+001F); an image part renders as
//     <start_of_image>, which the processor later expands into image tokens.
//   - addGenerationPrompt appends "<start_of_turn>model\n".
func RenderChat(msgs []Message, addGenerationPrompt bool) (string, error) {
	if len(msgs) == 0 {
		return "", errors.New("tokenizer: chat: no messages")
	}
	var b strings.Builder
	b.WriteString(bosText)
	loop := msgs
	prefix := ""
	if msgs[0].Role == "system" {
		c := msgs[0].Content
		if len(c) == 0 || c[0].Type != "text" {
			return "", errors.New("tokenizer: chat: system message has no text as its first part")
		}
		prefix = c[0].Text + "\n\n"
		loop = msgs[1:]
	}
	for i, m := range loop {
		if (m.Role == "user") != (i%2 == 0) {
			return "", fmt.Errorf("tokenizer: chat: message %d has role %q: conversation roles must alternate user/assistant/user/assistant/...", i+len(msgs)-len(loop), m.Role)
		}
		role := m.Role
		if role == "assistant" {
			role = "model"
		}
		b.WriteString(startOfTurn)
		b.WriteString(role)
		b.WriteByte('\n')
		if i == 0 {
			b.WriteString(prefix)
		}
		for _, p := range m.Content {
			switch p.Type {
			case "image":
				b.WriteString(startOfImageText)
			case "text":
				b.WriteString(strings.TrimFunc(p.Text, isPySpace))
			}
		}
		b.WriteString(endOfTurn)
	}
	if addGenerationPrompt {
		b.WriteString(startOfTurn + "model\n")
	}
	return b.String(), nil
}

// isPySpace reports whether Python's str.strip removes r.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (0x1c <= r && r <= 0x1f)
}
