package gguf

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// Writer streams a GGUF v3 file. The metadata and tensor descriptors are fixed at [Create] (the
// offsets follow from the types and dimensions), then payloads are written in descriptor
// order. The file is written next to the destination under a temporary name and renamed into
// place by [Writer.Commit] after an fsync, so a failed write never leaves a partial file
// under the destination name. Memory use does not depend on payload sizes.
type Writer struct {
	f     *format.Output
	bw    *bufio.Writer
	infos []TensorInfo
	align uint64
	next  int   // index of the next tensor to write
	pos   int64 // bytes written into the data section
	err   error
	done  bool
}

// Layout fills in each tensor's Size and Offset (relative to the data section) for the given
// alignment and returns the data section's total size.
func Layout(infos []TensorInfo, align uint64) (int64, error) {
	var off uint64
	for i := range infos {
		n, err := Size(infos[i].Type, infos[i].Ne)
		if err != nil {
			return 0, fmt.Errorf("gguf: tensor %q: %v", infos[i].Name, err)
		}
		off = (off + align - 1) / align * align
		infos[i].Offset, infos[i].Size = off, n
		off += uint64(n)
	}
	return int64(off), nil
}

// AppendHeader appends the encoded header, metadata and tensor descriptors (with the offsets
// they carry) to dst, without the padding before the data section.
func AppendHeader(dst []byte, kvs []KV, infos []TensorInfo) ([]byte, error) {
	le := binary.LittleEndian
	dst = append(dst, Magic...)
	dst = le.AppendUint32(dst, Version)
	dst = le.AppendUint64(dst, uint64(len(infos)))
	dst = le.AppendUint64(dst, uint64(len(kvs)))
	var err error
	for _, kv := range kvs {
		dst = appendString(dst, kv.Key)
		dst = le.AppendUint32(dst, uint32(kv.Type))
		if dst, err = appendValue(dst, kv.Type, kv.Value); err != nil {
			return nil, fmt.Errorf("gguf: key %q: %w", kv.Key, err)
		}
	}
	for _, t := range infos {
		dst = appendString(dst, t.Name)
		dst = le.AppendUint32(dst, uint32(len(t.Ne)))
		for _, d := range t.Ne {
			dst = le.AppendUint64(dst, d)
		}
		dst = le.AppendUint32(dst, uint32(t.Type))
		dst = le.AppendUint64(dst, t.Offset)
	}
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendValue(dst []byte, vt ValueType, v any) ([]byte, error) {
	le := binary.LittleEndian
	bad := func() ([]byte, error) { return nil, fmt.Errorf("value %T does not match type %v", v, vt) }
	switch vt {
	case TypeArray:
		a, ok := v.(Array)
		if !ok || a.Elem == TypeArray {
			return bad()
		}
		dst = le.AppendUint32(dst, uint32(a.Elem))
		dst = le.AppendUint64(dst, uint64(a.Len()))
		var err error
		switch s := a.Values.(type) {
		case []string:
			for _, x := range s {
				dst = appendString(dst, x)
			}
		case []float32:
			for _, x := range s {
				dst = le.AppendUint32(dst, math.Float32bits(x))
			}
		case []int32:
			for _, x := range s {
				dst = le.AppendUint32(dst, uint32(x))
			}
		case []uint32:
			for _, x := range s {
				dst = le.AppendUint32(dst, x)
			}
		case []bool:
			for _, x := range s {
				dst, err = appendValue(dst, TypeBool, x)
			}
		case []uint8:
			dst = append(dst, s...)
		case []int8:
			for _, x := range s {
				dst = append(dst, byte(x))
			}
		case []uint16:
			for _, x := range s {
				dst = le.AppendUint16(dst, x)
			}
		case []int16:
			for _, x := range s {
				dst = le.AppendUint16(dst, uint16(x))
			}
		case []int64:
			for _, x := range s {
				dst = le.AppendUint64(dst, uint64(x))
			}
		case []uint64:
			for _, x := range s {
				dst = le.AppendUint64(dst, x)
			}
		case []float64:
			for _, x := range s {
				dst = le.AppendUint64(dst, math.Float64bits(x))
			}
		default:
			return nil, fmt.Errorf("array of %T is not written", a.Values)
		}
		return dst, err
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendString(dst, s), nil
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case TypeUint8:
		x, ok := v.(uint8)
		if !ok {
			return bad()
		}
		return append(dst, x), nil
	case TypeInt8:
		x, ok := v.(int8)
		if !ok {
			return bad()
		}
		return append(dst, byte(x)), nil
	case TypeUint16:
		x, ok := v.(uint16)
		if !ok {
			return bad()
		}
		return le.AppendUint16(dst, x), nil
	case TypeInt16:
		x, ok := v.(int16)
		if !ok {
			return bad()
		}
		return le.AppendUint16(dst, uint16(x)), nil
	case TypeUint32:
		x, ok := v.(uint32)
		if !ok {
			return bad()
		}
		return le.AppendUint32(dst, x), nil
	case TypeInt32:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		return le.AppendUint32(dst, uint32(x)), nil
	case TypeFloat32:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return le.AppendUint32(dst, math.Float32bits(x)), nil
	case TypeUint64:
		x, ok := v.(uint64)
		if !ok {
			return bad()
		}
		return le.AppendUint64(dst, x), nil
	case TypeInt64:
		x, ok := v.(int64)
		if !ok {
			return bad()
		}
		return le.AppendUint64(dst, uint64(x)), nil
	case TypeFloat64:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return le.AppendUint64(dst, math.Float64bits(x)), nil
	}
	return nil, fmt.Errorf("unknown value type %d", uint32(vt))
}

// Create starts a GGUF file that appears at path on Commit. kvs must include
// "general.alignment" when the alignment is not [DefaultAlignment]; infos give each tensor's
// Name, Ne and Type (Offset and Size are computed).
func Create(path string, kvs []KV, infos []TensorInfo) (*Writer, error) {
	return CreateContext(context.Background(), path, kvs, infos)
}

// CreateContext is [Create] writing through a [format.Output]: path must be acceptable to
// [format.CheckOutput] with inputs, and once ctx is done writes fail with its error and the
// temporary file is removed.
func CreateContext(ctx context.Context, path string, kvs []KV, infos []TensorInfo, inputs ...string) (*Writer, error) {
	align := uint64(DefaultAlignment)
	for _, kv := range kvs {
		if kv.Key == "general.alignment" {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return nil, fmt.Errorf("gguf: general.alignment %v, want a u32 power of two", kv.Value)
			}
			align = uint64(a)
		}
	}
	infos = append([]TensorInfo(nil), infos...)
	if _, err := Layout(infos, align); err != nil {
		return nil, err
	}
	hdr, err := AppendHeader(nil, kvs, infos)
	if err != nil {
		return nil, err
	}
	pad := (uint64(len(hdr))+align-1)/align*align - uint64(len(hdr))
	hdr = append(hdr, make([]byte, pad)...)
	f, err := format.CreateOutput(ctx, path, inputs...)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, bw: bufio.NewWriterSize(f, 1<<20), infos: infos, align: align}
	if _, err := w.bw.Write(hdr); err != nil {
		return nil, w.fail(err)
	}
	return w, nil
}

