package quantize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// llama.cpp's imatrix file (tools/imatrix, the GGUF-based format of 2025): a GGUF v3 file with
// general.type = "imatrix", imatrix.datasets (array of strings), imatrix.chunk_count and
// imatrix.chunk_size (u32), and per weight W (llama.cpp's tensor name, e.g.
// "blk.0.ffn_down.weight") two F32 tensors: "W.in_sum2" of ne = [columns, 1] holding Σ x² per
// input column, and "W.counts" of ne = [1, 1] holding the token count (newer versions add
// "W.in_sum", Σ x, which gemmatool ignores on reading and does not write). Tensors are sorted by
// weight name; data is aligned to 32 bytes (or general.alignment).

const (
	ggufTypeU8 = iota
	ggufTypeI8
	ggufTypeU16
	ggufTypeI16
	ggufTypeU32
	ggufTypeI32
	ggufTypeF32
	ggufTypeBool
	ggufTypeString
	ggufTypeArray
	ggufTypeU64
	ggufTypeI64
	ggufTypeF64
)

const ggufAlign = 32

// MarshalGGUF encodes m as a llama.cpp GGUF imatrix. Entries without a llama.cpp twin
// (see [GGUFImatrixName]) are left out.
func (m *Imatrix) MarshalGGUF() ([]byte, error) {
	type ent struct {
		gname string
		e     *ImatrixEntry
	}
	var ents []ent
	for _, n := range m.Names() {
		if g, ok := GGUFImatrixName(n); ok {
			ents = append(ents, ent{g, m.Entries[n]})
		}
	}
	// llama.cpp sorts by its own names.
	for i := 1; i < len(ents); i++ {
		for j := i; j > 0 && ents[j].gname < ents[j-1].gname; j-- {
			ents[j], ents[j-1] = ents[j-1], ents[j]
		}
	}
	le := binary.LittleEndian
	var b bytes.Buffer
	str := func(s string) {
		b.Write(le.AppendUint64(nil, uint64(len(s))))
		b.WriteString(s)
	}
	u32 := func(v uint32) { b.Write(le.AppendUint32(nil, v)) }
	b.WriteString("GGUF")
	u32(3)
	b.Write(le.AppendUint64(nil, uint64(2*len(ents))))
	b.Write(le.AppendUint64(nil, 4))
	str("general.type")
	u32(ggufTypeString)
	str("imatrix")
	str("imatrix.datasets")
	u32(ggufTypeArray)
	u32(ggufTypeString)
	b.Write(le.AppendUint64(nil, uint64(len(m.Datasets))))
	for _, d := range m.Datasets {
		str(d)
	}
	str("imatrix.chunk_count")
	u32(ggufTypeU32)
	u32(uint32(m.Chunks))
	str("imatrix.chunk_size")
	u32(ggufTypeU32)
	u32(uint32(m.ChunkSize))
	var off uint64
	pad := func(n uint64) uint64 { return (n + ggufAlign - 1) / ggufAlign * ggufAlign }
	for _, e := range ents {
		str(e.gname + ".in_sum2")
		u32(2)
		b.Write(le.AppendUint64(nil, uint64(len(e.e.SumSq))))
		b.Write(le.AppendUint64(nil, 1))
		u32(0) // F32
		b.Write(le.AppendUint64(nil, off))
		off += pad(uint64(4 * len(e.e.SumSq)))
		str(e.gname + ".counts")
		u32(2)
		b.Write(le.AppendUint64(nil, 1))
		b.Write(le.AppendUint64(nil, 1))
		u32(0)
		b.Write(le.AppendUint64(nil, off))
		off += pad(4)
	}
	for b.Len()%ggufAlign != 0 {
		b.WriteByte(0)
	}
	put := func(vals []float32) {
		for _, v := range vals {
			b.Write(le.AppendUint32(nil, math.Float32bits(v)))
		}
		for b.Len()%ggufAlign != 0 {
			b.WriteByte(0)
		}
	}
	for _, e := range ents {
		s := make([]float32, len(e.e.SumSq))
		for j, v := range e.e.SumSq {
			s[j] = float32(v)
			if math.IsInf(float64(s[j]), 0) {
				return nil, fmt.Errorf("imatrix: %s column %d: sum %g overflows float32", e.gname, j, v)
			}
		}
		put(s)
		put([]float32{float32(e.e.Count)})
	}
	return b.Bytes(), nil
}

type ggufTensor struct {
	name string
	ne   []uint64
	typ  uint32
	off  uint64
}

