package convert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// File names of a Hugging Face checkpoint directory.
const (
	ConfigFile    = "config.json"
	GenConfigFile = "generation_config.json"
	SingleFile    = "model.safetensors"
	IndexFile     = "model.safetensors.index.json"
	TokenizerFile = "tokenizer.json"
	maxAuxBytes   = 256 << 20 // tokenizer.json of Gemma 3 is 33 MB
)

// AuxFiles are the checkpoint's non-weight files that a converted file embeds when present
// (config.json always is).
var AuxFiles = []string{
	ConfigFile, GenConfigFile, TokenizerFile, "tokenizer_config.json", "special_tokens_map.json",
	"preprocessor_config.json", "processor_config.json", "chat_template.json", "chat_template.jinja",
}

// Checkpoint is an opened Hugging Face Gemma 3 checkpoint directory: its resolved
// configuration, the conversion plan, and read-only mappings of its safetensors files.
type Checkpoint struct {
	Dir    string
	Config *Config // config.json, with generation_config.json's stop tokens merged
	Plan   *Plan   // built with target "keep"; see [Plan.SetTarget]
	// Weights are the safetensors files (plus the index when sharded), base names.
	Weights []string
	// Aux are the entries of [AuxFiles] present in Dir.
	Aux      []string
	Warnings []string
	maps     map[string]*format.Mapped // safetensors base name → mapping
	tables   *format.TokenizerTables   // the tokenizer's tables, once Files has loaded it
}

// TokenizerTables returns the resolved tables of the checkpoint's tokenizer, which a
// gemmatool file stores beside tokenizer.json; nil before [Checkpoint.Files] or without a
// tokenizer.json.
func (c *Checkpoint) TokenizerTables() *format.TokenizerTables { return c.tables }

// OpenCheckpoint reads dir's config.json (and generation_config.json), maps its safetensors
// file or shards (validating model.safetensors.index.json against the shards' headers in both
// directions), and plans the conversion from the headers. No weight is read. Close releases
// the mappings.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	ck := &Checkpoint{Dir: dir, maps: map[string]*format.Mapped{}}
	if err := ck.open(); err != nil {
		ck.Close()
		return nil, err
	}
	return ck, nil
}

