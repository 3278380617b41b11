package format

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// Constants of the container; doc.go explains each.
const (
	Magic            = "GMTF\r\n\x1a\n"
	VersionMajor     = 1
	VersionMinor     = 2
	HeaderSize       = 64
	Alignment        = 64
	SectionEntrySize = 64
	sectionNameLen   = 28
	MaxNameLen       = 512
	MaxRank          = 8

	SectionMeta    = 1
	SectionTensors = 2
	SectionFile    = 3
	// SectionTokenizer holds the tokenizer's resolved tables (since minor version 2).
	SectionTokenizer = 4

	sectionZstd     = 1 << 0
	sectionRequired = 1 << 1
)

// Options are the reader's limits. The zero value means the defaults.
type Options struct {
	// MaxSections caps the section count (default 1024).
	MaxSections int
	// MaxTensors caps the tensor count (default 1<<20).
	MaxTensors int
	// MaxSectionBytes caps the decompressed size of any section (default 512 MiB: the Gemma 3
	// tokenizer.json is 33 MB).
	MaxSectionBytes int64
}

func (o *Options) defaults() {
	if o.MaxSections <= 0 {
		o.MaxSections = 1024
	}
	if o.MaxTensors <= 0 {
		o.MaxTensors = 1 << 20
	}
	if o.MaxSectionBytes <= 0 {
		o.MaxSectionBytes = 512 << 20
	}
}

// TensorInfo is one directory entry.
type TensorInfo struct {
	Name   string
	DType  DType
	Shape  []int64
	Offset int64 // absolute byte offset of the payload in the file
	Length int64 // payload bytes (= LayoutOf(DType, Shape).Size)
	CRC    uint32
	Scale  float32 // per-tensor scale; 1 unless the type uses one
}

// Tensor is a directory entry with its payload, a slice of the file mapping (read only).
type Tensor struct {
	TensorInfo
	Layout Layout
	Data   []byte
}

// File is an open gemmatool file. Its tensors' Data slices alias a read-only memory mapping
// and stay valid until Close.
type File struct {
	Path     string
	Major    int
	Minor    int
	Meta     Metadata
	m        *Mapped
	data     []byte // m's bytes
	tensors  []Tensor
	verified []atomic.Bool // per tensor: payload CRC checked
	byName   map[string]int
	sections []sectionEntry
	opts     Options

	tok       *sectionEntry // the tokenizer tables section, checked at open; nil if none
	tokLayout tokLayout
}

// Open maps path (a regular file; see [Map]) and validates the header, section table,
// metadata and tensor directory: every payload lies inside the data region, starts at a
// multiple of [Alignment], has the length its type and shape imply, and overlaps no other
// payload; and every other rule doc.go states as checked at open (reserved bytes, section
// names and flags, padding, scales, the model configuration against the tensor shapes).
// Checksums of payloads are verified only by [File.VerifyChecksums] and [File.VerifyTensor].
func Open(path string, opts *Options) (*File, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.defaults()
	m, err := Map(path)
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, m: m, data: m.Bytes(), opts: o}
	if err := m.Guard(f.parse); err != nil {
		f.Close()
		return nil, err
	}
	f.verified = make([]atomic.Bool, len(f.tensors))
	return f, nil
}

// Close releases the mapping. Tensor data must not be used afterwards.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	m := f.m
	f.m, f.data = nil, nil
	return m.Close()
}

// Mapped returns the file's mapping, for reads under [Mapped.Guard] and page release.
func (f *File) Mapped() *Mapped { return f.m }

// Guard runs fn, which reads tensor data, turning a memory fault (the file truncated while
// mapped) into an error wrapping [ErrChanged]; see [Mapped.Guard].
func (f *File) Guard(fn func() error) error { return f.m.Guard(fn) }

