package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeSynthetic(t *testing.T) {
	base := synth{
		vocab:  []string{"a", "b", "c", "ab", "bc", "abc", "aa", "▁", "▁a", "é"},
		merges: [][2]string{{"a", "b"}, {"b", "c"}, {"ab", "c"}, {"a", "a"}, {"▁", "a"}},
		added:  []string{"<x>", "<xy>", "\n", "\n\n", "<start>"},
	}
	reversed := base
	reversed.merges = [][2]string{{"b", "c"}, {"a", "b"}, {"ab", "c"}}
	stringForm := base
	stringForm.stringMerges = true

	tests := []struct {
		name string
		s    synth
		text string
		want []string
	}{
		{"merge chain", base, "abc", []string{"abc"}},
		{"rank order", reversed, "abc", []string{"a", "bc"}},
		{"leftmost tie", base, "aaa", []string{"aa", "a"}},
		{"leftmost tie 4", base, "aaaa", []string{"aa", "aa"}},
		{"space is ▁", base, " a a", []string{"▁a", "▁a"}},
		{"no dummy prefix", base, "a", []string{"a"}},
		{"byte fallback", base, "z", []string{"<0x7A>"}},
		{"byte fallback multibyte", base, "ü", []string{"<0xC3>", "<0xBC>"}},
		{"code point in vocab", base, "é", []string{"é"}},
		{"decomposed differs", base, "e\u0301", []string{"<0x65>", "<0xCC>", "<0x81>"}},
		{"added longest", base, "<xy>", []string{"<xy>"}},
		{"added shorter", base, "<x>y", []string{"<x>", "<0x79>"}},
		{"added near miss", base, "<xz>", []string{"<0x3C>", "<0x78>", "<0x7A>", "<0x3E>"}},
		{"added splits segments", base, "ab<x>c", []string{"ab", "<x>", "c"}},
		{"newline runs", base, "a\n\n\nb", []string{"a", "\n\n", "\n", "b"}},
		{"special in text", base, "<bos>a", []string{"<bos>", "a"}},
		{"string merges", stringForm, "abc", []string{"abc"}},
		{"empty", base, "", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.s.load(t)
			want := ids(t, tok, tt.want...)
			if got := tok.Encode(tt.text, false); !slices.Equal(got, want) {
				t.Errorf("Encode(%q, false) = %v, want %v", tt.text, got, want)
			}
			if got := tok.Encode(tt.text, true); !slices.Equal(got, append([]int32{2}, want...)) {
				t.Errorf("Encode(%q, true) = %v, want <bos> + %v", tt.text, got, want)
			}
			if got, want := tok.Decode(want, false), strings.ReplaceAll(tt.text, "▁", " "); got != want {
				t.Errorf("Decode(%v) = %q, want %q", want, got, want)
			}
		})
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	tok := synth{vocab: []string{"a"}}.load(t)
	got := tok.Encode("a\xffa\xc3", false)
	want := ids(t, tok, "a", "<0xFF>", "a", "<0xC3>")
	if !slices.Equal(got, want) {
		t.Errorf("Encode(%q) = %v, want %v", "a\xffa\xc3", got, want)
	}
}

// TestEncodeMatchesReference compares Encode with the naive reference on random strings built
// from pieces that exercise added tokens, spaces, byte fallback and long segments.
func TestEncodeMatchesReference(t *testing.T) {
	tok := gemmaTokenizer(t)
	ref := gemmaReference(t)
	n := 300
	if testing.Short() {
		n = 40
	}
	for i, text := range randomTexts(1, n, 120) {
		got := tok.Encode(text, false)
		want := ref.encode(text)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d (seed 1): Encode(%q) = %v, reference %v", i, text, got, want)
		}
	}
}

// TestEncodeBrownMatchesReference compares whole lines of real text with the reference.
func TestEncodeBrownMatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("slow reference")
	}
	tok := gemmaTokenizer(t)
	ref := gemmaReference(t)
	text := brownText(t)
	text = text[:min(len(text), 30000)]
	if got, want := tok.Encode(text, true), append([]int32{2}, ref.encode(text)...); !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("Encode(brown[:30000]) differs from the reference at token %d: %v, want %v", i, got[i:min(i+8, len(got))], want[i:min(i+8, len(want))])
			}
		}
		t.Fatalf("Encode(brown[:30000]) has %d tokens, reference %d", len(got), len(want))
	}
}

