package convert

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error about the checkpoint's content unwraps to one of them;
// operating-system failures stay *fs.PathError.
var (
	// ErrCheckpoint means the checkpoint is invalid or inconsistent: a malformed or truncated
	// safetensors file, a config.json that is not JSON or has a wrongly typed key, a missing,
	// unexpected or misshaped tensor, an index that disagrees with its shards.
	ErrCheckpoint = errors.New("convert: invalid checkpoint")
	// ErrUnsupported means the checkpoint is well formed but not something gemmatool converts:
	// another model type, a pre-quantized checkpoint, an unsupported tensor type or RoPE type.
	ErrUnsupported = errors.New("convert: unsupported checkpoint")
)

// Error is a problem found in one file of a checkpoint, with its position when known. It
// unwraps to [ErrCheckpoint] or [ErrUnsupported].
type Error struct {
	Path   string // the file (full path as opened); "" when not known yet
	Tensor string // source tensor name, "" if none
	Offset int64  // byte offset in the file, -1 if none
	Msg    string // what was found and what was expected
	Err    error  // the sentinel
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("convert: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "offset %#x: ", e.Offset)
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func errAt(path, tensor string, off int64, sentinel error, format string, args ...any) *Error {
	return &Error{Path: path, Tensor: tensor, Offset: off, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// withPath sets the path of an *Error that has none (parsers that see only bytes leave it
// empty) and returns err.
func withPath(err error, path string) error {
	var e *Error
	if errors.As(err, &e) && e.Path == "" {
		e.Path = path
	}
	return err
}

// PlanError lists every problem found while matching the checkpoint's tensors against the
// tensor table. Its message is one line: the first problems, then how many more.
type PlanError struct {
	Dir      string
	Problems []*Error
}

// maxListed bounds how many problems a PlanError names in its one-line message.
const maxListed = 4

func (e *PlanError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "convert: %s: ", e.Dir)
	if len(e.Problems) > 1 {
		fmt.Fprintf(&b, "%d tensor problems: ", len(e.Problems))
	}
	for i, p := range e.Problems {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		q := *p
		q.Path = shortPath(q.Path, e.Dir)
		b.WriteString(strings.TrimPrefix(q.Error(), "convert: "))
	}
	return b.String()
}

// Unwrap returns the problems, so errors.Is finds their sentinels.
func (e *PlanError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

func shortPath(path, dir string) string {
	if dir != "" && strings.HasPrefix(path, dir) {
		return strings.TrimLeft(strings.TrimPrefix(path, dir), "/")
	}
	return path
}