func (f *File) errf(off int64, tensor string, sentinel error, format string, args ...any) error {
	return &Error{Path: f.Path, Offset: off, Tensor: tensor, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (f *File) parse() error {
	size := int64(len(f.data))
	if size < HeaderSize {
		return f.errf(0, "", ErrFormat, "file has %d bytes, shorter than the %d-byte header", size, HeaderSize)
	}
	h := f.data[:HeaderSize]
	if string(h[:8]) != Magic {
		return f.errf(0, "", ErrFormat, "bad magic %q, want %q (not a gemmatool file)", h[:8], Magic)
	}
	f.Major = int(binary.LittleEndian.Uint16(h[8:]))
	f.Minor = int(binary.LittleEndian.Uint16(h[10:]))
	if f.Major != VersionMajor {
		return f.errf(8, "", ErrUnsupported, "format version %d.%d, this reader handles %d.x", f.Major, f.Minor, VersionMajor)
	}
	if fl := binary.LittleEndian.Uint32(h[12:]); fl != 0 {
		return f.errf(12, "", ErrUnsupported, "header flags %#x, want 0", fl)
	}
	for i, c := range h[40:HeaderSize] {
		if c != 0 {
			return f.errf(int64(40+i), "", ErrFormat, "reserved header byte %d is %#02x, want 0", 40+i, c)
		}
	}
	tableOff := binary.LittleEndian.Uint64(h[16:])
	count := binary.LittleEndian.Uint32(h[24:])
	tableCRC := binary.LittleEndian.Uint32(h[28:])
	fileSize := binary.LittleEndian.Uint64(h[32:])
	if fileSize != uint64(size) {
		return f.errf(32, "", ErrFormat, "header records file size %d, file has %d bytes (truncated or extended)", fileSize, size)
	}
	if int64(count) > int64(f.opts.MaxSections) || count == 0 {
		return f.errf(24, "", ErrFormat, "section count %d, want 1..%d", count, f.opts.MaxSections)
	}
	tableLen := uint64(count) * SectionEntrySize
	if tableOff < HeaderSize || tableOff > uint64(size) || tableLen > uint64(size)-tableOff {
		return f.errf(16, "", ErrFormat, "section table [%#x, +%d) outside the file (size %#x)", tableOff, tableLen, size)
	}
	if tableOff%8 != 0 {
		return f.errf(16, "", ErrFormat, "section table offset %#x not a multiple of 8", tableOff)
	}
	table := f.data[tableOff : tableOff+tableLen]
	if crc32.Checksum(table, castagnoli) != tableCRC {
		return f.errf(int64(tableOff), "", ErrChecksum, "section table checksum mismatch")
	}
	var meta, dir, tok *sectionEntry
	var tokEntry int64
	files := map[string]bool{}
	for i := 0; i < int(count); i++ {
		b := table[i*SectionEntrySize:]
		off := int64(tableOff) + int64(i*SectionEntrySize)
		s := sectionEntry{Kind: binary.LittleEndian.Uint32(b[0:]), Flags: binary.LittleEndian.Uint32(b[4:]),
			Offset: int64(binary.LittleEndian.Uint64(b[8:])), Stored: int64(binary.LittleEndian.Uint64(b[16:])),
			Raw: int64(binary.LittleEndian.Uint64(b[24:])), CRC: binary.LittleEndian.Uint32(b[32:]),
			Name: string(bytes.TrimRight(b[36:64], "\x00"))}
		if s.Name == "" || strings.IndexByte(s.Name, 0) >= 0 || !utf8.ValidString(s.Name) {
			return f.errf(off+36, "", ErrFormat, "section %d name %q: want non-empty UTF-8 followed only by NUL padding", i, s.Name)
		}
		if s.Offset%8 != 0 {
			return f.errf(off+8, "", ErrFormat, "section %q offset %#x not a multiple of 8", s.Name, s.Offset)
		}
		if s.Offset < HeaderSize || s.Offset > int64(tableOff) || s.Stored < 0 || s.Stored > int64(tableOff)-s.Offset {
			return f.errf(off, "", ErrFormat, "section %q [%#x, +%d) outside the sections region [%#x, %#x)", s.Name, s.Offset, s.Stored, HeaderSize, tableOff)
		}
		if s.Raw < 0 || s.Raw > f.opts.MaxSectionBytes {
			return f.errf(off, "", ErrFormat, "section %q raw size %d above the limit %d", s.Name, s.Raw, f.opts.MaxSectionBytes)
		}
		if s.Flags&^(sectionZstd|sectionRequired) != 0 {
			return f.errf(off+4, "", ErrUnsupported, "section %q has unknown flags %#x", s.Name, s.Flags)
		}
		if s.Raw > max(minRatioCap, maxRatio*s.Stored) {
			return f.errf(off, "", ErrFormat, "section %q claims %d bytes from %d stored: beyond %d× compression (and above %d bytes)", s.Name, s.Raw, s.Stored, maxRatio, minRatioCap)
		}
		if s.Flags&sectionZstd == 0 && s.Raw != s.Stored {
			return f.errf(off, "", ErrFormat, "uncompressed section %q: raw size %d != stored %d", s.Name, s.Raw, s.Stored)
		}
		switch s.Kind {
		case SectionMeta:
			if meta != nil {
				return f.errf(off, "", ErrFormat, "two metadata sections")
			}
			if s.Name != "meta" || s.Flags != sectionZstd|sectionRequired {
				return f.errf(off, "", ErrFormat, "metadata section %q with flags %#x, want name \"meta\" and flags %#x (zstd, required)", s.Name, s.Flags, sectionZstd|sectionRequired)
			}
			meta = &s
		case SectionTensors:
			if dir != nil {
				return f.errf(off, "", ErrFormat, "two tensor directories")
			}
			if s.Name != "tensors" || s.Flags != sectionRequired {
				return f.errf(off, "", ErrFormat, "tensor directory section %q with flags %#x, want name \"tensors\" and flags %#x (required, not compressed)", s.Name, s.Flags, sectionRequired)
			}
			dir = &s
		case SectionFile:
			if s.Flags&sectionZstd == 0 {
				return f.errf(off+4, "", ErrFormat, "embedded file %q is not zstd-compressed (flags %#x)", s.Name, s.Flags)
			}
			if files[s.Name] {
				return f.errf(off+36, "", ErrFormat, "two embedded files named %q", s.Name)
			}
			files[s.Name] = true
		case SectionTokenizer:
			if tok != nil {
				return f.errf(off, "", ErrFormat, "two tokenizer sections")
			}
			tok, tokEntry = &s, off
		default:
			if s.Flags&sectionRequired != 0 {
				return f.errf(off, "", ErrUnsupported, "required section %q of unknown kind %d", s.Name, s.Kind)
			}
		}
		f.sections = append(f.sections, s)
	}
	if meta == nil || dir == nil {
		return f.errf(int64(tableOff), "", ErrFormat, "missing metadata or tensor directory section")
	}
	mb, err := f.sectionBytes(*meta)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(mb, &f.Meta); err != nil {
		return f.errf(meta.Offset, "", ErrFormat, "metadata is not valid JSON: %v", err)
	}
	if f.Meta.Format != "gemmatool" {
		return f.errf(meta.Offset, "", ErrFormat, "metadata format %q, want \"gemmatool\"", f.Meta.Format)
	}
	db, err := f.sectionBytes(*dir)
	if err != nil {
		return err
	}
	if err := f.parseDirectory(db, dir.Offset, int64(tableOff)); err != nil {
		return err
	}
	if tok != nil {
		if err := f.parseTokenizer(tok, tokEntry); err != nil {
			return err
		}
	}
	return f.checkModel(meta.Offset)
}

// checkModel checks the metadata's model configuration, when the file has one (a non-zero
// text vocab_size, hidden_size or num_hidden_layers), for internal consistency and against
// the shapes of the tensors it describes.
func (f *File) checkModel(metaOff int64) error {
	m := &f.Meta.Model
	if m.Text.VocabSize == 0 && m.Text.HiddenSize == 0 && m.Text.NumLayers == 0 {
		return nil
	}
	if err := m.Validate(); err != nil {
		return f.errf(metaOff, "", ErrFormat, "metadata: %v", err)
	}
	for _, t := range f.tensors {
		want, ok := m.ExpectedShape(t.Name)
		switch {
		case !ok:
		case want == nil:
			return f.errf(t.Offset, t.Name, ErrFormat, "layer beyond the metadata's layer count")
		case !slices.Equal(want, t.Shape):
			return f.errf(t.Offset, t.Name, ErrFormat, "shape %v, the metadata's model configuration implies %v", t.Shape, want)
		}
	}
	return nil
}

// sectionBytes returns a section's content, checking its CRC and decompressing it.
func (f *File) sectionBytes(s sectionEntry) ([]byte, error) {
	stored := f.data[s.Offset : s.Offset+s.Stored]
	if crc32.Checksum(stored, castagnoli) != s.CRC {
		return nil, f.errf(s.Offset, "", ErrChecksum, "section %q checksum mismatch", s.Name)
	}
	if s.Flags&sectionZstd == 0 {
		return stored, nil
	}
	out, err := decompress(stored, s.Raw)
	if err != nil {
		return nil, f.errf(s.Offset, "", ErrFormat, "section %q: %v", s.Name, err)
	}
	if int64(len(out)) != s.Raw {
		return nil, f.errf(s.Offset, "", ErrFormat, "section %q decompresses to %d bytes, header says %d", s.Name, len(out), s.Raw)
	}
	return out, nil
}

// A section's raw length may exceed minRatioCap only within maxRatio times its stored
// length, so that memory follows the bytes present: a 1 MB file cannot make a reader
// decompress hundreds of megabytes of run-length blocks. Real sections compress 5–10×
// (tokenizer.json), and the small ones up to about 80× (tokenizer_config.json, 1 MB).
const (
	maxRatio    = 64
	minRatioCap = 16 << 20
)

// maxWindow caps the zstd window (history) of a section's frame that records no content
// size: 8 MiB, what zstd's levels up to 19 use. A single-segment frame's window is its
// content size, capped by the section's raw size.
const maxWindow = 8 << 20

// decompress decodes one or more zstd frames with a streaming decoder, producing at most
// raw+1 bytes. Memory follows the bytes actually produced (the output grows as it is
// decoded, never allocated from the recorded size up front), and frames without a
// recorded content size (as zstd writes from a pipe) decode like any other.
func decompress(stored []byte, raw int64) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(stored), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(uint64(max(raw, maxWindow))))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var buf bytes.Buffer
	// Start from what the stored bytes suggest (a tokenizer.json compresses about 8:1), capped by
	// the recorded size; ReadFrom grows the buffer as output arrives.
	buf.Grow(int(min(raw+1, 4*int64(len(stored))+4096)))
	if _, err := buf.ReadFrom(io.LimitReader(dec, raw+1)); err != nil {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	return buf.Bytes(), nil
}

func (f *File) parseDirectory(b []byte, base, dataEnd int64) error {
	pos := 0
	need := func(n int) error {
		if n > len(b)-pos {
			return f.errf(base+int64(pos), "", ErrFormat, "tensor directory ends early: need %d bytes, %d left", n, len(b)-pos)
		}
		return nil
	}
	if err := need(4); err != nil {
		return err
	}
	count := int64(binary.LittleEndian.Uint32(b))
	pos = 4
	// Each entry takes at least 2+1+2+2+8+8+4+4 = 31 bytes: bound the count by the bytes left.
	if count > int64(f.opts.MaxTensors) || count > int64(len(b)-4)/31 {
		return f.errf(base, "", ErrFormat, "tensor count %d exceeds the limit or the directory size", count)
	}
	f.tensors = make([]Tensor, 0, count)
	f.byName = make(map[string]int, count)
	for i := int64(0); i < count; i++ {
		at := base + int64(pos)
		if err := need(2); err != nil {
			return err
		}
		nl := int(binary.LittleEndian.Uint16(b[pos:]))
		pos += 2
		if nl == 0 || nl > MaxNameLen {
			return f.errf(at, "", ErrFormat, "tensor %d name length %d, want 1..%d", i, nl, MaxNameLen)
		}
		if err := need(nl + 4); err != nil {
			return err
		}
		name := string(b[pos : pos+nl])
		pos += nl
		if !utf8.ValidString(name) {
			return f.errf(at, "", ErrFormat, "tensor %d name is not UTF-8", i)
		}
		if _, dup := f.byName[name]; dup {
			return f.errf(at, name, ErrFormat, "duplicate tensor name")
		}
		t := Tensor{}
		t.Name = name
		t.DType = DType(binary.LittleEndian.Uint16(b[pos:]))
		rank := int(b[pos+2])
		if b[pos+3] != 0 {
			return f.errf(base+int64(pos+3), name, ErrUnsupported, "tensor flags %#x, want 0", b[pos+3])
		}
		pos += 4
		if rank > MaxRank {
			return f.errf(base+int64(pos-2), name, ErrFormat, "rank %d above %d", rank, MaxRank)
		}
		if err := need(rank*8 + 24); err != nil {
			return err
		}
		t.Shape = make([]int64, rank)
		for k := range t.Shape {
			d := binary.LittleEndian.Uint64(b[pos:])
			if d > MaxElements {
				return f.errf(base+int64(pos), name, ErrFormat, "dimension %d = %d too large", k, d)
			}
			t.Shape[k] = int64(d)
			pos += 8
		}
		off, length := binary.LittleEndian.Uint64(b[pos:]), binary.LittleEndian.Uint64(b[pos+8:])
		t.CRC = binary.LittleEndian.Uint32(b[pos+16:])
		t.Scale = math.Float32frombits(binary.LittleEndian.Uint32(b[pos+20:]))
		pos += 24
		if !t.DType.Known() {
			return f.errf(at, name, ErrUnsupported, "tensor type %d is not known to this reader", uint16(t.DType))
		}
		l, err := LayoutOf(t.DType, t.Shape)
		if err != nil {
			return f.errf(at, name, ErrFormat, "%v", err)
		}
		if length != uint64(l.Size) {
			return f.errf(at, name, ErrFormat, "payload length %d, its %v %v layout needs %d", length, t.DType, t.Shape, l.Size)
		}
		if off%Alignment != 0 {
			return f.errf(at, name, ErrFormat, "payload offset %#x not a multiple of %d", off, Alignment)
		}
		if off < HeaderSize || off > uint64(dataEnd) || length > uint64(dataEnd)-off {
			return f.errf(at, name, ErrFormat, "data [%#x, %#x) outside the data region [%#x, %#x)", off, off+length, HeaderSize, dataEnd)
		}
		if t.DType == SFP8 {
			if !(t.Scale > 0) || math.IsInf(float64(t.Scale), 0) {
				return f.errf(at, name, ErrFormat, "sfp8 tensor scale %v, want a finite number > 0", t.Scale)
			}
		} else if t.Scale != 1 {
			return f.errf(at, name, ErrFormat, "tensor scale %v on a %v tensor, want 1 (only sfp8 has a tensor scale)", t.Scale, t.DType)
		}
		t.Offset, t.Length, t.Layout = int64(off), int64(length), l
		t.Data = f.data[off : off+length : off+length]
		if err := f.checkPlanes(t); err != nil {
			return err
		}
		f.byName[name] = len(f.tensors)
		f.tensors = append(f.tensors, t)
	}
	if pos != len(b) {
		return f.errf(base+int64(pos), "", ErrFormat, "%d trailing bytes after the tensor directory", len(b)-pos)
	}
	// No two payloads may overlap, and none may overlap a section.
	type span struct {
		lo, hi int64
		name   string
	}
	spans := make([]span, 0, len(f.tensors)+len(f.sections))
	for _, t := range f.tensors {
		if t.Length > 0 {
			spans = append(spans, span{t.Offset, t.Offset + t.Length, "tensor " + t.Name})
		}
	}
	for _, s := range f.sections {
		if s.Stored > 0 {
			spans = append(spans, span{s.Offset, s.Offset + s.Stored, "section " + s.Name})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo < spans[i-1].hi {
			return f.errf(spans[i].lo, "", ErrFormat, "%s overlaps %s", spans[i].name, spans[i-1].name)
		}
	}
	// Every byte of the data region outside payloads and sections is padding: fewer than
	// 64 bytes at a time (the writer only pads to the next boundary) and zero.
	end := int64(HeaderSize)
	for _, sp := range append(spans, span{dataEnd, dataEnd, "the section table"}) {
		if sp.lo-end >= Alignment {
			return f.errf(end, "", ErrFormat, "%d unaccounted bytes before %s (padding is under %d bytes)", sp.lo-end, sp.name, Alignment)
		}
		for p := end; p < sp.lo; p++ {
			if f.data[p] != 0 {
				return f.errf(p, "", ErrFormat, "padding byte before %s is %#02x, want 0", sp.name, f.data[p])
			}
		}
		end = max(end, sp.hi)
	}
	return nil
}

// checkPlanes checks what a packed payload's structure promises beyond its size: the
// padding between the codes and scales planes is zero, and every I4 or FP8 row scale is a
// finite number > 0 (the encoders write 1 for an all-zero row). Reading the row scales
// costs 4 bytes per row at open.
func (f *File) checkPlanes(t Tensor) error {
	l := t.Layout
	if l.ScalesLen == 0 {
		return nil
	}
	for p := l.CodesOff + l.CodesLen; p < l.ScalesOff; p++ {
		if t.Data[p] != 0 {
			return f.errf(t.Offset+p, t.Name, ErrFormat, "padding byte between the codes and scales planes is %#02x, want 0", t.Data[p])
		}
	}
	if t.DType != I4 && t.DType != FP8 {
		return nil
	}
	scales := t.Data[l.ScalesOff : l.ScalesOff+l.ScalesLen]
	for i := 0; i+4 <= len(scales); i += 4 {
		s := math.Float32frombits(binary.LittleEndian.Uint32(scales[i:]))
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return f.errf(t.Offset+l.ScalesOff+int64(i), t.Name, ErrFormat, "row %d scale %v, want a finite number > 0", i/4, s)
		}
	}
	return nil
}

// Tensors returns the directory in file order.
func (f *File) Tensors() []Tensor { return f.tensors }

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return f.tensors[i], true
}

