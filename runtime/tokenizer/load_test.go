package tokenizer

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadErrors(t *testing.T) {
	good := string(synth{vocab: []string{"a", "b", "ab"}, merges: [][2]string{{"a", "b"}}}.json(t))
	if _, err := Load([]byte(good), nil); err != nil {
		t.Fatalf("Load(good) = %v", err)
	}
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("synthetic JSON lacks %s", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct {
		name string
		json string
		want error
	}{
		{"empty", "", ErrFormat},
		{"null", "null", ErrFormat},
		{"array", "[]", ErrFormat},
		{"truncated", good[:len(good)/2], ErrFormat},
		{"trailing garbage", good + "x", ErrFormat},
		{"two values", good + "{}", ErrFormat},
		{"not UTF-8", replace(`"fuse_unk":true`, "\"fuse_unk\":\"\xff\""), ErrFormat},
		{"control char in string", replace(`"fuse_unk":true`, "\"fuse_unk\":\"\x01\""), ErrFormat},
		{"bad escape", replace(`"fuse_unk":true`, `"fuse_unk":"\q"`), ErrFormat},
		{"no model", `{"added_tokens":[]}`, ErrFormat},
		{"unigram", replace(`"type":"BPE"`, `"type":"Unigram"`), ErrUnsupported},
		{"no byte fallback", replace(`"byte_fallback":true`, `"byte_fallback":false`), ErrUnsupported},
		{"dropout", replace(`"dropout":null`, `"dropout":0.1`), ErrUnsupported},
		{"ignore merges", replace(`"ignore_merges":false`, `"ignore_merges":true`), ErrUnsupported},
		{"merge of unknown token", replace(`["a","b"]`, `["a","z"]`), ErrFormat},
		{"merge result unknown", replace(`"ab":262`, `"ba":262`), ErrFormat},
		{"merge not a pair", replace(`["a","b"]`, `["a","b","c"]`), ErrFormat},
		{"merge string without space", replace(`["a","b"]`, `"ab"`), ErrFormat},
		{"merge string two spaces", replace(`["a","b"]`, `"a b c"`), ErrFormat},
		{"duplicate vocab token", replace(`"ab":262`, `"ab":262,"a":263`), ErrFormat},
		{"duplicate vocab id", replace(`"ab":262`, `"ab":261`), ErrFormat},
		{"negative id", replace(`"ab":262`, `"ab":-1`), ErrFormat},
		{"fractional id", replace(`"ab":262`, `"ab":262.5`), ErrFormat},
		{"huge id", replace(`"ab":262`, `"ab":99999999999`), ErrFormat},
		{"sparse ids", replace(`"ab":262`, `"ab":100000`), ErrFormat},
		{"missing byte token", replace(`"\u003c0x41\u003e":69`, `"A":69`), ErrFormat},
		{"normalizer", replace(`"content":"▁","pattern"`, `"content":"_","pattern"`), ErrUnsupported},
		{"no normalizer", replace(`"normalizer":{`, `"normalizer":null,"x":{`), ErrUnsupported},
		{"decoder", replace(`{"type":"Fuse"}`, `{"type":"Strip"}`), ErrUnsupported},
		{"pre-tokenizer", replace(`"type":"Split"`, `"type":"Metaspace"`), ErrUnsupported},
		{"post-processor", replace(`"type":"TemplateProcessing"`, `"type":"ByteLevel"`), ErrUnsupported},
		{"lstrip", replace(`"lstrip":false`, `"lstrip":true`), ErrUnsupported},
		{"added id conflicts", replace(`"id":2,`, `"id":5,`), ErrFormat},
		{"added without content", replace(`"content":"\u003cbos\u003e",`, ``), ErrFormat},
		{"added empty", replace(`"content":"\u003cbos\u003e",`, `"content":"",`), ErrFormat},
		{"added tokens not a list", replace(`"added_tokens":[`, `"added_tokens":3,"x":[`), ErrFormat},
		{"deep nesting", replace(`"version":"1.0"`, `"version":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)), ErrFormat},
		{"no bos", strings.ReplaceAll(good, `\u003cbos\u003e`, `\u003cBOS\u003e`), ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Load([]byte(tt.json), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load(%.60q...) = %v, %v, want error %v", tt.json, tok, err, tt.want)
			}
			var le *Error
			if !errors.As(err, &le) {
				t.Errorf("Load error %v is not a *Error", err)
			}
			if !strings.HasPrefix(err.Error(), "tokenizer: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tokJSON := synth{vocab: []string{"a", "<end_of_turn>"}}.json(t)
	tests := []struct {
		name     string
		cfg      string
		wantEOT  int32
		wantTmpl string
		wantErr  error
	}{
		{"nil", "", 1, "", nil},
		{"string eos", `{"eos_token":"<end_of_turn>","chat_template":"T"}`, synthFirst + 1, "T", nil},
		{"object eos", `{"eos_token":{"content":"<end_of_turn>"}}`, synthFirst + 1, "", nil},
		{"template list", `{"chat_template":[{"name":"tool_use","template":"X"},{"name":"default","template":"D"}]}`, 1, "D", nil},
		{"unknown eos", `{"eos_token":"<nope>"}`, 0, "", ErrFormat},
		{"bad json", `{"eos_token":`, 0, "", ErrFormat},
		{"bad template", `{"chat_template":3}`, 0, "", ErrFormat},
		{"not utf-8", "{\"chat_template\":\"\xff\"}", 0, "", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg []byte
			if tt.cfg != "" {
				cfg = []byte(tt.cfg)
			}
			tok, err := Load(tokJSON, cfg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Load(config %s) = %v, want %v", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(config %s) = %v", tt.cfg, err)
			}
			if tok.EndOfTurn() != tt.wantEOT || tok.ChatTemplate() != tt.wantTmpl {
				t.Errorf("EndOfTurn, ChatTemplate = %d, %q, want %d, %q", tok.EndOfTurn(), tok.ChatTemplate(), tt.wantEOT, tt.wantTmpl)
			}
			if tok.HasGemma3Template() {
				t.Errorf("HasGemma3Template() = true for template %q", tok.ChatTemplate())
			}
		})
	}
}

// TestLoadGemmaTruncated checks that cutting the real file anywhere fails cleanly, without
// loading it in full again.
func TestLoadGemmaTruncated(t *testing.T) {
	tokJSON, _ := gemmaFiles(t)
	for _, n := range []int{0, 1, 100, 5000, 1 << 20} {
		if _, err := Load(tokJSON[:n], nil); !errors.Is(err, ErrFormat) {
			t.Errorf("Load(gemma tokenizer.json[:%d]) = %v, want ErrFormat", n, err)
		}
	}
}
