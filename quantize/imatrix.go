package quantize

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// Imatrix is an importance matrix: for every linear weight (by canonical tensor name, such
// as "text.blk.3.ffn_down"), the sum over calibration tokens of the square of each input
// channel, and the number of tokens. The importance of input column j of that weight is the
// mean E[x_j²] = SumSq[j] / Count: the weight error Σ_j (w_j − ŵ_j)²·E[x_j²] is the expected
// squared error the quantized row adds to its output (cross terms between channels
// neglected), which is what importance-weighted encoders minimise.
type Imatrix struct {
	// Datasets names the calibration texts (file base names).
	Datasets []string
	// Chunks is the number of windows run, ChunkSize their length in tokens (BOS included).
	Chunks, ChunkSize int
	// Entries maps canonical tensor names to their statistics.
	Entries map[string]*ImatrixEntry
	// Moments, when not empty, holds the full second moments E[x xᵀ] of the inputs
	// (`gemmatool imatrix --full`, file version 2), one per distinct input of a layer; see
	// moments.go.
	Moments []*Moments
}

// ImatrixEntry is the statistics of one weight's input.
type ImatrixEntry struct {
	SumSq []float64 // Σ x_j² over every token, per input column
	Count int64     // tokens
}

// Mean returns E[x_j²] per column: float32(Σx²)/float32(count), in float32 as llama-quantize
// computes it from a GGUF imatrix (zeros when Count is 0).
func (e *ImatrixEntry) Mean() []float32 {
	out := make([]float32, len(e.SumSq))
	if e.Count <= 0 {
		return out
	}
	c := float32(e.Count)
	for j, s := range e.SumSq {
		out[j] = float32(s) / c // as llama.cpp divides its float sums by the float count
	}
	return out
}

// Weights returns the importance weights of the columns of tensor name (E[x_j²]), or nil
// when the imatrix has no entry for it.
func (m *Imatrix) Weights(name string) []float32 {
	if m == nil {
		return nil
	}
	e, ok := m.Entries[name]
	if !ok || e.Count <= 0 {
		return nil
	}
	return e.Mean()
}

