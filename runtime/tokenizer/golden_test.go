package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func caseName(i int, c encodeCase) string {
	s := c.Text
	if len(s) > 24 {
		s = s[:24]
	}
	return fmt.Sprintf("%02d_%s_%q_%v", i, c.Category, s, c.AddSpecialTokens)
}

func TestEncodeGolden(t *testing.T) {
	tok := gemmaTokenizer(t)
	for i, c := range readJSONL[encodeCase](t, "tokenizer/encode.jsonl") {
		t.Run(caseName(i, c), func(t *testing.T) {
			got := tok.Encode(c.Text, c.AddSpecialTokens)
			if !slices.Equal(got, c.IDs) {
				t.Errorf("Encode(%q, %v) = %v, want %v", c.Text, c.AddSpecialTokens, got, c.IDs)
			}
			if d := tok.Decode(c.IDs, false); d != c.Decoded {
				t.Errorf("Decode(%v, false) = %q, want %q", c.IDs, d, c.Decoded)
			}
			// Skipping special tokens is decoding without them.
			plain := slices.DeleteFunc(slices.Clone(c.IDs), tok.IsSpecial)
			want := tok.Decode(plain, false)
			if len(plain) == len(c.IDs) && want != strings.ReplaceAll(c.Text, "▁", " ") {
				t.Errorf("Decode(%v, false) = %q, want %q", plain, want, strings.ReplaceAll(c.Text, "▁", " "))
			}
			if d := tok.Decode(c.IDs, true); d != want {
				t.Errorf("Decode(%v, true) = %q, want %q", c.IDs, d, want)
			}
			for _, skip := range []bool{false, true} {
				sd := tok.NewStreamDecoder(skip)
				var b strings.Builder
				for _, id := range c.IDs {
					b.WriteString(sd.Add(id))
				}
				b.WriteString(sd.Flush())
				if want := tok.Decode(c.IDs, skip); b.String() != want {
					t.Errorf("StreamDecoder(skip=%v) over %v = %q, want %q", skip, c.IDs, b.String(), want)
				}
			}
		})
	}
}

func TestChatGolden(t *testing.T) {
	tok := gemmaTokenizer(t)
	if !tok.HasGemma3Template() {
		t.Errorf("HasGemma3Template() = false, want true")
	}
	for i, c := range readJSONL[chatCase](t, "tokenizer/chat.jsonl") {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			text, err := RenderChat(c.Messages, c.AddGenerationPrompt)
			if err != nil {
				t.Fatalf("RenderChat(%+v) error %v", c.Messages, err)
			}
			if text != c.Text {
				t.Errorf("RenderChat(%+v, %v) = %q, want %q", c.Messages, c.AddGenerationPrompt, text, c.Text)
			}
			if got := tok.Encode(text, false); !slices.Equal(got, c.IDs) {
				t.Errorf("Encode(%q, false) = %v, want %v", text, got, c.IDs)
			}
			if d := tok.Decode(c.IDs, false); d != c.Text {
				t.Errorf("Decode(ids, false) = %q, want %q", d, c.Text)
			}
		})
	}
}
