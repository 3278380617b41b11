package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/imageproc"
)

// Caps on the inputs that commands read whole from a path or from standard input. Each is
// checked while reading (never after reading everything), so an endless input such as
// /dev/zero or a pipe that never closes costs at most the cap in memory.
const (
	// maxTextInput caps text: verify --text, tokenize/detokenize arguments read from
	// standard input, run -p - and -f FILE. 64 MiB is about 16M tokens, far beyond what a
	// CPU scores or generates from in one command (wikitext-2's test split is 1.3 MB).
	maxTextInput = 64 << 20
	// maxIDsInput caps --ids-file: 16 MiB of JSON holds over a million token ids, eight
	// times Gemma 3's largest context.
	maxIDsInput = 16 << 20
	// maxImageInput caps an encoded image (--image): the image decoder's own cap.
	maxImageInput = imageproc.MaxBytes
	// maxPixelValuesInput caps logits --pixel-values: 256 MiB holds 26 preprocessed
	// 896×896 RGB images in F32, more than any prompt carries.
	maxPixelValuesInput = 256 << 20
	// maxConfigInput caps a config.json read directly (estimate): 16 MiB, the checkpoint
	// reader's cap for the same file being far below it.
	maxConfigInput = 16 << 20
)

// errInputTooLarge is wrapped by readInput's error for an input above its cap.
var errInputTooLarge = errors.New("input larger than its cap")

// readInput reads the whole input named by path, which a flag or argument called what
// (for example "--image") gave: "-" is standard input (stdin), anything else must be a
// regular file. A FIFO, device, socket or directory is refused before it is opened, so
// it can neither block the command nor stream forever. At most limit bytes are read:
// a larger input is an error naming the input and the cap, returned as soon as the
// limit is passed. Use it for every input a command reads whole.
func readInput(path string, stdin io.Reader, limit int64, what string) ([]byte, error) {
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		return readCappedFrom(stdin, "standard input", limit, what, -1)
	}
	if path == "" {
		return nil, usageError("%s: empty path", what)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, inputPathError(what, err)
	}
	if err := requireRegular(path, what, st); err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s %s: %s, above the %s cap for %s: %w", what, path, humanBytes(st.Size()), capLabel(limit), what, errInputTooLarge)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, inputPathError(what, err)
	}
	defer f.Close()
	// The path may have been replaced between Stat and Open: check what was opened.
	if st, err = f.Stat(); err != nil {
		return nil, inputPathError(what, err)
	}
	if err := requireRegular(path, what, st); err != nil {
		return nil, err
	}
	return readCappedFrom(f, path, limit, what, st.Size())
}

// readCappedFrom reads r to its end, failing once more than limit bytes arrive. size, when
// not negative, is the expected length (a regular file's size, itself checked against
// limit). Input of unknown length is gathered in chunks and joined once at the end, so an
// input refused at the cap has cost at most the cap in memory.
func readCappedFrom(r io.Reader, name string, limit int64, what string, size int64) ([]byte, error) {
	const chunk = 1 << 20
	var chunks [][]byte
	var total int64
	next := min(max(size+1, 512), limit+1, chunk)
	for {
		b := make([]byte, min(next, limit+1-total))
		n, err := io.ReadFull(r, b)
		total += int64(n)
		if n > 0 {
			chunks = append(chunks, b[:n])
		}
		if total > limit {
			return nil, fmt.Errorf("%s %s: more than the %s cap for %s: %w", what, name, capLabel(limit), what, errInputTooLarge)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, name, err)
		}
		next = chunk
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// requireRegular refuses anything but a regular file where one is read whole.
func requireRegular(path, what string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s %s: %s, not a regular file", what, path, format.FileKind(st.Mode()))
}

// inputPathError words an OS error on an input path (*fs.PathError already names it).
func inputPathError(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}

// capLabel writes a cap in binary units, as the constants are set.
func capLabel(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// openFormat opens a gemmatool file named by a flag or argument called what, refusing up
// front anything but a regular file (opening a FIFO would block forever).
func openFormat(path, what string) (*format.File, error) {
	if path == "" {
		return nil, usageError("%s: empty path", what)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, inputPathError(what, err)
	}
	if err := requireRegular(path, what, st); err != nil {
		return nil, err
	}
	return format.Open(path, nil)
}
