package tokenizer

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRenderChat(t *testing.T) {
	tests := []struct {
		name    string
		msgs    string // JSON
		gen     bool
		want    string
		wantErr string
	}{
		{"user only", `[{"role":"user","content":"Hi"}]`, false,
			"<bos><start_of_turn>user\nHi<end_of_turn>\n", ""},
		{"generation prompt", `[{"role":"user","content":"Hi"}]`, true,
			"<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", ""},
		{"content trimmed", `[{"role":"user","content":" \n\t Hi there \u3000\n"}]`, false,
			"<bos><start_of_turn>user\nHi there<end_of_turn>\n", ""},
		{"python strip also removes \\u001c", `[{"role":"user","content":"\u001cHi\u001f"}]`, false,
			"<bos><start_of_turn>user\nHi<end_of_turn>\n", ""},
		{"system prefix untrimmed", `[{"role":"system","content":"  Be brief. "},{"role":"user","content":" Q "}]`, false,
			"<bos><start_of_turn>user\n  Be brief. \n\nQ<end_of_turn>\n", ""},
		{"system list takes first text", `[{"role":"system","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},{"role":"user","content":"Q"}]`, false,
			"<bos><start_of_turn>user\nA\n\nQ<end_of_turn>\n", ""},
		{"system only", `[{"role":"system","content":"S"}]`, true,
			"<bos><start_of_turn>model\n", ""},
		{"assistant is model", `[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]`, false,
			"<bos><start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n", ""},
		{"parts each trimmed", `[{"role":"user","content":[{"type":"text","text":" a "},{"type":"image"},{"type":"text","text":" b "},{"type":"video"}]}]`, false,
			"<bos><start_of_turn>user\na<start_of_image>b<end_of_turn>\n", ""},
		{"empty list", `[{"role":"user","content":[]}]`, false,
			"<bos><start_of_turn>user\n<end_of_turn>\n", ""},
		{"two users", `[{"role":"user","content":"a"},{"role":"user","content":"b"}]`, false, "", "alternate"},
		{"starts with assistant", `[{"role":"assistant","content":"a"}]`, false, "", "alternate"},
		{"system after system", `[{"role":"system","content":"a"},{"role":"system","content":"b"}]`, false, "", "alternate"},
		{"system with image first", `[{"role":"system","content":[{"type":"image"}]},{"role":"user","content":"b"}]`, false, "", "system message"},
		{"no messages", `[]`, false, "", "no messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msgs []Message
			if err := json.Unmarshal([]byte(tt.msgs), &msgs); err != nil {
				t.Fatalf("unmarshal %s: %v", tt.msgs, err)
			}
			got, err := RenderChat(msgs, tt.gen)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RenderChat(%s) = %q, %v, want error containing %q", tt.msgs, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("RenderChat(%s, %v) = %q, %v, want %q", tt.msgs, tt.gen, got, err, tt.want)
			}
		})
	}
}

func TestMessageUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    Message
		wantErr bool
	}{
		{`{"role":"user","content":"x"}`, Message{Role: "user", Content: []Part{{Type: "text", Text: "x"}}}, false},
		{`{"role":"user","content":""}`, Message{Role: "user", Content: []Part{{Type: "text"}}}, false},
		{`{"role":"user","content":[{"type":"image"}]}`, Message{Role: "user", Content: []Part{{Type: "image"}}}, false},
		{`{"role":"user"}`, Message{Role: "user"}, false},
		{`{"role":"user","content":null}`, Message{}, true},
		{`{"role":"user","content":3}`, Message{}, true},
		{`{"role":"user","content":{"type":"text"}}`, Message{}, true},
		{`{"content":"x"}`, Message{}, true},
		{`[]`, Message{}, true},
	}
	for _, tt := range tests {
		var m Message
		err := json.Unmarshal([]byte(tt.in), &m)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil {
			a, _ := json.Marshal(m)
			b, _ := json.Marshal(tt.want)
			if string(a) != string(b) {
				t.Errorf("Unmarshal(%s) = %s, want %s", tt.in, a, b)
			}
		}
	}
}
