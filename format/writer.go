package format

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Writer streams a file: tensors first, in the order they are written, then the sections.
// It writes through an [Output]: a temporary file next to the destination, renamed into
// place on [Writer.Commit] after an fsync, so a failed or interrupted write never leaves a
// partial file under the destination name. Memory use is bounded by the directory and the
// embedded files, never by tensor payloads.
type Writer struct {
	f       *Output
	bw      *chunkWriter
	off     int64
	tensors []TensorInfo
	names   map[string]bool
	files   []namedBlob
	meta    *Metadata
	// tokenizer is the encoded tokenizer tables section (SetTokenizer), nil if none.
	tokenizer []byte
	done      bool
	err       error
}

type namedBlob struct {
	name string
	data []byte
}

// writeChunk is the size of the writer's writes, all at offsets that are multiples of it (the
// last one aside): a file system with large page-cache folios (ext4 on Linux 6.16+, XFS) then
// caches the new file in 2 MiB folios, which a reader's huge-page mapping maps with one entry
// each (populate_linux.go). Measured (synth 1B, quantize to Q4_0): 1 MiB buffered writes, with
// longer payloads written past the buffer at unaligned offsets, left 4% of the file in 2 MiB
// folios; aligned 4 MiB writes leave all but the tail.
const writeChunk = 4 << 20

// chunkWriter writes to w in chunks of cap(buf) bytes, so that every write but the last one
// (Flush) starts at a multiple of cap(buf) from where it started. The first error sticks.
type chunkWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for c.err == nil && n < len(p) {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p[n:])
		c.buf = c.buf[:len(c.buf)+k]
		n += k
		if len(c.buf) == cap(c.buf) {
			c.Flush()
		}
	}
	return n, c.err
}

// Flush writes the buffered bytes.
func (c *chunkWriter) Flush() error {
	if c.err == nil && len(c.buf) > 0 {
		_, c.err = c.w.Write(c.buf)
		c.buf = c.buf[:0]
	}
	return c.err
}

// Create starts writing a file that will appear at path on Commit.
func Create(path string) (*Writer, error) {
	return CreateContext(context.Background(), path)
}

// CreateContext starts writing a file that will appear at path on Commit. path must be
// acceptable to [CheckOutput] with inputs: a new name or a regular file, none of the
// inputs. Once ctx is done, writes fail with its error and the temporary file is removed.
func CreateContext(ctx context.Context, path string, inputs ...string) (*Writer, error) {
	f, err := CreateOutput(ctx, path, inputs...)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, bw: &chunkWriter{w: f, buf: make([]byte, 0, writeChunk)}, names: map[string]bool{}}
	if _, err := w.bw.Write(make([]byte, HeaderSize)); err != nil {
		w.Abort()
		return nil, err
	}
	w.off = HeaderSize
	return w, nil
}

// SetMetadata sets the metadata written on Commit.
func (w *Writer) SetMetadata(m *Metadata) { w.meta = m }

// AddFile embeds a named file (for example "tokenizer.json"); it is stored zstd-compressed.
func (w *Writer) AddFile(name string, data []byte) error {
	if len(name) == 0 || len(name) > sectionNameLen || strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name) {
		return fmt.Errorf("format: embedded file name %q must be 1..%d bytes of UTF-8 without NUL", name, sectionNameLen)
	}
	for _, b := range w.files {
		if b.name == name {
			return fmt.Errorf("format: embedded file %q added twice", name)
		}
	}
	w.files = append(w.files, namedBlob{name, data})
	return nil
}

func (w *Writer) pad(a int64) error {
	n := alignUp(w.off, a) - w.off
	if n == 0 {
		return nil
	}
	_, err := w.bw.Write(make([]byte, n))
	w.off += n
	return err
}

// WriteTensor appends one tensor. fill must write exactly LayoutOf(t, shape).Size bytes to
// the writer it is given; scale is the per-tensor scale (1 unless the type uses one).
func (w *Writer) WriteTensor(name string, t DType, shape []int64, scale float32, fill func(io.Writer) error) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("format: WriteTensor after Commit or Abort")
	}
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("format: tensor name %q must be 1..%d bytes", name, MaxNameLen)
	}
	if w.names[name] {
		return fmt.Errorf("format: tensor %q written twice", name)
	}
	if len(shape) > MaxRank {
		return fmt.Errorf("format: tensor %q: rank %d above %d", name, len(shape), MaxRank)
	}
	l, err := LayoutOf(t, shape)
	if err != nil {
		return fmt.Errorf("format: tensor %q: %w", name, err)
	}
	if err := w.pad(Alignment); err != nil {
		return w.fail(err)
	}
	cw := &countingWriter{w: w.bw}
	if err := fill(cw); err != nil {
		return w.fail(fmt.Errorf("tensor %q: %w", name, err))
	}
	if cw.n != l.Size {
		return w.fail(fmt.Errorf("format: tensor %q: wrote %d bytes, its %v %v layout has %d", name, cw.n, t, shape, l.Size))
	}
	w.tensors = append(w.tensors, TensorInfo{Name: name, DType: t, Shape: append([]int64(nil), shape...),
		Offset: w.off, Length: l.Size, CRC: cw.crc, Scale: scale})
	w.names[name] = true
	w.off += cw.n
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	w.Abort()
	return err
}

type countingWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	return n, err
}

// Commit writes the directory, metadata and embedded files, syncs, and renames the file into
// place.
func (w *Writer) Commit() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("format: Commit after Commit or Abort")
	}
	if w.meta == nil {
		return w.fail(errors.New("format: Commit without metadata"))
	}
	w.meta.Format = "gemmatool"
	mj, err := json.Marshal(w.meta)
	if err != nil {
		return w.fail(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		return w.fail(err)
	}
	defer enc.Close()
	var secs []sectionEntry
	add := func(kind uint32, flags uint32, name string, raw []byte, compress bool) error {
		stored := raw
		if compress {
			stored = enc.EncodeAll(raw, nil)
			flags |= sectionZstd
		}
		if err := w.pad(8); err != nil {
			return err
		}
		secs = append(secs, sectionEntry{Kind: kind, Flags: flags, Offset: w.off, Stored: int64(len(stored)),
			Raw: int64(len(raw)), CRC: crc32.Checksum(stored, castagnoli), Name: name})
		_, err := w.bw.Write(stored)
		w.off += int64(len(stored))
		return err
	}
	if err := add(SectionMeta, sectionRequired, "meta", mj, true); err != nil {
		return w.fail(err)
	}
	if err := add(SectionTensors, sectionRequired, "tensors", encodeDirectory(w.tensors), false); err != nil {
		return w.fail(err)
	}
	for _, b := range w.files {
		if err := add(SectionFile, 0, b.name, b.data, true); err != nil {
			return w.fail(err)
		}
	}
	if w.tokenizer != nil {
		if err := add(SectionTokenizer, 0, tokenizerName, w.tokenizer, false); err != nil {
			return w.fail(err)
		}
	}
	if err := w.pad(8); err != nil {
		return w.fail(err)
	}
	tableOff := w.off
	var table bytes.Buffer
	for _, s := range secs {
		table.Write(s.encode())
	}
	if _, err := w.bw.Write(table.Bytes()); err != nil {
		return w.fail(err)
	}
	w.off += int64(table.Len())
	if err := w.bw.Flush(); err != nil {
		return w.fail(err)
	}
	hdr := make([]byte, HeaderSize)
	copy(hdr, Magic)
	binary.LittleEndian.PutUint16(hdr[8:], VersionMajor)
	binary.LittleEndian.PutUint16(hdr[10:], VersionMinor)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(tableOff))
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(secs)))
	binary.LittleEndian.PutUint32(hdr[28:], crc32.Checksum(table.Bytes(), castagnoli))
	binary.LittleEndian.PutUint64(hdr[32:], uint64(w.off))
	if _, err := w.f.WriteAt(hdr, 0); err != nil {
		return w.fail(err)
	}
	if err := w.f.Commit(); err != nil {
		return w.fail(err)
	}
	w.done = true
	return nil
}

// Abort discards the temporary file. It is safe to call after Commit (then it does nothing).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Abort()
}

func encodeDirectory(ts []TensorInfo) []byte {
	var b bytes.Buffer
	var tmp [8]byte
	binary.LittleEndian.PutUint32(tmp[:4], uint32(len(ts)))
	b.Write(tmp[:4])
	for _, t := range ts {
		binary.LittleEndian.PutUint16(tmp[:2], uint16(len(t.Name)))
		b.Write(tmp[:2])
		b.WriteString(t.Name)
		binary.LittleEndian.PutUint16(tmp[:2], uint16(t.DType))
		b.Write(tmp[:2])
		b.WriteByte(byte(len(t.Shape)))
		b.WriteByte(0)
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(tmp[:], uint64(d))
			b.Write(tmp[:])
		}
		binary.LittleEndian.PutUint64(tmp[:], uint64(t.Offset))
		b.Write(tmp[:])
		binary.LittleEndian.PutUint64(tmp[:], uint64(t.Length))
		b.Write(tmp[:])
		binary.LittleEndian.PutUint32(tmp[:4], t.CRC)
		b.Write(tmp[:4])
		binary.LittleEndian.PutUint32(tmp[:4], math.Float32bits(t.Scale))
		b.Write(tmp[:4])
	}
	return b.Bytes()
}

type sectionEntry struct {
	Kind, Flags uint32
	Offset      int64
	Stored, Raw int64
	CRC         uint32
	Name        string
}

func (s sectionEntry) encode() []byte {
	b := make([]byte, SectionEntrySize)
	binary.LittleEndian.PutUint32(b[0:], s.Kind)
	binary.LittleEndian.PutUint32(b[4:], s.Flags)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.Offset))
	binary.LittleEndian.PutUint64(b[16:], uint64(s.Stored))
	binary.LittleEndian.PutUint64(b[24:], uint64(s.Raw))
	binary.LittleEndian.PutUint32(b[32:], s.CRC)
	copy(b[36:], s.Name)
	return b
}
