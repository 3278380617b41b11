package format

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by [Open], [File] methods and the [Writer] unwraps to
// one of them (or to an *fs.PathError for operating-system failures).
var (
	// ErrFormat means the bytes are structurally invalid: bad magic, sizes or offsets out of
	// range, overlapping or misaligned payloads, malformed directory or metadata.
	ErrFormat = errors.New("format: invalid file")
	// ErrUnsupported means the file is well formed but uses a version, required section or
	// tensor type this reader does not handle.
	ErrUnsupported = errors.New("format: unsupported")
	// ErrChecksum means a payload or section does not match its recorded CRC-32C.
	ErrChecksum = errors.New("format: checksum mismatch")
)

// Error is a parse failure with its position. It unwraps to one of the sentinels.
type Error struct {
	Path   string // file path
	Offset int64  // byte offset the problem was found at, -1 if none
	Tensor string // tensor name, "" if none
	Msg    string // what was found and what was expected
	Err    error  // the sentinel
}

func (e *Error) Error() string {
	s := "format: " + e.Path
	if e.Tensor != "" {
		s += fmt.Sprintf(": tensor %q", e.Tensor)
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(": offset %#x", e.Offset)
	}
	return s + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }
