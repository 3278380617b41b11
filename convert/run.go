package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/gemmatool/gemmatool/format"
)

// Options control [Run].
type Options struct {
	// DType is the output type (default "keep": the source's).
	DType Target
	// ToolVersion is recorded in the file's metadata (default "dev").
	ToolVersion string
}

// Report summarises a conversion.
type Report struct {
	Output      string              `json:"output"`
	Source      string              `json:"source"`
	Name        string              `json:"name"`
	DType       string              `json:"dtype"`
	Tensors     int                 `json:"tensors"`
	SourceBytes int64               `json:"source_bytes"` // bytes of the tensors read
	FileBytes   int64               `json:"file_bytes"`   // size of the written file
	Components  []ComponentTotal    `json:"components"`
	Embedded    []string            `json:"embedded"`
	Sources     []format.SourceFile `json:"source_files"`
	Warnings    []string            `json:"warnings,omitempty"`
}

// ComponentTotal counts the tensors, parameters and payload bytes of one [Component].
type ComponentTotal struct {
	Component string `json:"component"`
	Tensors   int    `json:"tensors"`
	Params    int64  `json:"params"`
	Bytes     int64  `json:"bytes"`
}

// chunkElems bounds the elements converted at a time (4 MiB of float32), which with the
// writer's 1 MiB buffer bounds the memory a conversion uses beyond the embedded files.
const chunkElems = 1 << 20

// Run converts the checkpoint in dir into a gemmatool file at out, tensor by tensor in
// bounded chunks, releasing each chunk's mapped source pages once written, so peak memory
// does not grow with the model. The output appears only when complete (see
// [format.Writer]). progress, when not nil, is called with the source bytes done so far.
func Run(dir, out string, opts Options, progress func(done, total int64)) (*Report, error) {
	return RunContext(context.Background(), dir, out, opts, progress)
}

// RunContext is [Run] that stops when ctx is done: the partial output is removed and the
// error wraps ctx's error.
func RunContext(ctx context.Context, dir, out string, opts Options, progress func(done, total int64)) (*Report, error) {
	ck, err := OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	if err := ck.Plan.SetTarget(opts.DType); err != nil {
		return nil, err
	}
	if _, err := format.CheckOutput(out, ck.InputPaths()...); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	// Hash the source files while converting (read(2) in another goroutine).
	type hashed struct {
		files []format.SourceFile
		err   error
	}
	hashc, stop := make(chan hashed, 1), make(chan struct{})
	defer close(stop)
	srcNames := ck.sourceNames()
	go func() {
		var h hashed
		for _, n := range srcNames {
			sf, err := hashFile(dir, n, stop)
			if err != nil {
				h.err = err
				break
			}
			h.files = append(h.files, sf)
		}
		hashc <- h
	}()
	// On an early return, stop cancels the hashing, which then exits on its own.
	if err := ck.CheckTied(); err != nil {
		return nil, err
	}
	// The non-weight files are read and validated before anything is written.
	files, err := ck.Files()
	if err != nil {
		return nil, err
	}
	w, err := format.CreateContext(ctx, out, ck.InputPaths()...)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	rep, err := ck.write(w, progress)
	h := <-hashc
	if err == nil {
		err = h.err
	}
	if err == nil {
		rep.Sources = h.files
		err = ck.finish(w, rep, opts, files)
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	rep.Output, rep.Source = out, dir
	rep.DType = string(opts.DType)
	if rep.DType == "" {
		rep.DType = "keep"
	}
	if fi, err := os.Stat(out); err == nil {
		rep.FileBytes = fi.Size()
	}
	return rep, nil
}

// InputPaths lists the paths of the checkpoint's files that a conversion reads (weights,
// index, configuration and tokenizer files): an output must be none of them.
func (c *Checkpoint) InputPaths() []string {
	var ps []string
	for _, n := range append(append([]string(nil), c.Aux...), c.Weights...) {
		ps = append(ps, c.Path(n))
	}
	return ps
}

// CheckTied verifies that each tied copy in the plan (an lm_head that some re-saves include)
// is bit-identical to the tensor it copies; otherwise the checkpoint has an untied head,
// which is not Gemma 3, and the error says so. It reads both tensors in bounded chunks.
func (c *Checkpoint) CheckTied() error {
	for i := range c.Plan.Tied {
		t := &c.Plan.Tied[i]
		e, ok := c.Plan.Entry(t.Name)
		if !ok {
			continue
		}
		rows, cols := e.Rows(), e.Cols()
		step := max(1, chunkElems/cols)
		a, b := make([]float32, step*cols), make([]float32, step*cols)
		for r := int64(0); r < rows; r += step {
			n := min(step, rows-r)
			if err := c.ReadRows(e, r, n, a); err != nil {
				return err
			}
			if err := c.ReadRows(t, r, n, b); err != nil {
				return err
			}
			for k := range a[:n*cols] {
				if a[k] != b[k] && !(a[k] != a[k] && b[k] != b[k]) {
					return errAt(c.Path(t.File), t.Source, -1, ErrUnsupported,
						"differs from %s at row %d: an untied output head is not Gemma 3 (Gemma 3 ties it to the embedding)", e.Source, r+int64(k)/cols)
				}
			}
		}
	}
	return nil
}

// write streams every planned tensor into w.
func (c *Checkpoint) write(w *format.Writer, progress func(done, total int64)) (*Report, error) {
	rep := &Report{Tensors: len(c.Plan.Entries)}
	var total, done int64
	for _, e := range c.Plan.Entries {
		total += e.Length
	}
	comp := map[string]*ComponentTotal{}
	var fbuf []float32
	var bbuf []byte
	for i := range c.Plan.Entries {
		e := &c.Plan.Entries[i]
		rows, cols := e.Rows(), e.Cols()
		step := max(1, chunkElems/cols)
		ses, oes := int64(e.SrcDType.ElemSize()), int64(e.DType.ElemSize())
		fill := func(out io.Writer) error {
			for r := int64(0); r < rows; r += step {
				n := min(step, rows-r)
				elems := n * cols
				var chunk []byte
				switch {
				case e.DType == e.SrcDType && !e.Transpose:
					src, err := c.source(e)
					if err != nil {
						return err
					}
					lo, hi := r*cols*ses, (r+n)*cols*ses
					if err := c.guard(e, func() error { _, err := out.Write(src[lo:hi]); return err }); err != nil {
						return err
					}
					c.release(e, lo, hi)
				case e.DType == e.SrcDType:
					bbuf = grow(bbuf, elems*oes)
					chunk = bbuf[:elems*oes]
					if err := c.readRaw(e, r, n, chunk); err != nil {
						return err
					}
				default:
					fbuf = growF(fbuf, elems)
					if err := c.ReadRows(e, r, n, fbuf[:elems]); err != nil {
						return err
					}
					bbuf = grow(bbuf, elems*oes)
					chunk = bbuf[:elems*oes]
					if ov := encode(chunk, fbuf[:elems], e.DType); ov > 0 {
						return errAt(c.Path(e.File), e.Source, -1, ErrUnsupported,
							"%d values overflow %v (beyond ±65504); convert with --dtype bf16 or f32", ov, e.DType)
					}
				}
				if chunk != nil {
					if _, err := out.Write(chunk); err != nil {
						return err
					}
				}
				done += n * cols * ses
				if progress != nil {
					progress(done, total)
				}
			}
			return nil
		}
		if err := w.WriteTensor(e.Name, e.DType, e.Shape, 1, fill); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return nil, ce
			}
			return nil, fmt.Errorf("convert: %w", err)
		}
		name := Component(e.Name)
		ct := comp[name]
		if ct == nil {
			ct = &ComponentTotal{Component: name}
			comp[name] = ct
		}
		ct.Tensors++
		ct.Params += e.Elements()
		ct.Bytes += e.Elements() * oes
		rep.SourceBytes += e.Length
	}
	for _, name := range Components {
		if ct := comp[name]; ct != nil {
			rep.Components = append(rep.Components, *ct)
		}
	}
	return rep, nil
}

func grow(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return make([]byte, n)
	}
	return b
}

func growF(b []float32, n int64) []float32 {
	if int64(cap(b)) < n {
		return make([]float32, n)
	}
	return b
}

// finish embeds the auxiliary files, sets the metadata and commits.
func (c *Checkpoint) finish(w *format.Writer, rep *Report, opts Options, files map[string][]byte) error {
	for _, name := range c.Aux {
		if err := w.AddFile(name, files[name]); err != nil {
			return fmt.Errorf("convert: embed %s: %w", name, err)
		}
		rep.Embedded = append(rep.Embedded, name)
	}
	if c.tables != nil {
		if err := w.SetTokenizer(c.tables); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	rep.Warnings = append(rep.Warnings, c.Warnings...)
	meta := c.metadata(rep.Sources, opts.ToolVersion)
	rep.Name = meta.Source.Name
	w.SetMetadata(meta)
	if err := w.Commit(); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	return nil
}

// sourceNames lists every file the conversion reads, sorted.
func (c *Checkpoint) sourceNames() []string {
	names := append(append([]string(nil), c.Aux...), c.Weights...)
	sort.Strings(names)
	return names
}

// metadata builds the metadata of a file converted from the checkpoint, given the source
// files' hashes.
func (c *Checkpoint) metadata(sources []format.SourceFile, toolVersion string) *format.Metadata {
	if toolVersion == "" {
		toolVersion = "dev"
	}
	meta := &format.Metadata{
		Format: "gemmatool",
		Model:  c.Plan.Config,
		Source: format.Source{Name: c.Name(), Files: sources, Dir: absDir(c.Dir)},
		Tool:   format.Tool{Name: "gemmatool", Version: toolVersion},
		Transforms: format.Transforms{
			TensorSources: map[string]string{},
		},
	}
	for _, e := range c.Plan.Entries {
		meta.Transforms.TensorSources[e.Name] = e.Source
		if e.Transpose {
			meta.Transforms.Transposed = append(meta.Transforms.Transposed, e.Name)
		}
	}
	return meta
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// absDir returns dir as an absolute path ("" when it cannot be made absolute).
func absDir(dir string) string {
	a, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	return a
}
