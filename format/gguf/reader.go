package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"unicode/utf8"
)

// Limits are the reader's caps on values read from the file. The zero value means the
// defaults, which hold every released Gemma 3 GGUF with room to spare (262,208 vocabulary
// entries, 514,906 merges, chat templates of a few kilobytes).
type Limits struct {
	// MaxKV caps the key-value count (default 65536).
	MaxKV int
	// MaxTensors caps the tensor count (default 65536; Gemma 3 27B has 808 text tensors).
	MaxTensors int
	// MaxString caps one string's bytes (default 16 MiB).
	MaxString int64
	// MaxArray caps one array's element count (default 1<<24).
	MaxArray int64
	// MaxHeader caps the bytes of everything before the data section (default 1 GiB).
	MaxHeader int64
}

func (l *Limits) defaults() {
	if l.MaxKV <= 0 {
		l.MaxKV = 1 << 16
	}
	if l.MaxTensors <= 0 {
		l.MaxTensors = 1 << 16
	}
	if l.MaxString <= 0 {
		l.MaxString = 16 << 20
	}
	if l.MaxArray <= 0 {
		l.MaxArray = 1 << 24
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = 1 << 30
	}
}

// File is a parsed GGUF file: its metadata and tensor descriptors, with access to payloads.
type File struct {
	Path      string
	Version   uint32
	KV        []KV
	Tensors   []TensorInfo
	Alignment uint64
	// DataOffset is the absolute offset of the data section; Size the file size.
	DataOffset int64
	Size       int64

	r      io.ReaderAt
	closer io.Closer
	keys   map[string]int
	names  map[string]int
}

// Open opens and parses the GGUF file at path. Payloads are read on demand through
// [File.TensorReader]; Close releases the file.
func Open(path string, lim *Limits) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f, err := Read(fh, st.Size(), path, lim)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Close closes the underlying file when [Open] opened it.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}

// Get returns the pair with key k.
func (f *File) Get(k string) (KV, bool) {
	i, ok := f.keys[k]
	if !ok {
		return KV{}, false
	}
	return f.KV[i], true
}

// Tensor returns the descriptor of the tensor named name.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.names[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorReader returns a reader of t's payload.
func (f *File) TensorReader(t TensorInfo) *io.SectionReader {
	return io.NewSectionReader(f.r, f.DataOffset+int64(t.Offset), t.Size)
}

// parser reads the header sequentially, tracking the absolute offset.
type parser struct {
	path string
	br   *bufio.Reader
	off  int64
	size int64
	lim  Limits
	what string
	buf  [8]byte
}

