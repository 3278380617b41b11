package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/nlpodyssey/safetensors"
)

// Limits on safetensors headers. A real Gemma 3 27B shard header is ~100 KB with ~600 tensors.
const (
	// maxHeaderBytes caps the JSON header (the reference implementation's limit, 100 MB).
	maxHeaderBytes = 100_000_000
	// maxTensorsPerFile caps the tensors of one file: a whole Gemma 3 27B checkpoint in one
	// file has about 1,250; the cap keeps a hostile header's parse within tens of megabytes.
	maxTensorsPerFile = 1 << 14
	// maxRank caps a tensor's rank.
	maxRank = 8
)

// stDTypes are the safetensors element types and their sizes. Only F32, F16 and BF16 are
// converted; the others are recognised so that the error can say what the file is.
var stDTypes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4,
	"F32": 4, "F64": 8, "I64": 8, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1,
}

// stTensor is one tensor of a safetensors header. Begin and End are absolute file offsets.
type stTensor struct {
	Name       string
	DType      string
	Shape      []int64
	Begin, End int64
}

// stHeader is a parsed and validated safetensors header.
type stHeader struct {
	Size      int64             // file size
	HeaderLen int64             // length of the JSON header
	Meta      map[string]string // __metadata__
	Tensors   []stTensor        // by offset
}

// DataStart is the absolute offset of the data region.
func (h *stHeader) DataStart() int64 { return 8 + h.HeaderLen }