// Tensors returns the descriptors with their offsets and sizes.
func (w *Writer) Tensors() []TensorInfo { return w.infos }

// WriteTensor writes the payload of the next tensor, which must be name; fill must write
// exactly its size.
func (w *Writer) WriteTensor(name string, fill func(io.Writer) error) error {
	if w.err != nil {
		return w.err
	}
	if w.done || w.next >= len(w.infos) {
		return errors.New("gguf: WriteTensor beyond the declared tensors")
	}
	t := w.infos[w.next]
	if t.Name != name {
		return w.fail(fmt.Errorf("gguf: tensor %q written where %q is next", name, t.Name))
	}
	if pad := int64(t.Offset) - w.pos; pad > 0 {
		if _, err := w.bw.Write(make([]byte, pad)); err != nil {
			return w.fail(err)
		}
		w.pos += pad
	}
	cw := &countWriter{w: w.bw}
	if err := fill(cw); err != nil {
		return w.fail(fmt.Errorf("tensor %q: %w", name, err))
	}
	if cw.n != t.Size {
		return w.fail(fmt.Errorf("gguf: tensor %q: wrote %d bytes, its %v %v payload has %d", name, cw.n, t.Type, t.Ne, t.Size))
	}
	w.pos += cw.n
	w.next++
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (w *Writer) fail(err error) error {
	w.err = err
	w.Abort()
	return err
}

// Commit checks that every tensor was written, flushes, fsyncs and renames the file into
// place.
func (w *Writer) Commit() error {
	if w.err != nil {
		return w.err
	}
	if w.next != len(w.infos) {
		return w.fail(fmt.Errorf("gguf: commit after %d of %d tensors", w.next, len(w.infos)))
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(err)
	}
	// The file gets 0666 minus the umask (a GGUF is usually read by another program's
	// service user, such as ollama's).
	if err := w.f.Commit(); err != nil {
		return w.fail(err)
	}
	w.done = true
	return nil
}

// Abort removes the temporary file; the destination is left untouched.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Abort()
}
