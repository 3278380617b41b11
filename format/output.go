package format

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrOutput means an output path cannot receive a file: its directory is missing, it names
// something other than a regular file, or it resolves to one of the command's inputs.
var ErrOutput = errors.New("format: unusable output path")

// OutputError is an output path refused by [CheckOutput] or [CreateOutput]. It unwraps to
// [ErrOutput].
type OutputError struct {
	Path string // the path as the caller gave it
	Msg  string
}

func (e *OutputError) Error() string { return "format: output " + e.Path + ": " + e.Msg }
func (e *OutputError) Unwrap() error { return ErrOutput }

// tempMarker is part of the name of every temporary output file:
// ".<name>.gemmatool-tmp-<pid>-<random>" next to the destination <name>. The process id
// lets [StaleOutputs] tell the leftovers of a killed process from a file being written.
const tempMarker = ".gemmatool-tmp-"

// Output is a file written under a temporary name in its destination's directory and
// renamed over the destination by [Output.Commit], after an fsync, so a failed or
// interrupted write never leaves a partial file under the destination name; [Output.Abort]
// removes it. It is the one way gemmatool creates output files.
//
// A new file gets mode 0666 minus the process umask, as files created by other Unix tools;
// replacing a regular file keeps that file's permission bits. Writes fail with the
// context's error once the context is cancelled.
type Output struct {
	ctx  context.Context
	path string // as given, for messages
	dest string // path with symbolic links resolved
	tmp  string
	f    *os.File
	done bool
}

// CheckOutput returns an [*OutputError] unless path can receive an output file: path must
// be a new name in an existing directory or an existing regular file (a symbolic link to
// one counts as that file), and must resolve, after following symbolic links, to none of
// inputs (the files the same command reads: writing over one would destroy it). It returns
// the destination with symbolic links resolved.
func CheckOutput(path string, inputs ...string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", &OutputError{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if path == "" {
		return bad("empty path")
	}
	if strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) {
		return bad("names a directory; give a file name")
	}
	var dest string
	st, err := os.Stat(path)
	switch {
	case err == nil:
		if !st.Mode().IsRegular() {
			return bad("%s; write to a new path or over a regular file", FileKind(st.Mode()))
		}
		if dest, err = filepath.EvalSymlinks(path); err != nil {
			return bad("%v", unwrapPath(err))
		}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		if li, lerr := os.Lstat(path); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
			return bad("a symbolic link to a missing file")
		}
		dir := filepath.Dir(path)
		ds, derr := os.Stat(dir)
		switch {
		case errors.Is(derr, fs.ErrNotExist):
			return bad("directory %s does not exist", dir)
		case derr != nil:
			return bad("%v", unwrapPath(derr))
		case !ds.IsDir():
			return bad("%s is not a directory", dir)
		}
		rdir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return bad("%v", unwrapPath(err))
		}
		dest = filepath.Join(rdir, filepath.Base(path))
	default:
		return bad("%v", unwrapPath(err))
	}
	for _, in := range inputs {
		if in == "" || in == "-" {
			continue
		}
		is, err := os.Stat(in)
		if err != nil {
			continue
		}
		same := st != nil && os.SameFile(st, is)
		if !same {
			if rin, err := filepath.EvalSymlinks(in); err == nil {
				if ra, err := filepath.Abs(rin); err == nil {
					if rd, err := filepath.Abs(dest); err == nil {
						same = ra == rd
					}
				}
			}
		}
		if same {
			if in == path {
				return bad("is also an input of this command; writing it would destroy it")
			}
			return bad("is the same file as the input %s; writing it would destroy it", in)
		}
	}
	return dest, nil
}