// Names returns the entry names, sorted.
func (m *Imatrix) Names() []string {
	names := make([]string, 0, len(m.Entries))
	for n := range m.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// The gemmatool imatrix file ("GMTIMTX1"). All integers little-endian:
//
//	off 0   8 bytes  magic "GMTIMTX1"
//	        u32      version (1)
//	        u32      chunks (windows run)
//	        u32      chunk size (tokens per window, BOS included)
//	        u32      dataset count D (≤ 256), then D × { u16 length ≤ 4096, UTF-8 bytes }
//	        u32      entry count E (≤ 65536), then E entries, names strictly increasing:
//	                   u16 name length (1..512), name (canonical tensor name, UTF-8)
//	                   u64 token count
//	                   u32 columns C (1..2^24)
//	                   C × f64 Σ x² per input column
//	        version 2 only: u32 moment group count G (≤ 4096), then G groups (see moments.go):
//	                   u16 tensor count T (1..16), T × { u16 name length (1..512), name }
//	                   u64 token count
//	                   u32 dimension n (1..8192)
//	                   n(n+1)/2 × f32: E[x_i·x_j] for i ≤ j, row by row (i = 0: j = 0…n−1,
//	                     i = 1: j = 1…n−1, …), the mean over the tokens
//	        u32      CRC-32C (Castagnoli) of every byte before it
//
// Sums are float64 so that files from several runs add up exactly enough to be merged.
// Version 1 is written whenever there are no moment groups, so files without --full are
// byte for byte what earlier builds wrote and read; this build reads both versions.
const imatrixMagic = "GMTIMTX1"

const (
	maxImatrixEntries  = 1 << 16
	maxImatrixCols     = 1 << 24
	maxImatrixName     = 512
	maxImatrixDatasets = 256
	maxImatrixDataset  = 4096
	maxImatrixFile     = 1 << 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes m in the gemmatool imatrix format.
func (m *Imatrix) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	le := binary.LittleEndian
	u16 := func(v int) { b.Write(le.AppendUint16(nil, uint16(v))) }
	u32 := func(v int) { b.Write(le.AppendUint32(nil, uint32(v))) }
	b.WriteString(imatrixMagic)
	if len(m.Moments) > 0 {
		u32(2)
	} else {
		u32(1)
	}
	if m.Chunks < 0 || m.Chunks > math.MaxUint32 || m.ChunkSize < 0 || m.ChunkSize > math.MaxUint32 {
		return nil, fmt.Errorf("imatrix: chunks %d / chunk size %d out of range", m.Chunks, m.ChunkSize)
	}
	u32(m.Chunks)
	u32(m.ChunkSize)
	if len(m.Datasets) > maxImatrixDatasets {
		return nil, fmt.Errorf("imatrix: %d datasets, at most %d", len(m.Datasets), maxImatrixDatasets)
	}
	u32(len(m.Datasets))
	for _, d := range m.Datasets {
		if len(d) > maxImatrixDataset {
			return nil, fmt.Errorf("imatrix: dataset name of %d bytes, at most %d", len(d), maxImatrixDataset)
		}
		u16(len(d))
		b.WriteString(d)
	}
	names := m.Names()
	if len(names) > maxImatrixEntries {
		return nil, fmt.Errorf("imatrix: %d entries, at most %d", len(names), maxImatrixEntries)
	}
	u32(len(names))
	for _, n := range names {
		e := m.Entries[n]
		if len(n) == 0 || len(n) > maxImatrixName {
			return nil, fmt.Errorf("imatrix: entry name %q: length must be 1..%d", n, maxImatrixName)
		}
		if len(e.SumSq) == 0 || len(e.SumSq) > maxImatrixCols || e.Count < 0 {
			return nil, fmt.Errorf("imatrix: entry %s: %d columns, count %d", n, len(e.SumSq), e.Count)
		}
		u16(len(n))
		b.WriteString(n)
		b.Write(le.AppendUint64(nil, uint64(e.Count)))
		u32(len(e.SumSq))
		for _, s := range e.SumSq {
			b.Write(le.AppendUint64(nil, math.Float64bits(s)))
		}
	}
	if len(m.Moments) > 0 {
		if err := m.marshalMoments(&b); err != nil {
			return nil, err
		}
	}
	u32(int(crc32.Checksum(b.Bytes(), castagnoli)))
	return b.Bytes(), nil
}

// errImatrix wraps a malformed-file error with the byte offset where it was found.
type imatrixReader struct {
	b   []byte
	off int
	err error
}

func (r *imatrixReader) need(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("truncated at offset %d reading %s (%d bytes needed)", r.off, what, n)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *imatrixReader) u16(what string) int {
	if p := r.need(2, what); p != nil {
		return int(binary.LittleEndian.Uint16(p))
	}
	return 0
}

func (r *imatrixReader) u32(what string) uint32 {
	if p := r.need(4, what); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *imatrixReader) u64(what string) uint64 {
	if p := r.need(8, what); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *imatrixReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: "+format, append([]any{r.off}, a...)...)
	}
}