// FileNames lists the embedded files.
func (f *File) FileNames() []string {
	var n []string
	for _, s := range f.sections {
		if s.Kind == SectionFile {
			n = append(n, s.Name)
		}
	}
	return n
}

// EmbeddedFile returns the decompressed content of an embedded file, and false when absent.
func (f *File) EmbeddedFile(name string) ([]byte, bool, error) {
	for _, s := range f.sections {
		if s.Kind == SectionFile && s.Name == name {
			var b []byte
			err := f.m.Guard(func() (err error) {
				b, err = f.sectionBytes(s)
				if err == nil && s.Flags&sectionZstd == 0 {
					b = bytes.Clone(b) // never hand out the mapping itself
				}
				return err
			})
			return b, err == nil, err
		}
	}
	return nil, false, nil
}

// ReadAt reads bytes [off, off+len(p)) of the file with pread(2) instead of through the
// mapping; see [Mapped.ReadAt].
func (f *File) ReadAt(p []byte, off int64) error { return f.m.ReadAt(p, off) }

// Size returns the file size in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// release drops the process's pages of the mapping that cover [off, off+n), widened to
// whole pages.
func (f *File) release(off, n int64) { f.m.Release(off, n) }

// Populate maps t's payload pages into the process ahead of its first read (best effort; see
// [Mapped.Populate]). A file that is not mapped ignores it.
func (f *File) Populate(t Tensor) {
	if f.m != nil {
		f.m.Populate(t.Offset, t.Length)
	}
}