func (ck *Checkpoint) open() error {
	dir := ck.Dir
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if !st.IsDir() {
		return errAt(dir, "", -1, ErrCheckpoint, "not a directory (want a Hugging Face checkpoint directory)")
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	data, err := readCapped(cfgPath, maxConfigBytes)
	if err != nil {
		return err
	}
	if ck.Config, err = ParseConfig(data); err != nil {
		return withPath(err, cfgPath)
	}
	ck.Warnings = append(ck.Warnings, ck.Config.Warnings...)
	genPath := filepath.Join(dir, GenConfigFile)
	if data, err := readCapped(genPath, maxConfigBytes); err == nil {
		if err := ApplyGenerationConfig(&ck.Config.Model, data); err != nil {
			return withPath(err, genPath)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, name := range AuxFiles {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil {
			if !fi.Mode().IsRegular() {
				return errAt(p, "", -1, ErrCheckpoint, "not a regular file")
			}
			ck.Aux = append(ck.Aux, name)
		}
	}
	if !contains(ck.Aux, TokenizerFile) {
		ck.Warnings = append(ck.Warnings, fmt.Sprintf("no %s in %s: the converted file will have no tokenizer (text generation needs one)", TokenizerFile, dir))
	}

	// Weights: the index and its shards, or the single file.
	var files []string
	var ix *stIndex
	ixPath := filepath.Join(dir, IndexFile)
	if data, err := readCapped(ixPath, maxIndexBytes); err == nil {
		if ix, err = parseIndex(data); err != nil {
			return withPath(err, ixPath)
		}
		files = ix.Files
		ck.Weights = append(ck.Weights, IndexFile)
		if _, err := os.Stat(filepath.Join(dir, SingleFile)); err == nil {
			ck.Warnings = append(ck.Warnings, fmt.Sprintf("both %s and %s present; using the index", IndexFile, SingleFile))
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		files = []string{SingleFile}
		if _, err := os.Stat(filepath.Join(dir, SingleFile)); errors.Is(err, fs.ErrNotExist) {
			return errAt(dir, "", -1, ErrCheckpoint, "no %s or %s", SingleFile, IndexFile)
		}
	} else {
		return err
	}
	var headers []shardHeader
	for _, f := range files {
		path := filepath.Join(dir, f)
		m, h, err := openSafetensors(path)
		if err != nil {
			return err
		}
		ck.maps[f] = m
		ck.Weights = append(ck.Weights, f)
		headers = append(headers, shardHeader{File: f, Path: path, Header: h})
	}
	if ix != nil {
		if err := checkIndex(dir, ixPath, ix, headers); err != nil {
			return err
		}
	}
	if ck.Plan, err = buildPlan(dir, &ck.Config.Model, headers, "keep"); err != nil {
		return err
	}
	ck.Warnings = append(ck.Warnings, ck.Plan.Warnings...)
	return nil
}

// openSafetensors maps a safetensors file and validates its header.
// Anything but a regular file is refused before it is opened.
func openSafetensors(path string) (*format.Mapped, *stHeader, error) {
	m, err := format.Map(path)
	if err != nil {
		return nil, nil, fmt.Errorf("convert: %w", err)
	}
	var h *stHeader
	err = m.Guard(func() error {
		var err error
		h, err = parseSafetensors(m.Bytes())
		return err
	})
	if err != nil {
		m.Close()
		return nil, nil, withPath(err, path)
	}
	// The header has been parsed; its pages are not needed any more.
	releaseRange(m, 0, h.DataStart())
	return m, h, nil
}

// checkIndex verifies that every tensor of the index is in the shard it names and that
// every tensor of every shard is in the index, mapped to that shard.
func checkIndex(dir, ixPath string, ix *stIndex, headers []shardHeader) error {
	var problems []*Error
	in := map[string]string{}
	for _, h := range headers {
		for _, t := range h.Header.Tensors {
			in[t.Name] = h.File
			switch f, ok := ix.WeightMap[t.Name]; {
			case !ok:
				problems = append(problems, errAt(h.Path, t.Name, -1, ErrCheckpoint, "not listed in %s", IndexFile))
			case f != h.File:
				problems = append(problems, errAt(h.Path, t.Name, -1, ErrCheckpoint, "%s places it in %s", IndexFile, f))
			}
		}
	}
	var names []string
	for n := range ix.WeightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := in[n]; !ok {
			problems = append(problems, errAt(ixPath, n, -1, ErrCheckpoint, "listed in shard %s, which does not hold it", ix.WeightMap[n]))
		}
	}
	if len(problems) > 0 {
		return &PlanError{Dir: dir, Problems: problems}
	}
	return nil
}

// readCapped reads a small file whole, refusing files above limit bytes (checked against the
// file's size before reading, and while reading) and anything but a regular file (a FIFO
// would block, a device could be endless).
func readCapped(path string, limit int64) ([]byte, error) {
	if err := format.RegularFile(path); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, errAt(path, "", -1, ErrCheckpoint, "not a regular file")
	} else if st.Size() > limit {
		return nil, errAt(path, "", -1, ErrCheckpoint, "%d bytes, above the %d-byte limit for this file", st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, errAt(path, "", -1, ErrCheckpoint, "larger than the %d-byte limit for this file", limit)
	}
	return b, nil
}

// Close releases the mappings. Entries' data must not be read afterwards.
func (c *Checkpoint) Close() error {
	var first error
	for k, m := range c.maps {
		if err := m.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.maps, k)
	}
	return first
}

// Path returns the full path of a checkpoint file.
func (c *Checkpoint) Path(name string) string { return filepath.Join(c.Dir, name) }

// source returns e's bytes in its mapping.
func (c *Checkpoint) source(e *Entry) ([]byte, error) {
	m, ok := c.maps[e.File]
	if !ok {
		return nil, fmt.Errorf("convert: %s: tensor %q: not in an open mapping (checkpoint closed?)", e.File, e.Source)
	}
	b, err := m.Slice(e.Offset, e.Length)
	if err != nil {
		return nil, fmt.Errorf("convert: tensor %q: %w", e.Source, err)
	}
	return b, nil
}

// guard runs fn, which reads e's mapping, turning a memory fault (the file truncated while
// converting) into an error wrapping [format.ErrChanged].
func (c *Checkpoint) guard(e *Entry, fn func() error) error {
	m, ok := c.maps[e.File]
	if !ok {
		return fmt.Errorf("convert: %s: tensor %q: not in an open mapping (checkpoint closed?)", e.File, e.Source)
	}
	if err := m.Guard(fn); err != nil {
		if errors.Is(err, format.ErrChanged) {
			return fmt.Errorf("convert: tensor %q: %w", e.Source, err)
		}
		return err
	}
	return nil
}

// ReadRows decodes canonical rows [row0, row0+n) of e into dst as float32 (exactly: BF16 and
// F16 widen without rounding). Rows are of e.Cols() elements; a transposed entry is
// transposed here. The mapped pages it touched are released afterwards, so reading a tensor
// chunk by chunk keeps the resident set bounded by the chunk, whatever the tensor's size.
func (c *Checkpoint) ReadRows(e *Entry, row0, n int64, dst []float32) error {
	rows, cols := e.Rows(), e.Cols()
	if row0 < 0 || n < 0 || row0+n > rows {
		return fmt.Errorf("convert: ReadRows(%s, %d, %d): rows out of range [0, %d)", e.Name, row0, n, rows)
	}
	if int64(len(dst)) < n*cols {
		return fmt.Errorf("convert: ReadRows(%s, %d, %d): dst has %d elements, need %d", e.Name, row0, n, len(dst), n*cols)
	}
	src, err := c.source(e)
	if err != nil {
		return err
	}
	es := int64(e.SrcDType.ElemSize())
	if es == 0 || int64(len(src)) != e.Elements()*es {
		return fmt.Errorf("convert: tensor %q: %d source bytes for %d %v elements", e.Source, len(src), e.Elements(), e.SrcDType)
	}
	return c.guard(e, func() error {
		if !e.Transpose {
			lo, hi := row0*cols*es, (row0+n)*cols*es
			decode(dst[:n*cols], src[lo:hi], e.SrcDType)
			c.release(e, lo, hi)
			return nil
		}
		// Canonical row r is source column r; the source is [cols, rows] row-major.
		for i := int64(0); i < cols; i++ {
			srow := src[(i*rows+row0)*es : (i*rows+row0+n)*es]
			for r := int64(0); r < n; r++ {
				dst[r*cols+i] = decodeOne(srow[r*es:], e.SrcDType)
			}
		}
		c.release(e, 0, e.Length)
		return nil
	})
}

// readRaw copies canonical rows [row0, row0+n) of e in the source type (transposing when e
// says so) into dst, releasing the touched pages.
func (c *Checkpoint) readRaw(e *Entry, row0, n int64, dst []byte) error {
	rows, cols := e.Rows(), e.Cols()
	src, err := c.source(e)
	if err != nil {
		return err
	}
	es := int64(e.SrcDType.ElemSize())
	return c.guard(e, func() error {
		if !e.Transpose {
			lo, hi := row0*cols*es, (row0+n)*cols*es
			copy(dst, src[lo:hi])
			c.release(e, lo, hi)
			return nil
		}
		for i := int64(0); i < cols; i++ {
			srow := src[(i*rows+row0)*es : (i*rows+row0+n)*es]
			for r := int64(0); r < n; r++ {
				copy(dst[(r*cols+i)*es:(r*cols+i+1)*es], srow[r*es:(r+1)*es])
			}
		}
		c.release(e, 0, e.Length)
		return nil
	})
}

// release drops the mapped pages of e's bytes [lo, hi) from the resident set.
func (c *Checkpoint) release(e *Entry, lo, hi int64) {
	releaseRange(c.maps[e.File], e.Offset+lo, e.Offset+hi)
}

// releaseRange releases m's bytes [lo, hi) widened by [releaseSlack] on both sides. The
// slack matters: a page fault maps the whole page-cache folio around the faulting address
// (large folios reach 2 MiB), so reading a chunk also maps pages before and after it;
// without the slack they would pile up, about a folio per chunk. Pages released early are
// simply faulted in again from the page cache.
func releaseRange(m *format.Mapped, lo, hi int64) {
	if m == nil {
		return
	}
	lo = max(0, lo-releaseSlack)
	hi = min(hi+releaseSlack, m.Len())
	if lo < hi {
		m.Release(lo, hi-lo)
	}
}

// releaseSlack is twice the largest page-cache folio (a PMD, 2 MiB on x86-64 and arm64 with
// 4 KiB pages).
const releaseSlack = 4 << 20

func decodeOne(b []byte, t format.DType) float32 {
	switch t {
	case format.BF16:
		return format.BF16ToFloat32(binary.LittleEndian.Uint16(b))
	case format.F16:
		return format.F16ToFloat32(binary.LittleEndian.Uint16(b))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}

// decode widens src elements of type t into dst (len(dst) elements).
func decode(dst []float32, src []byte, t format.DType) {
	switch t {
	case format.BF16:
		kernel.WidenBF16(dst, src)
	case format.F16:
		for i := range dst {
			dst[i] = format.F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
}

// encode narrows or copies src into dst in type t. It returns the number of finite values
// that overflowed to infinity (possible only for F16).
func encode(dst []byte, src []float32, t format.DType) (overflow int) {
	switch t {
	case format.BF16:
		for i, f := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], format.Float32ToBF16(f))
		}
	case format.F16:
		for i, f := range src {
			h := format.Float32ToF16(f)
			if h&0x7fff == 0x7c00 && !math.IsInf(float64(f), 0) {
				overflow++
			}
			binary.LittleEndian.PutUint16(dst[2*i:], h)
		}
	default:
		for i, f := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(f))
		}
	}
	return overflow
}

// hashFile streams a file through SHA-256 with read(2) (not the mapping, so hashing adds
// nothing to the resident set).
// It gives up with errStopped when stop (which may be nil) is closed.
func hashFile(dir, name string, stop <-chan struct{}) (format.SourceFile, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return format.SourceFile{}, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, stoppable{f, stop}, make([]byte, 1<<20))
	if err != nil {
		return format.SourceFile{}, fmt.Errorf("convert: hash: %w", err)
	}
	return format.SourceFile{Name: name, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

var errStopped = errors.New("convert: stopped")

// stoppable is a reader that fails once stop is closed.
type stoppable struct {
	r    io.Reader
	stop <-chan struct{}
}

func (s stoppable) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
	}
	return s.r.Read(p)
}