// parseSafetensors parses and validates the header of a safetensors file given its whole
// content (normally a read-only mapping; only the header bytes are read). It checks, naming
// the tensor: the header length against the file size, each entry's keys and types, the dtype,
// that the byte range equals the shape's size and lies inside the data region, that no two
// tensors overlap, and that the data region has no gaps and no trailing bytes. It then runs
// the nlpodyssey/safetensors parser over the same bytes as a second opinion. Errors unwrap to
// [ErrCheckpoint] and carry no path.
func parseSafetensors(data []byte) (*stHeader, error) {
	size := int64(len(data))
	bad := func(tensor string, off int64, format string, args ...any) error {
		return errAt("", tensor, off, ErrCheckpoint, format, args...)
	}
	if size < 8 {
		return nil, bad("", -1, "file has %d bytes, too short for a safetensors header (truncated?)", size)
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(size-8) {
		return nil, bad("", 0, "header length %d beyond the file size %d (truncated file?)", n, size)
	}
	if n > maxHeaderBytes {
		return nil, bad("", 0, "header length %d above the limit of %d bytes", n, maxHeaderBytes)
	}
	if n < 2 {
		return nil, bad("", 0, "header length %d, too short for a JSON object", n)
	}
	h := &stHeader{Size: size, HeaderLen: int64(n)}
	js := data[8 : 8+n]
	dataStart, dataLen := 8+int64(n), size-8-int64(n)
	// Walk the top-level object entry by entry, so that the entry cap stops a hostile header
	// before it has been parsed whole, and memory follows the entries accepted so far.
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("", 8, "header is not valid JSON: not a JSON object")
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, bad("", 8+d.InputOffset(), "header is not valid JSON: %v", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, bad(name, 8+d.InputOffset(), "duplicate header entry")
		}
		seen[name] = true
		if len(seen) > maxTensorsPerFile+1 {
			return nil, bad("", 8+d.InputOffset(), "more than %d header entries", maxTensorsPerFile)
		}
		if name == "__metadata__" {
			if err := d.Decode(&h.Meta); err != nil {
				return nil, bad("", 8, "__metadata__ is not a map of strings")
			}
			continue
		}
		t, err := parseEntry(name, d)
		if err != nil {
			return nil, err
		}
		if t.End > dataLen {
			return nil, bad(name, -1, "data_offsets [%d, %d) beyond the data region of %d bytes (file truncated?)", t.Begin, t.End, dataLen)
		}
		t.Begin += dataStart
		t.End += dataStart
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := d.Token(); err != nil {
		return nil, bad("", 8+d.InputOffset(), "header is not valid JSON: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, bad("", 8+d.InputOffset(), "header is not valid JSON: data after the JSON object")
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		return a.Begin < b.Begin || a.Begin == b.Begin && (a.End < b.End || a.End == b.End && a.Name < b.Name)
	})
	pos := dataStart
	for i, t := range h.Tensors {
		if i > 0 && t.Begin < h.Tensors[i-1].End {
			p := h.Tensors[i-1]
			return nil, bad(t.Name, t.Begin, "data [%d, %d) overlaps tensor %q [%d, %d) (offsets relative to the data region)",
				t.Begin-dataStart, t.End-dataStart, p.Name, p.Begin-dataStart, p.End-dataStart)
		}
		if t.Begin != pos {
			return nil, bad(t.Name, pos, "%d-byte gap in the data region before this tensor", t.Begin-pos)
		}
		pos = t.End
	}
	if pos != size {
		return nil, bad("", pos, "%d bytes after the last tensor's data (data region %d bytes, tensors cover %d)", size-pos, dataLen, pos-dataStart)
	}
	// Second opinion from the reference parser, when it knows every dtype.
	known := true
	for _, t := range h.Tensors {
		if strings.HasPrefix(t.DType, "F8") || t.DType == "F4" {
			known = false
		}
	}
	if known {
		if _, md, err := safetensors.ReadMetadata(data); err != nil {
			return nil, bad("", 0, "safetensors: %v", err)
		} else if len(md.Tensors()) != len(h.Tensors) {
			return nil, bad("", 0, "safetensors parser sees %d tensors, header has %d", len(md.Tensors()), len(h.Tensors))
		}
	}
	return h, nil
}

// parseEntry reads one tensor entry, the next value of d, token by token (no intermediate
// maps or buffers: a header's parse costs little more than its tokens).
func parseEntry(name string, d *json.Decoder) (stTensor, error) {
	bad := func(format string, args ...any) (stTensor, error) {
		return stTensor{}, errAt("", name, -1, ErrCheckpoint, format, args...)
	}
	if tok, err := d.Token(); err != nil {
		return bad("header is not valid JSON: %v", err)
	} else if tok != json.Delim('{') {
		return bad("header entry is not a JSON object")
	}
	t := stTensor{Name: name}
	var shape, offs []json.Number
	var haveDType, haveShape bool
	// numbers reads a JSON array of at most max numbers.
	numbers := func(max int) ([]json.Number, bool) {
		if tok, err := d.Token(); err != nil || tok != json.Delim('[') {
			return nil, false
		}
		out := []json.Number{}
		for d.More() {
			tok, err := d.Token()
			n, ok := tok.(json.Number)
			if err != nil || !ok || len(out) == max {
				return nil, false
			}
			out = append(out, n)
		}
		_, err := d.Token()
		return out, err == nil
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return bad("header is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		switch key {
		case "dtype":
			tok, err := d.Token()
			dt, ok := tok.(string)
			if err != nil || !ok || haveDType {
				return bad("dtype missing, repeated or not a string")
			}
			t.DType, haveDType = dt, true
		case "shape":
			var ok bool
			if shape, ok = numbers(maxRank); !ok || haveShape {
				return bad("shape not a list of at most %d integers (or repeated)", maxRank)
			}
			haveShape = true
		case "data_offsets":
			var ok bool
			if offs, ok = numbers(2); !ok || len(offs) != 2 {
				return bad("data_offsets missing or not a pair of integers")
			}
		default:
			return bad("unknown header key %q", key)
		}
	}
	if _, err := d.Token(); err != nil {
		return bad("header is not valid JSON: %v", err)
	}
	if !haveDType {
		return bad("dtype missing or not a string")
	}
	es, ok := stDTypes[t.DType]
	if !ok {
		return bad("unknown dtype %q", t.DType)
	}
	if !haveShape {
		return bad("shape missing or not a list of integers")
	}
	elems := uint64(1)
	for _, s := range shape {
		d, err := strconv.ParseUint(string(s), 10, 63)
		if err != nil {
			return bad("shape %v: dimension %s is not a non-negative integer", shape, s)
		}
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > 1<<50 {
			return bad("shape %v has too many elements", shape)
		}
		elems = lo
		t.Shape = append(t.Shape, int64(d))
	}
	if len(offs) != 2 {
		return bad("data_offsets missing or not a pair of integers")
	}
	b, err1 := strconv.ParseUint(string(offs[0]), 10, 63)
	en, err2 := strconv.ParseUint(string(offs[1]), 10, 63)
	if err1 != nil || err2 != nil {
		return bad("data_offsets %v are not non-negative integers", offs)
	}
	if en < b {
		return bad("data_offsets [%d, %d) end before they begin", b, en)
	}
	want := elems * uint64(es)
	if en-b != want {
		return bad("data_offsets [%d, %d) hold %d bytes, a %s %v tensor needs %d", b, en, en-b, t.DType, t.Shape, want)
	}
	t.Begin, t.End = int64(b), int64(en)
	return t, nil
}

// stIndex is a parsed model.safetensors.index.json.
type stIndex struct {
	WeightMap map[string]string // tensor name → shard file name
	Files     []string          // distinct shard files, sorted
}

const (
	maxIndexBytes = 64 << 20
	maxShards     = 10000
)

// parseIndex parses and validates a safetensors index: a JSON object whose "weight_map" maps
// tensor names to shard file names in the same directory (plain base names ending in
// ".safetensors"). Errors unwrap to [ErrCheckpoint] and carry no path.
func parseIndex(data []byte) (*stIndex, error) {
	if len(data) > maxIndexBytes {
		return nil, errAt("", "", -1, ErrCheckpoint, "%d bytes, above the %d-byte limit", len(data), maxIndexBytes)
	}
	var doc struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	var probe map[string]json.RawMessage
	if err := decodeNumbers(data, &probe); err != nil || probe == nil {
		return nil, errAt("", "", -1, ErrCheckpoint, "not a JSON object")
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, errAt("", "", -1, ErrCheckpoint, "weight_map is not a map of strings: %v", err)
	}
	if len(doc.WeightMap) == 0 {
		return nil, errAt("", "", -1, ErrCheckpoint, "no weight_map (or an empty one)")
	}
	ix := &stIndex{WeightMap: doc.WeightMap}
	seen := map[string]bool{}
	for name, f := range doc.WeightMap {
		if f == "" || f == "." || f == ".." || strings.ContainsAny(f, "/\\\x00") || !strings.HasSuffix(f, ".safetensors") {
			return nil, errAt("", name, -1, ErrCheckpoint, "shard file %q is not a .safetensors file name in the checkpoint directory", f)
		}
		if !seen[f] {
			seen[f] = true
			ix.Files = append(ix.Files, f)
			if len(ix.Files) > maxShards {
				return nil, errAt("", "", -1, ErrCheckpoint, "more than %d shard files", maxShards)
			}
		}
	}
	sort.Strings(ix.Files)
	return ix, nil
}

// encodeSafetensorsHeader writes a header for tensors (names, dtypes, shapes; data laid out
// contiguously in the given order), padded with spaces to a multiple of 8 bytes as the
// reference writer does. It returns the 8-byte length prefix plus the JSON.
func encodeSafetensorsHeader(meta map[string]string, ts []stTensor) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	if len(meta) > 0 {
		mj, _ := json.Marshal(meta)
		b.WriteString(`"__metadata__":`)
		b.Write(mj)
		first = false
	}
	for _, t := range ts {
		if !first {
			b.WriteByte(',')
		}
		first = false
		nj, _ := json.Marshal(t.Name)
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		sj, _ := json.Marshal(shape)
		fmt.Fprintf(&b, `%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, nj, t.DType, sj, t.Begin, t.End)
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	out := make([]byte, 8, 8+b.Len())
	binary.LittleEndian.PutUint64(out, uint64(b.Len()))
	return append(out, b.Bytes()...)
}