// CreateOutput checks path with [CheckOutput] and starts writing a temporary file next to
// it. Writes fail with ctx's error once ctx is done (nil: never).
func CreateOutput(ctx context.Context, path string, inputs ...string) (*Output, error) {
	dest, err := CheckOutput(path, inputs...)
	if err != nil {
		return nil, err
	}
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	perm := fs.FileMode(0o666)
	if st, err := os.Stat(dest); err == nil {
		perm = st.Mode().Perm()
	}
	dir, base := filepath.Split(dest)
	if len(base) > 160 {
		base = base[:160]
	}
	pid := os.Getpid()
	for range 100 {
		tmp := filepath.Join(dir, fmt.Sprintf(".%s%s%d-%08x", base, tempMarker, pid, rand.Uint32()))
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, &OutputError{Path: path, Msg: fmt.Sprintf("cannot create a file in %s: %v", filepath.Dir(path), unwrapPath(err))}
		}
		if perm != 0o666 {
			// Keep the replaced file's permissions exactly (OpenFile applied the umask).
			f.Chmod(perm)
		}
		return &Output{ctx: ctx, path: path, dest: dest, tmp: tmp, f: f}, nil
	}
	return nil, &OutputError{Path: path, Msg: "cannot find an unused temporary name"}
}

// Name returns the destination path as given to [CreateOutput].
func (o *Output) Name() string { return o.path }

func (o *Output) live() error {
	if o.done || o.f == nil {
		return errors.New("format: write to a committed or aborted output")
	}
	if o.ctx != nil {
		return o.ctx.Err()
	}
	return nil
}

// Write appends to the temporary file.
func (o *Output) Write(p []byte) (int, error) {
	if err := o.live(); err != nil {
		return 0, err
	}
	n, err := o.f.Write(p)
	if err != nil {
		err = o.wrap(err)
	}
	return n, err
}

// WriteAt writes at an offset of the temporary file.
func (o *Output) WriteAt(p []byte, off int64) (int, error) {
	if err := o.live(); err != nil {
		return 0, err
	}
	n, err := o.f.WriteAt(p, off)
	if err != nil {
		err = o.wrap(err)
	}
	return n, err
}

// wrap names the destination, not the temporary file, in an OS error.
func (o *Output) wrap(err error) error {
	return fmt.Errorf("write %s: %w", o.path, unwrapPath(err))
}

// Commit syncs the temporary file and renames it over the destination. After a failure the
// temporary file is removed.
func (o *Output) Commit() error {
	if err := o.live(); err != nil {
		o.Abort()
		return err
	}
	if err := o.f.Sync(); err != nil {
		o.Abort()
		return o.wrap(err)
	}
	err := o.f.Close()
	o.f = nil
	if err != nil {
		o.Abort()
		return o.wrap(err)
	}
	// The destination may have been replaced while writing: never rename over anything
	// but a regular file.
	if st, err := os.Lstat(o.dest); err == nil && !st.Mode().IsRegular() {
		o.Abort()
		return &OutputError{Path: o.path, Msg: FileKind(st.Mode()) + " appeared while writing; nothing written"}
	}
	if err := os.Rename(o.tmp, o.dest); err != nil {
		o.Abort()
		return o.wrap(err)
	}
	o.done = true
	if d, err := os.Open(filepath.Dir(o.dest)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort removes the temporary file. It is safe to call more than once and after Commit
// (then it does nothing).
func (o *Output) Abort() {
	if o.done {
		return
	}
	o.done = true
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
	os.Remove(o.tmp)
}

// StaleOutputs lists the temporary output files in dir that a gemmatool process left
// behind when it was killed without a chance to clean up (SIGKILL, power loss): files named
// like [Output]'s temporaries whose process no longer runs. They may be deleted.
func StaleOutputs(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		i := strings.LastIndex(name, tempMarker)
		if !strings.HasPrefix(name, ".") || i < 0 || !e.Type().IsRegular() {
			continue
		}
		pidStr, _, ok := strings.Cut(name[i+len(tempMarker):], "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if pid == os.Getpid() || processAlive(pid) {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	return out
}

// FileKind names the kind of a file that is not a regular file ("a directory", "a named pipe
// (FIFO)", "a character device", …) for messages that refuse it.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// unwrapPath drops the path of an *fs.PathError (it may be a temporary name).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