// UnmarshalImatrix decodes the gemmatool imatrix format.
func UnmarshalImatrix(b []byte) (*Imatrix, error) {
	if len(b) < len(imatrixMagic)+4 || string(b[:len(imatrixMagic)]) != imatrixMagic {
		return nil, errors.New("not a gemmatool imatrix file (bad magic)")
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("CRC-32C mismatch (stored %08x, computed %08x): the file is damaged", want, got)
	}
	r := &imatrixReader{b: body, off: len(imatrixMagic)}
	version := r.u32("version")
	if r.err == nil && version != 1 && version != 2 {
		return nil, fmt.Errorf("imatrix format version %d, this build reads 1 and 2", version)
	}
	m := &Imatrix{Entries: map[string]*ImatrixEntry{}}
	m.Chunks = int(r.u32("chunk count"))
	m.ChunkSize = int(r.u32("chunk size"))
	nd := int(r.u32("dataset count"))
	if nd > maxImatrixDatasets {
		r.fail("%d datasets, at most %d", nd, maxImatrixDatasets)
	}
	for i := 0; i < nd && r.err == nil; i++ {
		l := r.u16("dataset name length")
		if l > maxImatrixDataset {
			r.fail("dataset name of %d bytes", l)
		}
		m.Datasets = append(m.Datasets, string(r.need(l, "dataset name")))
	}
	ne := int(r.u32("entry count"))
	if ne > maxImatrixEntries {
		r.fail("%d entries, at most %d", ne, maxImatrixEntries)
	}
	prev := ""
	for i := 0; i < ne && r.err == nil; i++ {
		l := r.u16("entry name length")
		if l == 0 || l > maxImatrixName {
			r.fail("entry %d: name length %d, want 1..%d", i, l, maxImatrixName)
			break
		}
		name := string(r.need(l, "entry name"))
		if r.err == nil && i > 0 && name <= prev {
			r.fail("entry %q is not after %q (names must be unique and sorted)", name, prev)
		}
		prev = name
		cnt := r.u64("token count")
		cols := int(r.u32("column count"))
		if r.err == nil && (cols == 0 || cols > maxImatrixCols || cnt > math.MaxInt64) {
			r.fail("entry %s: %d columns, count %d", name, cols, cnt)
		}
		p := r.need(8*cols, "sums of "+name)
		if r.err != nil {
			break
		}
		e := &ImatrixEntry{SumSq: make([]float64, cols), Count: int64(cnt)}
		for j := range e.SumSq {
			v := math.Float64frombits(binary.LittleEndian.Uint64(p[8*j:]))
			if !(v >= 0) || math.IsInf(v, 0) {
				r.fail("entry %s column %d: sum %v is not finite and non-negative", name, j, v)
				break
			}
			e.SumSq[j] = v
		}
		m.Entries[name] = e
	}
	if version == 2 && r.err == nil {
		m.unmarshalMoments(r)
	}
	if r.err == nil && r.off != len(body) {
		r.fail("%d unexpected bytes after the last entry", len(body)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// ReadImatrix reads an importance matrix file: gemmatool's own format, or llama.cpp's GGUF
// imatrix (recognised by its magic; names mapped to canonical ones, see [GGUFImatrixName]).
func ReadImatrix(path string) (*Imatrix, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// The cap holds while reading, also for a file that grows after the Stat.
	b, err := io.ReadAll(io.LimitReader(fh, maxImatrixFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxImatrixFile {
		return nil, fmt.Errorf("%s: more than %d bytes, larger than any imatrix", path, int64(maxImatrixFile))
	}
	var m *Imatrix
	if len(b) >= 4 && string(b[:4]) == "GGUF" {
		m, err = UnmarshalGGUFImatrix(b)
	} else {
		m, err = UnmarshalImatrix(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteImatrix writes m to path (through a temporary file renamed on success), in llama.cpp's
// GGUF imatrix format when gguf is set, else in gemmatool's.
func WriteImatrix(path string, m *Imatrix, gguf bool) error {
	var b []byte
	var err error
	if gguf {
		b, err = m.MarshalGGUF()
	} else {
		b, err = m.MarshalBinary()
	}
	if err != nil {
		return err
	}
	f, err := format.CreateOutput(context.Background(), path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// GGUFImatrixName maps a canonical decoder weight name ("text.blk.3.attn_o") to llama.cpp's
// tensor name ("blk.3.attn_output.weight"); ok is false for names llama.cpp has no twin for.
func GGUFImatrixName(canonical string) (string, bool) {
	rest, ok := strings.CutPrefix(canonical, "text.blk.")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	layer, short := rest[:i], rest[i+1:]
	if short == "attn_o" {
		short = "attn_output"
	}
	switch short {
	case "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down":
		return "blk." + layer + "." + short + ".weight", true
	}
	return "", false
}

// canonicalFromGGUF is the inverse of [GGUFImatrixName].
func canonicalFromGGUF(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, ".weight")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	layer, short := rest[:i], rest[i+1:]
	if short == "attn_output" {
		short = "attn_o"
	}
	switch short {
	case "attn_q", "attn_k", "attn_v", "attn_o", "ffn_gate", "ffn_up", "ffn_down":
		return "text.blk." + layer + "." + short, true
	}
	return "", false
}

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