// Release drops the process's pages of bytes [lo, hi) of t's payload, widened to whole pages
// (they stay in the page cache): for a caller that has copied the payload elsewhere, or
// streamed over it once, so that the resident set does not hold the mapping too. t.Data stays
// valid; reading it faults the pages in again. Safe for concurrent use.
func (f *File) Release(t Tensor, lo, hi int64) {
	lo, hi = max(0, lo), min(hi, t.Length)
	if lo < hi {
		f.release(t.Offset+lo, hi-lo)
	}
}

// VerifyChecksums recomputes the CRC-32C of every payload and of every section (metadata,
// directory and embedded files, whose stored bytes are also decompressed to their recorded
// size) and returns the first mismatch, naming the tensor or section. progress, when not
// nil, is called with the payload bytes checked so far. A memory fault (the file truncated
// while mapped) is an error wrapping [ErrChanged].
func (f *File) VerifyChecksums(progress func(done, total int64)) error {
	var total, done int64
	for _, t := range f.tensors {
		total += t.Length
	}
	for i := range f.tensors {
		if err := f.verifyTensor(i); err != nil {
			return err
		}
		done += f.tensors[i].Length
		if progress != nil {
			progress(done, total)
		}
	}
	return f.m.Guard(func() error {
		for _, s := range f.sections {
			if _, err := f.sectionBytes(s); err != nil {
				return err
			}
			f.release(s.Offset, s.Stored)
		}
		return nil
	})
}

