package tokenizer

import (
	"errors"
	"testing"
)

// FuzzConfig loads a small tokenizer with any tokenizer_config.json (the chat template in its
// string and list forms, eos_token as a name or an AddedToken object): it loads or fails
// with a sentinel error, never panics, and a loaded tokenizer still renders a chat.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"eos_token":"<eos>","chat_template":"{{ bos_token }}"}`))
	f.Add([]byte(`{"eos_token":{"content":"<eos>","special":true},"chat_template":[{"name":"default","template":"T"},{"name":"tool_use","template":"U"}]}`))
	f.Add([]byte(`{"chat_template":null,"eos_token":null}`))
	f.Add([]byte(`{"eos_token":"<nope>"}`))
	f.Add([]byte("\xff"))
	tj := synth{vocab: []string{"a", "b", "ab"}, merges: [][2]string{{"a", "b"}}}.json(f)
	f.Fuzz(func(t *testing.T, cfg []byte) {
		tok, err := Load(tj, cfg)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Load error %v matches no sentinel", err)
			}
			return
		}
		if _, err := RenderChat([]Message{{Role: "user", Content: []Part{{Type: "text", Text: "ab"}}}}, true); err != nil {
			t.Fatal(err)
		}
		tok.Encode("ab", true)
	})
}
