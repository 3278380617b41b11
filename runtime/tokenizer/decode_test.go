package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tok := gemmaTokenizer(t)
	b := func(x byte) int32 { return 238 + int32(x) }
	tests := []struct {
		name string
		ids  []int32
		skip bool
		want string
	}{
		{"valid bytes", []int32{b(0xC3), b(0xBC)}, false, "ü"},
		{"truncated run", []int32{b(0xF4), b(0x8F)}, false, "\ufffd\ufffd"},
		{"invalid run poisons valid bytes", []int32{b('A'), b(0xC3), b(0xBC), b(0xFF)}, false, "\ufffd\ufffd\ufffd\ufffd"},
		{"runs split by a token", []int32{b(0xC3), 236746, b(0xBC)}, false, "\ufffda\ufffd"},
		{"special kept", []int32{2, 9259}, false, "<bos>Hello"},
		{"special skipped", []int32{2, 9259, 106}, true, "Hello"},
		{"skipped special joins a run", []int32{b(0xC3), 106, b(0xBC)}, true, "ü"},
		{"unused not special", []int32{6}, true, "<unused0>"},
		{"space marks", []int32{138, 236743}, false, "   "},
		{"unknown ids dropped", []int32{-1, 9259, 262145, 1 << 30}, false, "Hello"},
		{"image soft token", []int32{262144}, false, "<image_soft_token>"},
		{"empty", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tok.Decode(tt.ids, tt.skip); got != tt.want {
				t.Errorf("Decode(%v, %v) = %q, want %q", tt.ids, tt.skip, got, tt.want)
			}
			if got := streamDecode(tok, tt.ids, tt.skip); got != tt.want {
				t.Errorf("StreamDecoder(%v, %v) = %q, want %q", tt.ids, tt.skip, got, tt.want)
			}
		})
	}
}

func streamDecode(tok *Tokenizer, ids []int32, skip bool) string {
	d := tok.NewStreamDecoder(skip)
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(d.Add(id))
	}
	sb.WriteString(d.Flush())
	return sb.String()
}

// TestStreamDecoderRandom feeds random ids, biased towards byte tokens and specials, and
// checks that streaming equals Decode and that Add holds back only byte runs.
func TestStreamDecoderRandom(t *testing.T) {
	tok := gemmaTokenizer(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		ids := make([]int32, rng.IntN(12))
		for j := range ids {
			switch rng.IntN(4) {
			case 0, 1:
				ids[j] = 238 + int32(rng.IntN(256))
			case 2:
				ids[j] = tok.SpecialIDs()[rng.IntN(len(tok.SpecialIDs()))]
			default:
				ids[j] = int32(rng.IntN(tok.VocabSize()+2)) - 1
			}
		}
		skip := rng.IntN(2) == 0
		if got, want := streamDecode(tok, ids, skip), tok.Decode(ids, skip); got != want {
			t.Fatalf("case %d (seed 3): StreamDecoder(%v, %v) = %q, Decode = %q", i, ids, skip, got, want)
		}
	}
}

func TestStreamDecoderHoldsByteRuns(t *testing.T) {
	tok := gemmaTokenizer(t)
	d := tok.NewStreamDecoder(false)
	steps := []struct {
		id   int32
		want string
	}{
		{9259, "Hello"},
		{238 + 0xF0, ""},
		{238 + 0x9F, ""},
		{238 + 0x98, ""},
		{238 + 0x80, ""},
		{236888, "😀!"},
		{238 + 0xC3, ""},
	}
	for _, s := range steps {
		if got := d.Add(s.id); got != s.want {
			t.Errorf("Add(%d) = %q, want %q", s.id, got, s.want)
		}
	}
	if got := d.Flush(); got != "\ufffd" {
		t.Errorf("Flush() = %q, want %q", got, "\ufffd")
	}
	if got := d.Flush(); got != "" {
		t.Errorf("second Flush() = %q, want empty", got)
	}
}

func TestAccessors(t *testing.T) {
	tok := gemmaTokenizer(t)
	if got := tok.VocabSize(); got != 262145 {
		t.Errorf("VocabSize() = %d, want 262145", got)
	}
	if tok.BOS() != 2 || tok.EOS() != 1 || tok.EndOfTurn() != 106 {
		t.Errorf("BOS, EOS, EndOfTurn = %d, %d, %d, want 2, 1, 106", tok.BOS(), tok.EOS(), tok.EndOfTurn())
	}
	if got := tok.StopIDs(); len(got) != 2 || got[0] != 1 || got[1] != 106 {
		t.Errorf("StopIDs() = %v, want [1 106]", got)
	}
	wantSpecial := []int32{0, 1, 2, 3, 105, 106, 255999, 256000, 262144}
	if got := tok.SpecialIDs(); !equalInt32(got, wantSpecial) {
		t.Errorf("SpecialIDs() = %v, want %v", got, wantSpecial)
	}
	for _, tc := range []struct {
		tok string
		id  int32
	}{
		{"<pad>", 0}, {"<bos>", 2}, {"<start_of_turn>", 105}, {"\n", 107}, {"▁▁", 138}, {"<0x00>", 238},
		{"<0xFF>", 493}, {"\t", 255968}, {"<start_of_image>", 255999}, {"<image_soft_token>", 262144},
		{"▁", 236743}, {"<unused6241>", 262143},
	} {
		if id, ok := tok.ID(tc.tok); !ok || id != tc.id {
			t.Errorf("ID(%q) = %d, %v, want %d, true", tc.tok, id, ok, tc.id)
		}
		if s, ok := tok.Token(tc.id); !ok || s != tc.tok {
			t.Errorf("Token(%d) = %q, %v, want %q, true", tc.id, s, ok, tc.tok)
		}
	}
	for _, id := range []int32{-1, 262145} {
		if _, ok := tok.Token(id); ok {
			t.Errorf("Token(%d) ok, want not found", id)
		}
		if tok.IsSpecial(id) {
			t.Errorf("IsSpecial(%d) = true", id)
		}
	}
	if _, ok := tok.ID("<unused6242>"); ok {
		t.Errorf("ID(<unused6242>) found")
	}
	if tok.IsSpecial(6) || !tok.IsSpecial(106) {
		t.Errorf("IsSpecial(6), IsSpecial(106) = %v, %v, want false, true", tok.IsSpecial(6), tok.IsSpecial(106))
	}
}

func equalInt32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
