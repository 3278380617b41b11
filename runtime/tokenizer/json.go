package tokenizer

import (
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small strict JSON reader (RFC 8259) over a byte slice. It exists because
// encoding/json needs about 0.7 s for the 33 MB Gemma 3 tokenizer.json (its validity scan alone
// runs at about 110 MB/s); this reader streams the two big members, model.vocab and
// model.merges, straight into the tokenizer's tables. Small members are handed to encoding/json
// as raw spans. The input must already be valid UTF-8 (checked once by the caller).
type scanner struct {
	b     []byte
	pos   int
	file  string
	depth int
}

// maxDepth bounds the nesting of skipped values; the tokenizer files nest at most 6 deep.
const maxDepth = 128

func (s *scanner) errf(format string, args ...any) error {
	return formatErr(s.file, s.pos, format, args...)
}

func (s *scanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.unexpected("'" + string(c) + "'")
	}
	s.pos++
	return nil
}

func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.b) {
		return s.errf("unexpected end of JSON, want %s", want)
	}
	return s.errf("unexpected %q in JSON, want %s", s.b[s.pos], want)
}

// str reads a JSON string and appends its unescaped bytes to dst. Lone surrogate escapes
// become U+FFFD, as encoding/json does.
func (s *scanner) str(dst []byte) ([]byte, error) {
	if s.peek() != '"' {
		return dst, s.unexpected("string")
	}
	s.pos++
	b := s.b
	for {
		start := s.pos
		i := start
		for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
			i++
		}
		dst = append(dst, b[start:i]...)
		s.pos = i
		if i >= len(b) {
			return dst, s.errf("unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			s.pos++
			return dst, nil
		case c < 0x20:
			return dst, s.errf("control character %#x in string", c)
		}
		// Escape.
		if i+1 >= len(b) {
			s.pos = len(b)
			return dst, s.errf("unterminated string")
		}
		switch b[i+1] {
		case '"', '\\', '/':
			dst = append(dst, b[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				return dst, s.errf("bad \\u escape in string")
			}
			s.pos = i + 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if s.pos+1 < len(b) && b[s.pos] == '\\' && b[s.pos+1] == 'u' {
					r2, ok2 = hex4(b[s.pos+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					s.pos += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			s.pos = i + 1
			return dst, s.errf("bad escape %q in string", b[i+1])
		}
		s.pos = i + 2
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// id reads a non-negative JSON integer no larger than max.
func (s *scanner) id(max int64) (int64, error) {
	s.ws()
	start := s.pos
	var v int64
	b := s.b
	i := start
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		if v > max {
			return 0, s.errf("id %s... exceeds the limit %d", b[start:i+1], max)
		}
		i++
	}
	switch {
	case i == start:
		return 0, s.unexpected("non-negative integer id")
	case b[start] == '0' && i-start > 1:
		return 0, s.errf("number with leading zero")
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		s.pos = i
		return 0, s.errf("id is not an integer")
	}
	s.pos = i
	return v, nil
}

// object calls member for each key of a JSON object; member must consume the value.
func (s *scanner) object(member func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var key []byte
	for {
		var err error
		if key, err = s.str(key[:0]); err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.unexpected("',' or '}'")
		}
	}
}

// array calls elem for each element of a JSON array; elem must consume the element.
func (s *scanner) array(elem func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.unexpected("',' or ']'")
		}
	}
}

// skip consumes one JSON value of any type, validating it, and returns its span.
func (s *scanner) skip() ([]byte, error) {
	c := s.peek()
	start := s.pos
	var err error
	switch {
	case c == '{' || c == '[':
		if s.depth >= maxDepth {
			return nil, s.errf("JSON nested deeper than %d", maxDepth)
		}
		s.depth++
		if c == '{' {
			err = s.object(func([]byte) error { _, err := s.skip(); return err })
		} else {
			err = s.array(func() error { _, err := s.skip(); return err })
		}
		s.depth--
	case c == '"':
		err = s.skipString()
	case c == '-' || ('0' <= c && c <= '9'):
		err = s.number()
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		err = s.unexpected("JSON value")
	}
	if err != nil {
		return nil, err
	}
	return s.b[start:s.pos], nil
}

func (s *scanner) skipString() error {
	s.pos++ // opening quote
	b := s.b
	for i := s.pos; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.pos = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(b) {
				break
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if _, ok := hex4(b[i+2:]); !ok {
					s.pos = i
					return s.errf("bad \\u escape in string")
				}
				i += 5
			default:
				s.pos = i + 1
				return s.errf("bad escape %q in string", b[i+1])
			}
		case c < 0x20:
			s.pos = i
			return s.errf("control character %#x in string", c)
		}
	}
	s.pos = len(b)
	return s.errf("unterminated string")
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.pos < len(lit) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		return s.unexpected(lit)
	}
	s.pos += len(lit)
	return nil
}

// number consumes a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	b := s.b
	i := s.pos
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		s.pos = i
		return s.unexpected("digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			s.pos = i
			return s.unexpected("digit")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			s.pos = i
			return s.unexpected("digit")
		}
	}
	s.pos = i
	return nil
}

// end checks that only white space follows the top-level value.
func (s *scanner) end() error {
	if s.peek() != 0 || s.pos < len(s.b) {
		return s.unexpected("end of JSON")
	}
	return nil
}
