package quantize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gemmatool/gemmatool/format/gguf"
)

// llama.cpp's imatrix file (tools/imatrix, the GGUF-based format of 2025): a GGUF v3 file with
// general.type = "imatrix", imatrix.datasets (array of strings), imatrix.chunk_count and
// imatrix.chunk_size (u32), and per weight W (llama.cpp's tensor name, e.g.
// "blk.0.ffn_down.weight") two F32 tensors: "W.in_sum2" of ne = [columns, 1] holding Σ x² per
// input column, and "W.counts" of ne = [1, 1] holding the token count (newer versions add
// "W.in_sum", Σ x, which gemmatool ignores on reading and does not write). Tensors are sorted by
// weight name; data is aligned to 32 bytes (or general.alignment).

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
	slices.SortStableFunc(ents, func(a, b ent) int { return strings.Compare(a.gname, b.gname) })
	kvs := []gguf.KV{
		gguf.String("general.type", "imatrix"),
		gguf.Strings("imatrix.datasets", m.Datasets),
		gguf.Uint32("imatrix.chunk_count", uint32(m.Chunks)),
		gguf.Uint32("imatrix.chunk_size", uint32(m.ChunkSize)),
	}
	var infos []gguf.TensorInfo
	for _, e := range ents {
		infos = append(infos,
			gguf.TensorInfo{Name: e.gname + ".in_sum2", Ne: []uint64{uint64(len(e.e.SumSq)), 1}, Type: gguf.F32},
			gguf.TensorInfo{Name: e.gname + ".counts", Ne: []uint64{1, 1}, Type: gguf.F32})
	}
	if _, err := gguf.Layout(infos, gguf.DefaultAlignment); err != nil {
		return nil, err
	}
	b, err := gguf.AppendHeader(nil, kvs, infos)
	if err != nil {
		return nil, err
	}
	pad := func() {
		for len(b)%gguf.DefaultAlignment != 0 {
			b = append(b, 0)
		}
	}
	pad()
	for _, e := range ents {
		for j, v := range e.e.SumSq {
			f := float32(v)
			if math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("imatrix: %s column %d: sum %g overflows float32", e.gname, j, v)
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		pad()
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(e.e.Count)))
		pad()
	}
	return b, nil
}

// UnmarshalGGUFImatrix decodes llama.cpp's GGUF imatrix. Entries whose weight has no
// canonical gemmatool name are skipped; entries of stacked experts (more than one count) are
// rejected.
func UnmarshalGGUFImatrix(b []byte) (*Imatrix, error) {
	f, err := gguf.Read(bytes.NewReader(b), int64(len(b)), "imatrix", &gguf.Limits{
		MaxKV: 1 << 16, MaxTensors: 4 * maxImatrixEntries, MaxString: 1 << 20, MaxArray: 1 << 24,
	})
	if err != nil {
		return nil, err
	}
	if kv, ok := f.Get("general.type"); !ok || kv.Value != "imatrix" {
		return nil, errors.New("GGUF file is not an imatrix (general.type is not \"imatrix\")")
	}
	m := &Imatrix{Entries: map[string]*ImatrixEntry{}}
	if kv, ok := f.Get("imatrix.chunk_count"); ok && kv.Type == gguf.TypeUint32 {
		m.Chunks = int(kv.Value.(uint32))
	}
	if kv, ok := f.Get("imatrix.chunk_size"); ok && kv.Type == gguf.TypeUint32 {
		m.ChunkSize = int(kv.Value.(uint32))
	}
	if kv, ok := f.Get("imatrix.datasets"); ok {
		a, ok := kv.Value.(gguf.Array)
		ds, isStr := a.Values.([]string)
		if !ok || !isStr || len(ds) > maxImatrixDatasets {
			return nil, fmt.Errorf("imatrix.datasets: want at most %d strings", maxImatrixDatasets)
		}
		m.Datasets = ds
	}
	f32s := func(t gguf.TensorInfo) ([]float32, error) {
		n := uint64(1)
		for _, d := range t.Ne {
			if d == 0 || d > maxImatrixCols {
				return nil, fmt.Errorf("tensor %s: dimensions %v", t.Name, t.Ne)
			}
			n *= d
		}
		if t.Type != gguf.F32 || n > maxImatrixCols {
			return nil, fmt.Errorf("tensor %s: %v of %v, an imatrix holds F32 columns", t.Name, t.Type, t.Ne)
		}
		raw := make([]byte, 4*n)
		if _, err := io.ReadFull(f.TensorReader(t), raw); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		out := make([]float32, n)
		for j := range out {
			out[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		return out, nil
	}
	for _, t := range f.Tensors {
		w, ok := strings.CutSuffix(t.Name, ".in_sum2")
		if !ok {
			continue
		}
		canon, ok := canonicalFromGGUF(w)
		if !ok {
			continue
		}
		ct, ok := f.Tensor(w + ".counts")
		if !ok {
			return nil, fmt.Errorf("tensor %s has no %s.counts", t.Name, w)
		}
		if len(t.Ne) < 2 || t.Ne[1] != 1 || len(ct.Ne) < 2 || ct.Ne[0] != 1 || ct.Ne[1] != 1 {
			return nil, fmt.Errorf("tensor %s: dimensions %v / counts %v: stacked experts are not supported", t.Name, t.Ne, ct.Ne)
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
				return nil, fmt.Errorf("tensor %s column %d: %v is not a finite non-negative sum", t.Name, j, v)
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
