package tokenizer

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by [Load] unwraps to one of them.
var (
	// ErrFormat means the bytes are not a well-formed tokenizer file: invalid JSON or UTF-8,
	// missing or mistyped fields, ids out of range or duplicated, merges naming unknown tokens,
	// or counts and sizes beyond the package's caps.
	ErrFormat = errors.New("tokenizer: invalid tokenizer file")
	// ErrUnsupported means the file is well formed but describes a tokenizer this package does
	// not implement: a model other than BPE with byte fallback, or a normalizer, pre-tokenizer,
	// decoder, post-processor or added-token option other than the Gemma 3 ones.
	ErrUnsupported = errors.New("tokenizer: unsupported tokenizer")
)

// Error is a load failure with its position. It unwraps to [ErrFormat] or [ErrUnsupported].
type Error struct {
	File   string // "tokenizer.json" or "tokenizer_config.json"
	Offset int64  // byte offset the problem was found at, -1 if none
	Msg    string // what was found and what was expected
	Err    error  // the sentinel
}

func (e *Error) Error() string {
	s := "tokenizer: " + e.File
	if e.Offset >= 0 {
		s += fmt.Sprintf(": offset %d", e.Offset)
	}
	return s + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

const (
	fileTokenizer = "tokenizer.json"
	fileConfig    = "tokenizer_config.json"
)

func formatErr(file string, off int, format string, args ...any) error {
	return &Error{File: file, Offset: int64(off), Msg: fmt.Sprintf(format, args...), Err: ErrFormat}
}

func unsupportedErr(file string, format string, args ...any) error {
	return &Error{File: file, Offset: -1, Msg: fmt.Sprintf(format, args...), Err: ErrUnsupported}
}