// VerifyTensor checks the CRC-32C of t's payload (once per open file: a tensor already
// verified returns nil at once). Readers that stream a payload into a new file call it
// first, so that a corrupted payload is refused rather than copied under fresh checksums.
func (f *File) VerifyTensor(name string) error {
	i, ok := f.byName[name]
	if !ok {
		return &Error{Path: f.Path, Offset: -1, Tensor: name, Msg: "no such tensor", Err: ErrFormat}
	}
	return f.verifyTensor(i)
}

func (f *File) verifyTensor(i int) error {
	if f.verified[i].Load() {
		return nil
	}
	t := f.tensors[i]
	err := f.m.Guard(func() error {
		// Checksum in 64 MiB pieces, releasing each piece's pages, so that verifying a
		// file larger than memory keeps a small resident set.
		var c uint32
		for off := int64(0); off < t.Length; off += 64 << 20 {
			n := min(t.Length-off, 64<<20)
			c = crc32.Update(c, castagnoli, t.Data[off:off+n])
			f.release(t.Offset+off, n)
		}
		if c != t.CRC {
			return f.errf(t.Offset, t.Name, ErrChecksum, "payload CRC-32C %08x, directory records %08x", c, t.CRC)
		}
		return nil
	})
	if err == nil {
		f.verified[i].Store(true)
	}
	return err
}