// UnmarshalGGUFImatrix decodes llama.cpp's GGUF imatrix. Entries whose weight has no
// canonical gemmatool name are skipped; entries of stacked experts (more than one count) are
// rejected.
func UnmarshalGGUFImatrix(b []byte) (*Imatrix, error) {
	r := &imatrixReader{b: b}
	if string(r.need(4, "magic")) != "GGUF" {
		return nil, errors.New("not a GGUF file")
	}
	if v := r.u32("version"); r.err == nil && v != 3 && v != 2 {
		return nil, fmt.Errorf("GGUF version %d, want 3", v)
	}
	nt, nkv := r.u64("tensor count"), r.u64("kv count")
	if r.err == nil && (nt > 4*maxImatrixEntries || nkv > 1<<16) {
		return nil, fmt.Errorf("GGUF header claims %d tensors and %d keys: too many for an imatrix", nt, nkv)
	}
	gstr := func(what string) string {
		n := r.u64(what + " length")
		if n > 1<<20 {
			r.fail("%s of %d bytes", what, n)
			return ""
		}
		return string(r.need(int(n), what))
	}
	m := &Imatrix{Entries: map[string]*ImatrixEntry{}}
	align := uint64(ggufAlign)
	isImatrix := false
	var skip func(t uint32, key string, depth int)
	scalar := map[uint32]int{ggufTypeU8: 1, ggufTypeI8: 1, ggufTypeBool: 1, ggufTypeU16: 2, ggufTypeI16: 2,
		ggufTypeU32: 4, ggufTypeI32: 4, ggufTypeF32: 4, ggufTypeU64: 8, ggufTypeI64: 8, ggufTypeF64: 8}
	skip = func(t uint32, key string, depth int) {
		if n, ok := scalar[t]; ok {
			r.need(n, key)
			return
		}
		switch t {
		case ggufTypeString:
			gstr(key)
		case ggufTypeArray:
			et := r.u32(key + " element type")
			n := r.u64(key + " length")
			if depth > 2 || n > 1<<24 {
				r.fail("key %s: array of %d elements", key, n)
				return
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				skip(et, key, depth+1)
			}
		default:
			r.fail("key %s: unknown value type %d", key, t)
		}
	}
	for i := uint64(0); i < nkv && r.err == nil; i++ {
		key := gstr("key")
		t := r.u32("value type of " + key)
		switch {
		case key == "general.type" && t == ggufTypeString:
			isImatrix = gstr(key) == "imatrix"
		case key == "general.alignment" && t == ggufTypeU32:
			align = uint64(r.u32(key))
			if align == 0 || align&(align-1) != 0 || align > 1<<16 {
				r.fail("general.alignment %d is not a power of two", align)
			}
		case (key == "imatrix.chunk_count" || key == "imatrix.chunk_size") && t == ggufTypeU32:
			v := int(r.u32(key))
			if key == "imatrix.chunk_count" {
				m.Chunks = v
			} else {
				m.ChunkSize = v
			}
		case key == "imatrix.datasets" && t == ggufTypeArray:
			et := r.u32(key)
			n := r.u64(key)
			if et != ggufTypeString || n > maxImatrixDatasets {
				r.fail("imatrix.datasets: %d elements of type %d", n, et)
			}
			for j := uint64(0); j < n && r.err == nil; j++ {
				m.Datasets = append(m.Datasets, gstr(key))
			}
		default:
			skip(t, key, 0)
		}
	}
	ts := make([]ggufTensor, 0, min(nt, 1024))
	for i := uint64(0); i < nt && r.err == nil; i++ {
		var t ggufTensor
		t.name = gstr("tensor name")
		nd := r.u32("dimension count of " + t.name)
		if nd > 4 {
			r.fail("tensor %s: %d dimensions", t.name, nd)
			break
		}
		for range nd {
			t.ne = append(t.ne, r.u64("dimension of "+t.name))
		}
		t.typ = r.u32("type of " + t.name)
		t.off = r.u64("offset of " + t.name)
		ts = append(ts, t)
	}
	if r.err != nil {
		return nil, r.err
	}
	if !isImatrix {
		return nil, errors.New("GGUF file is not an imatrix (general.type is not \"imatrix\")")
	}
	data := (uint64(r.off) + align - 1) / align * align
	f32s := func(t ggufTensor) ([]float32, error) {
		n := uint64(1)
		for _, d := range t.ne {
			if d == 0 || d > maxImatrixCols {
				return nil, fmt.Errorf("tensor %s: dimensions %v", t.name, t.ne)
			}
			n *= d
		}
		if t.typ != 0 {
			return nil, fmt.Errorf("tensor %s: GGML type %d, an imatrix holds F32 (0)", t.name, t.typ)
		}
		if n > maxImatrixCols || t.off > uint64(len(b)) || data+t.off+4*n > uint64(len(b)) {
			return nil, fmt.Errorf("tensor %s: %d values at data offset %d pass the end of the file (%d bytes)", t.name, n, t.off, len(b))
		}
		p := b[data+t.off:]
		out := make([]float32, n)
		for j := range out {
			out[j] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*j:]))
		}
		return out, nil
	}
	byName := map[string]ggufTensor{}
	for _, t := range ts {
		byName[t.name] = t
	}
	for _, t := range ts {
		w, ok := strings.CutSuffix(t.name, ".in_sum2")
		if !ok {
			continue
		}
		canon, ok := canonicalFromGGUF(w)
		if !ok {
			continue
		}
		ct, ok := byName[w+".counts"]
		if !ok {
			return nil, fmt.Errorf("tensor %s has no %s.counts", t.name, w)
		}
		if len(t.ne) < 2 || t.ne[1] != 1 || len(ct.ne) < 2 || ct.ne[0] != 1 || ct.ne[1] != 1 {
			return nil, fmt.Errorf("tensor %s: dimensions %v / counts %v: stacked experts are not supported", t.name, t.ne, ct.ne)
		}
		sums, err := f32s(t)
		if err != nil {
			return nil, err
		}
		cnt, err := f32s(ct)
		if err != nil {
			return nil, err
		}
		c := float64(cnt[0])
		if !(c >= 0) || c > 1<<53 {
			return nil, fmt.Errorf("tensor %s.counts: %v is not a token count", w, cnt[0])
		}
		e := &ImatrixEntry{SumSq: make([]float64, len(sums)), Count: int64(c)}
		for j, v := range sums {
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %s column %d: %v is not a finite non-negative sum", t.name, j, v)
			}
			e.SumSq[j] = float64(v)
		}
		m.Entries[canon] = e
	}
	if len(m.Entries) == 0 {
		return nil, errors.New("GGUF imatrix holds no entry for a Gemma 3 decoder weight")
	}
	return m, nil
}

// datasetName is the name recorded for a calibration file (its base name).
func datasetName(path string) string { return filepath.Base(path) }