func (p *parser) fail(sentinel error, format string, args ...any) error {
	return &Error{Path: p.path, Offset: p.off, What: p.what, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (p *parser) left() int64 { return p.size - p.off }

func (p *parser) read(n int) ([]byte, error) {
	if int64(n) > p.left() {
		return nil, p.fail(ErrFormat, "file ends after %d bytes, %d more needed", p.size, int64(n)-p.left())
	}
	b := p.buf[:n]
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, fmt.Errorf("gguf: %s: read at %#x: %w", p.path, p.off, err)
	}
	p.off += int64(n)
	return b, nil
}

func (p *parser) u32() (uint32, error) {
	b, err := p.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (p *parser) u64() (uint64, error) {
	b, err := p.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a u64 count of elements of at least minSize bytes each and checks it against
// limit and the bytes left.
func (p *parser) count(limit int64, minSize int64, what string) (int64, error) {
	start := p.off
	n, err := p.u64()
	if err != nil {
		return 0, err
	}
	if n > uint64(limit) {
		p.off = start
		return 0, p.fail(ErrFormat, "%s %d above the limit %d", what, n, limit)
	}
	if int64(n) > p.left()/minSize {
		p.off = start
		return 0, p.fail(ErrFormat, "%s %d needs at least %d bytes, %d left in the file", what, n, int64(n)*minSize, p.left())
	}
	return int64(n), nil
}

func (p *parser) str() (string, error) {
	n, err := p.count(p.lim.MaxString, 1, "string length")
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.br, b); err != nil {
		return "", fmt.Errorf("gguf: %s: read at %#x: %w", p.path, p.off, err)
	}
	if !utf8.Valid(b) {
		return "", p.fail(ErrFormat, "string of %d bytes is not UTF-8", n)
	}
	p.off += n
	return string(b), nil
}

// Read parses a GGUF file of size bytes from r; path names it in errors.
func Read(r io.ReaderAt, size int64, path string, lim *Limits) (*File, error) {
	p := &parser{path: path, size: size}
	if lim != nil {
		p.lim = *lim
	}
	p.lim.defaults()
	p.br = bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16)
	f := &File{Path: path, Size: size, r: r, keys: map[string]int{}, names: map[string]int{}}
	magic, err := p.read(4)
	if err != nil {
		return nil, err
	}
	if string(magic) != Magic {
		p.off = 0
		return nil, p.fail(ErrFormat, "magic %q, want %q", magic, Magic)
	}
	if f.Version, err = p.u32(); err != nil {
		return nil, err
	}
	if f.Version != 2 && f.Version != 3 {
		p.off -= 4
		return nil, p.fail(ErrUnsupported, "version %d, want 2 or 3", f.Version)
	}
	// A tensor descriptor takes at least 8+4+8+4+8 bytes, a pair at least 8+4+1.
	nt, err := p.count(int64(p.lim.MaxTensors), 32, "tensor count")
	if err != nil {
		return nil, err
	}
	nkv, err := p.count(int64(p.lim.MaxKV), 13, "key-value count")
	if err != nil {
		return nil, err
	}
	f.KV = make([]KV, 0, nkv)
	for range nkv {
		p.what = ""
		kvOff := p.off
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.what = fmt.Sprintf("key %q", k)
		if _, dup := f.keys[k]; dup {
			p.off = kvOff
			return nil, p.fail(ErrFormat, "key appears twice")
		}
		vt, err := p.u32()
		if err != nil {
			return nil, err
		}
		v, err := p.value(ValueType(vt), true)
		if err != nil {
			return nil, err
		}
		f.keys[k] = len(f.KV)
		f.KV = append(f.KV, KV{Key: k, Type: ValueType(vt), Value: v})
		if p.off > p.lim.MaxHeader {
			return nil, p.fail(ErrFormat, "metadata larger than the limit of %d bytes", p.lim.MaxHeader)
		}
	}
	f.Alignment = DefaultAlignment
	if kv, ok := f.Get("general.alignment"); ok {
		a, ok := kv.Value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<20 {
			p.what = `key "general.alignment"`
			return nil, p.fail(ErrFormat, "alignment %v (%v), want a u32 power of two up to 1 MiB", kv.Value, kv.Type)
		}
		f.Alignment = uint64(a)
	}
	f.Tensors = make([]TensorInfo, 0, nt)
	for range nt {
		p.what = ""
		tOff := p.off
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.what = fmt.Sprintf("tensor %q", name)
		if _, dup := f.names[name]; dup {
			p.off = tOff
			return nil, p.fail(ErrFormat, "tensor name appears twice")
		}
		nd, err := p.u32()
		if err != nil {
			return nil, err
		}
		if nd == 0 || nd > MaxDims {
			p.off -= 4
			return nil, p.fail(ErrFormat, "rank %d, want 1..%d", nd, MaxDims)
		}
		ne := make([]uint64, nd)
		for i := range ne {
			if ne[i], err = p.u64(); err != nil {
				return nil, err
			}
		}
		typ, err := p.u32()
		if err != nil {
			return nil, err
		}
		off, err := p.u64()
		if err != nil {
			return nil, err
		}
		if _, ok := Type(typ).Info(); !ok {
			p.off -= 12
			return nil, p.fail(ErrUnsupported, "unknown GGML type %d", typ)
		}
		n, err := Size(Type(typ), ne)
		if err != nil {
			p.off = tOff
			return nil, p.fail(ErrFormat, "%v", err)
		}
		if off%f.Alignment != 0 {
			p.off -= 8
			return nil, p.fail(ErrFormat, "data offset %#x is not a multiple of the alignment %d", off, f.Alignment)
		}
		f.names[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, TensorInfo{Name: name, Ne: ne, Type: Type(typ), Offset: off, Size: n})
		if p.off > p.lim.MaxHeader {
			return nil, p.fail(ErrFormat, "header larger than the limit of %d bytes", p.lim.MaxHeader)
		}
	}
	p.what = ""
	data := (uint64(p.off) + f.Alignment - 1) / f.Alignment * f.Alignment
	if data > uint64(size) {
		if nt == 0 {
			data = uint64(size)
		} else {
			return nil, p.fail(ErrFormat, "data section starts at %#x, beyond the file size %#x", data, size)
		}
	}
	f.DataOffset = int64(data)
	if err := f.checkPayloads(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkPayloads checks that every payload lies inside the file and that none overlap.
func (f *File) checkPayloads() error {
	room := uint64(f.Size - f.DataOffset)
	idx := make([]int, len(f.Tensors))
	for i, t := range f.Tensors {
		idx[i] = i
		if t.Offset > room || uint64(t.Size) > room-t.Offset {
			return &Error{Path: f.Path, Offset: f.DataOffset, What: fmt.Sprintf("tensor %q", t.Name), Err: ErrFormat,
				Msg: fmt.Sprintf("data [%#x, %#x) ends beyond the file size %#x", f.DataOffset+int64(t.Offset), uint64(f.DataOffset)+t.Offset+uint64(t.Size), f.Size)}
		}
	}
	sort.Slice(idx, func(a, b int) bool { return f.Tensors[idx[a]].Offset < f.Tensors[idx[b]].Offset })
	for k := 1; k < len(idx); k++ {
		a, b := f.Tensors[idx[k-1]], f.Tensors[idx[k]]
		if a.Offset+uint64(a.Size) > b.Offset {
			return &Error{Path: f.Path, Offset: f.DataOffset + int64(b.Offset), What: fmt.Sprintf("tensor %q", b.Name), Err: ErrFormat,
				Msg: fmt.Sprintf("data overlaps tensor %q ([%#x, %#x))", a.Name, f.DataOffset+int64(a.Offset), f.DataOffset+int64(a.Offset)+a.Size)}
		}
	}
	return nil
}

// value reads one value of type vt; arrays are allowed only at the top level.
func (p *parser) value(vt ValueType, top bool) (any, error) {
	switch vt {
	case TypeString:
		return p.str()
	case TypeArray:
		if !top {
			return nil, p.fail(ErrUnsupported, "array of arrays")
		}
		et, err := p.u32()
		if err != nil {
			return nil, err
		}
		return p.array(ValueType(et))
	}
	n := vt.size()
	if n == 0 {
		return nil, p.fail(ErrFormat, "unknown value type %d", uint32(vt))
	}
	b, err := p.read(int(n))
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch vt {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeBool:
		if b[0] > 1 {
			p.off--
			return nil, p.fail(ErrFormat, "bool byte %d, want 0 or 1", b[0])
		}
		return b[0] == 1, nil
	case TypeUint16:
		return le.Uint16(b), nil
	case TypeInt16:
		return int16(le.Uint16(b)), nil
	case TypeUint32:
		return le.Uint32(b), nil
	case TypeInt32:
		return int32(le.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case TypeUint64:
		return le.Uint64(b), nil
	case TypeInt64:
		return int64(le.Uint64(b)), nil
	default: // TypeFloat64
		return math.Float64frombits(le.Uint64(b)), nil
	}
}

func (p *parser) array(et ValueType) (Array, error) {
	minSize := et.size()
	switch et {
	case TypeString:
		minSize = 8
	case TypeArray:
		return Array{}, p.fail(ErrUnsupported, "array of arrays")
	}
	if minSize == 0 {
		return Array{}, p.fail(ErrFormat, "unknown array element type %d", uint32(et))
	}
	n, err := p.count(p.lim.MaxArray, minSize, "array length")
	if err != nil {
		return Array{}, err
	}
	if et == TypeString {
		v := make([]string, n)
		for i := range v {
			if v[i], err = p.str(); err != nil {
				return Array{}, err
			}
		}
		return Array{et, v}, nil
	}
	raw := make([]byte, n*minSize)
	if _, err := io.ReadFull(p.br, raw); err != nil {
		return Array{}, fmt.Errorf("gguf: %s: read at %#x: %w", p.path, p.off, err)
	}
	p.off += int64(len(raw))
	le := binary.LittleEndian
	switch et {
	case TypeUint8:
		return Array{et, raw}, nil
	case TypeInt8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(raw[i])
		}
		return Array{et, v}, nil
	case TypeBool:
		v := make([]bool, n)
		for i := range v {
			if raw[i] > 1 {
				return Array{}, p.fail(ErrFormat, "bool array element %d is %d, want 0 or 1", i, raw[i])
			}
			v[i] = raw[i] == 1
		}
		return Array{et, v}, nil
	case TypeUint16:
		v := make([]uint16, n)
		for i := range v {
			v[i] = le.Uint16(raw[2*i:])
		}
		return Array{et, v}, nil
	case TypeInt16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(le.Uint16(raw[2*i:]))
		}
		return Array{et, v}, nil
	case TypeUint32:
		v := make([]uint32, n)
		for i := range v {
			v[i] = le.Uint32(raw[4*i:])
		}
		return Array{et, v}, nil
	case TypeInt32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(le.Uint32(raw[4*i:]))
		}
		return Array{et, v}, nil
	case TypeFloat32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return Array{et, v}, nil
	case TypeUint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = le.Uint64(raw[8*i:])
		}
		return Array{et, v}, nil
	case TypeInt64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(le.Uint64(raw[8*i:]))
		}
		return Array{et, v}, nil
	default: // TypeFloat64
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return Array{et, v}, nil
	}
}

// IsFormatError reports whether err is a structural GGUF error ([ErrFormat] or
// [ErrUnsupported]).
func IsFormatError(err error) bool {
	return errors.Is(err, ErrFormat) || errors.Is(err, ErrUnsupported)
}
