package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// reference is a deliberately naive, independent encoder built from tokenizer.json with
// encoding/json: added tokens by trying every content at every position, BPE by rescanning
// all adjacent pairs for the lowest rank after every merge (quadratic).
type reference struct {
	vocab map[string]int32
	ranks map[[2]string]int
	added map[string]int32
	maxAd int
}

var gemmaRef struct {
	once sync.Once
	ref  *reference
	err  error
}

func gemmaReference(tb testing.TB) *reference {
	tb.Helper()
	tokJSON, _ := gemmaFiles(tb)
	gemmaRef.once.Do(func() {
		gemmaRef.ref, gemmaRef.err = newReference(tokJSON)
	})
	if gemmaRef.err != nil {
		tb.Fatal(gemmaRef.err)
	}
	return gemmaRef.ref
}

func newReference(tokJSON []byte) (*reference, error) {
	var doc struct {
		AddedTokens []struct {
			ID      int32  `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		Model struct {
			Vocab  map[string]int32  `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(tokJSON, &doc); err != nil {
		return nil, err
	}
	r := &reference{vocab: doc.Model.Vocab, ranks: map[[2]string]int{}, added: map[string]int32{}}
	for i, m := range doc.Model.Merges {
		var pair [2]string
		var s string
		if json.Unmarshal(m, &s) == nil {
			l, rr, _ := strings.Cut(s, " ")
			pair = [2]string{l, rr}
		} else if err := json.Unmarshal(m, &pair); err != nil {
			return nil, err
		}
		r.ranks[pair] = i
	}
	for _, a := range doc.AddedTokens {
		r.added[a.Content] = a.ID
		r.maxAd = max(r.maxAd, len(a.Content))
	}
	return r, nil
}

func (r *reference) encode(text string) []int32 {
	out := []int32{}
	seg := ""
	for i := 0; i < len(text); {
		best := 0
		for n := 1; n <= r.maxAd && i+n <= len(text); n++ {
			if _, ok := r.added[text[i:i+n]]; ok {
				best = n
			}
		}
		if best == 0 {
			seg += text[i : i+1]
			i++
			continue
		}
		out = append(out, r.bpe(seg)...)
		seg = ""
		out = append(out, r.added[text[i:i+best]])
		i += best
	}
	return append(out, r.bpe(seg)...)
}

func (r *reference) bpe(seg string) []int32 {
	seg = strings.ReplaceAll(seg, " ", "▁")
	var syms []string
	for i, w := 0, 0; i < len(seg); i += w {
		c, size := utf8.DecodeRuneInString(seg[i:])
		w = size
		if _, ok := r.vocab[seg[i:i+size]]; ok && (c != utf8.RuneError || size > 1) {
			syms = append(syms, seg[i:i+size])
			continue
		}
		for _, b := range []byte(seg[i : i+size]) {
			syms = append(syms, "<0x"+strings.ToUpper(string("0123456789abcdef"[b>>4])+string("0123456789abcdef"[b&15]))+">")
		}
	}
	for {
		bestRank, bestI := -1, -1
		for i := 0; i+1 < len(syms); i++ {
			if rank, ok := r.ranks[[2]string{syms[i], syms[i+1]}]; ok && (bestRank < 0 || rank < bestRank) {
				bestRank, bestI = rank, i
			}
		}
		if bestI < 0 {
			break
		}
		syms[bestI] += syms[bestI+1]
		syms = append(syms[:bestI+1], syms[bestI+2:]...)
	}
	out := []int32{}
	for _, s := range syms {
		out = append(out, r.vocab[s])
	}
	return out
}

// textPieces are the building blocks of random test texts.
var textPieces = []string{
	"a", "b", "the", "The", " ", "  ", "   ", "ing", "tion", "0", "1", "2023", "3.14", ",", ".", "!", "?", "'", "\"",
	"\n", "\n\n", "\t", "\t\t", "\r", "\r\n", "▁", "▁▁", "\x00", "\x7f", "\u00a0", "\u3000", "é", "e\u0301", "ü",
	"日本語", "中文", "한국어", "Ελληνικά", "русский", "עברית", "العربية", "हिन्दी", "ไทย", "१२३", "٣",
	"😀", "👍🏽", "👨‍👩‍👧", "\U0001F9EA", "\U000F0000", "\ue000", "\ufffd", "\u200b", "\ufeff",
	"<", ">", "</", "<bos>", "<eos>", "<BOS>", "<start_of_turn>", "<end_of_turn>", "<start_of_turn", "<unused0>",
	"<unused6241>", "<unused6242>", "<table>", "</td>", "<h1>", "<code>", "<table >", "[multimodal]", "<mask>",
	"<start_of_image>", "<image_soft_token>", "<0x41>", "<0x", "func main() {", "    return x", "if (a < b)",
	"http://example.com/", "supercalifragilisticexpialidocious", "aaaaaaaaaaaaaaaa", "________", "----", "====",
}

// randomTexts returns n texts of up to maxPieces random pieces, from a fixed seed.
func randomTexts(seed uint64, n, maxPieces int) []string {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range rng.IntN(maxPieces + 1) {
			if rng.IntN(8) == 0 {
				b.WriteRune(rune(rng.IntN(0x30000)))
				continue
			}
			b.WriteString(textPieces[rng.IntN(len(textPieces))])
		}
		out[i] = strings.ToValidUTF8(b.String(), "\ufffd")
	}
	return out
}