// TestEncodeLongSegment checks segments of many thousand characters, with spaces (cut into
// words) and without (one BPE word through the heap), against the reference.
func TestEncodeLongSegment(t *testing.T) {
	tok := gemmaTokenizer(t)
	for _, unit := range []string{"abcdefghij klmnopqrst ", "日本語のテキストとabc123", "ааааабббббввввв"} {
		text := strings.Repeat(unit, 1000)
		got := tok.Encode(text, false)
		if len(got) == 0 || len(got) > utf8.RuneCountInString(text) {
			t.Errorf("Encode(%q x 1000) has %d tokens", unit, len(got))
		}
		if d := tok.Decode(got, false); d != text {
			t.Errorf("Decode(Encode(%q x 1000)) differs from the input", unit)
		}
		if !testing.Short() {
			short := strings.Repeat(unit, 50)
			if want := gemmaReference(t).encode(short); !slices.Equal(tok.Encode(short, false), want) {
				t.Errorf("Encode(%q x 50) differs from the reference", unit)
			}
		}
	}
}

// TestWordSplit checks that cutting segments before spaces (with the per-call cache and the
// quadratic scan for short words) gives the same ids as BPE over whole segments.
func TestWordSplit(t *testing.T) {
	tok := gemmaTokenizer(t)
	if !tok.wordSplit || len(tok.crossing) != 1 || tok.crossing[0] != (crossToken{">", "▁</"}) {
		t.Fatalf("wordSplit, crossing = %v, %q, want true, [> ▁</]", tok.wordSplit, tok.crossing)
	}
	whole := *tok
	whole.wordSplit = false
	texts := append(randomTexts(7, 200, 60), brownText(t)[:50000],
		"x> </y", "a>  </b", "> </", ">▁</", "x>▁</y", "<b> </b>", "a> </ b> </", "> ")
	for i, text := range texts {
		if got, want := tok.Encode(text, false), whole.Encode(text, false); !slices.Equal(got, want) {
			t.Fatalf("text %d %.80q: split %v, whole segments %v", i, text, got, want)
		}
	}
	if !testing.Short() {
		ref := gemmaReference(t)
		for _, text := range texts[len(texts)-8:] {
			if got, want := tok.Encode(text, false), ref.encode(text); !slices.Equal(got, want) {
				t.Errorf("Encode(%q) = %v, reference %v", text, got, want)
			}
		}
	}
}

func TestNormAffix(t *testing.T) {
	tests := []struct {
		s, p           string
		prefix, suffix bool
	}{
		{"> </a", ">", true, false},
		{" </a", "▁</", true, false},
		{"▁</a", "▁</", true, false},
		{"x>", ">", false, true},
		{"x >", "▁>", false, true},
		{"", "a", false, false},
		{"a", "", true, true},
		{"\xff", "\ufffd", false, false},
	}
	for _, tt := range tests {
		if got := hasNormPrefix(tt.s, tt.p); got != tt.prefix {
			t.Errorf("hasNormPrefix(%q, %q) = %v, want %v", tt.s, tt.p, got, tt.prefix)
		}
		if got := hasNormSuffix(tt.s, tt.p); got != tt.suffix {
			t.Errorf("hasNormSuffix(%q, %q) = %v, want %v", tt.s, tt.p, got, tt.suffix)
		}
	}
}

func TestCrossingTokens(t *testing.T) {
	got, ok := crossingTokens([]string{"▁a", "▁▁b", "a▁b▁▁c", "▁", "x"})
	want := []crossToken{{"a", "▁b▁▁c"}, {"a▁b", "▁▁c"}}
	if !ok || !slices.Equal(got, want) {
		t.Errorf("crossingTokens = %q, %v, want %q, true", got, ok, want)
	}
	many := make([]string, maxCrossing+1)
	for i := range many {
		many[i] = strings.Repeat("a", i+1) + "▁"
	}
	if _, ok := crossingTokens(many); ok {
		t.Errorf("crossingTokens(%d crossing tokens) ok, want word splitting off", len(many))
	}
}
