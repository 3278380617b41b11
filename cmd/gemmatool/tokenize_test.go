package main

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestTokenizeJSONL feeds the golden tokenizer cases through `tokenize --jsonl` (and --chat)
// and checks every id.
func TestTokenizeJSONL(t *testing.T) {
	if testing.Short() {
		t.Skip("converts gemma3-brown-tiny")
	}
	model := brownTiny(t)
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"../../testdata/tokenizer/encode.jsonl", nil},
		{"../../testdata/tokenizer/chat.jsonl", []string{"--chat"}},
	} {
		in, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := cliRun(t, string(in), append([]string{"tokenize", "--model", model, "--jsonl"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.file, code, stderr)
		}
		var wants []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		}
		for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
			var w struct {
				Text string  `json:"text"`
				IDs  []int32 `json:"ids"`
			}
			if err := json.Unmarshal([]byte(l), &w); err != nil {
				t.Fatal(err)
			}
			wants = append(wants, w)
		}
		sc := bufio.NewScanner(strings.NewReader(stdout))
		sc.Buffer(nil, 1<<24)
		i := 0
		for ; sc.Scan(); i++ {
			var got tokenized
			if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if i < len(wants) && (!slices.Equal(got.IDs, wants[i].IDs) || got.Text != wants[i].Text) {
				t.Errorf("%s line %d: %q %v, want %q %v", tc.file, i+1, got.Text, got.IDs, wants[i].Text, wants[i].IDs)
			}
		}
		if i != len(wants) {
			t.Errorf("%s: %d output lines, want %d", tc.file, i, len(wants))
		}
	}
}

func TestTokenizeDetokenize(t *testing.T) {
	if testing.Short() {
		t.Skip("converts gemma3-brown-tiny")
	}
	model := brownTiny(t)
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"tokenize", "--model", model, "Hello world"}, "", "2 9259 1902\n"},
		{[]string{"tokenize", "--model", model, "--no-bos", "-"}, "Hello world", "9259 1902\n"},
		{[]string{"tokenize", "--model", model, "--json", "Hello world"}, "", `{"text":"Hello world","ids":[2,9259,1902]}` + "\n"},
		{[]string{"detokenize", "--model", model, "2,9259,1902"}, "", "<bos>Hello world\n"},
		{[]string{"detokenize", "--model", model, "--skip-special", "-"}, "[2, 9259, 1902]", "Hello world\n"},
	} {
		stdout, stderr, code := cliRun(t, tc.stdin, tc.args...)
		if code != 0 || stdout != tc.want {
			t.Errorf("%v: %q (exit %d, %s), want %q", tc.args[3:], stdout, code, stderr, tc.want)
		}
	}
}
