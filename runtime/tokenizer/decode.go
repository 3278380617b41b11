package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids back into text, as the tokenizer.json decoder does: U+2581 becomes a space
// in every token; each maximal run of byte-fallback tokens <0xXX> becomes its bytes if they are
// valid UTF-8, and otherwise one U+FFFD per byte. With skipSpecial the special tokens (see
// [Tokenizer.IsSpecial]) are dropped first, so byte tokens on both sides of one form one run.
// Ids that name no token are dropped.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	var d decoder
	d.t, d.skipSpecial = t, skipSpecial
	out := make([]byte, 0, len(ids)*4)
	for _, id := range ids {
		out = d.add(out, id)
	}
	return string(d.flush(out))
}

// decoder is the state Decode and StreamDecoder share: the pending run of byte tokens.
type decoder struct {
	t           *Tokenizer
	skipSpecial bool
	run         []byte
}

func (d *decoder) add(out []byte, id int32) []byte {
	t := d.t
	if id < 0 || int(id) >= len(t.flags) {
		return out
	}
	fl := t.flags[id]
	if fl&flagValid == 0 || (d.skipSpecial && fl&flagSpecial != 0) {
		return out
	}
	tok := t.tokens[id]
	if fl&flagByte != 0 {
		b, _ := byteToken(tok)
		d.run = append(d.run, b)
		return out
	}
	out = d.flush(out)
	for {
		i := strings.Index(tok, "▁")
		if i < 0 {
			return append(out, tok...)
		}
		out = append(append(out, tok[:i]...), ' ')
		tok = tok[i+len("▁"):]
	}
}

// flush appends the pending byte run.
func (d *decoder) flush(out []byte) []byte {
	if len(d.run) == 0 {
		return out
	}
	if utf8.Valid(d.run) {
		out = append(out, d.run...)
	} else {
		for range d.run {
			out = utf8.AppendRune(out, utf8.RuneError)
		}
	}
	d.run = d.run[:0]
	return out
}

// StreamDecoder decodes ids one at a time during generation. The concatenation of what Add
// and Flush return equals Decode of all the ids. Text is returned as soon as it is final:
// byte-fallback tokens are held back until the run they belong to ends (the next non-byte
// token or Flush), because whether a run decodes to its UTF-8 text or to U+FFFD per byte
// depends on the whole run. Runs are short in practice (one character not in the vocabulary
// is 2 to 4 bytes), so this delays output by at most one token.
type StreamDecoder struct {
	d   decoder
	buf []byte
}

// NewStreamDecoder returns a streaming decoder; skipSpecial is as for Decode.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{d: decoder{t: t, skipSpecial: skipSpecial}}
}

// Add decodes one more id and returns the text that became final.
func (s *StreamDecoder) Add(id int32) string {
	s.buf = s.d.add(s.buf[:0], id)
	return string(s.buf)
}

// Flush returns the text still held back (an unterminated byte run) and resets the decoder.
func (s *StreamDecoder) Flush() string {
	s.buf = s.d.flush(s.buf[:0])
	return string(s.buf)
}
