package testutil

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/gemmatool/gemmatool/convert"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// RawTensor is a tensor read by [ReadRawSafetensors]: its bytes as stored.
type RawTensor struct {
	DType string
	Shape []int64
	Data  []byte
}

// ReadRawSafetensors reads a whole (small) safetensors file with a minimal parser of its own
// (independent of the packages under test) and returns every tensor's stored bytes.
func ReadRawSafetensors(path string) (map[string]RawTensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%s: short file", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%s: header length %d beyond the file", path, n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		return nil, err
	}
	data := b[8+n:]
	out := map[string]RawTensor{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType       string   `json:"dtype"`
			Shape       []int64  `json:"shape"`
			DataOffsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		if e.DataOffsets[0] < 0 || e.DataOffsets[1] > int64(len(data)) || e.DataOffsets[0] > e.DataOffsets[1] {
			return nil, fmt.Errorf("%s: %s: offsets out of range", path, name)
		}
		out[name] = RawTensor{DType: e.DType, Shape: e.Shape, Data: data[e.DataOffsets[0]:e.DataOffsets[1]]}
	}
	return out, nil
}

// CopyDir copies the regular files of src into dst (created if needed).
func CopyDir(dst, src string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ShardCheckpoint copies the checkpoint in src to dst with its model.safetensors split into
// n shards named as transformers names them (model-00001-of-0000n.safetensors), plus
// model.safetensors.index.json.
func ShardCheckpoint(dst, src string, n int) error {
	if err := CopyDir(dst, src); err != nil {
		return err
	}
	ts, err := ReadRawSafetensors(filepath.Join(src, "model.safetensors"))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	weightMap := map[string]string{}
	var total int64
	for s := 0; s < n; s++ {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, n)
		var part []convert.STensor
		for i := s * len(names) / n; i < (s+1)*len(names)/n; i++ {
			t := ts[names[i]]
			data := t.Data
			part = append(part, convert.STensor{Name: names[i], DType: t.DType, Shape: t.Shape,
				Fill: func(w io.Writer) error { _, err := w.Write(data); return err }})
			weightMap[names[i]] = file
			total += int64(len(data))
		}
		if err := convert.WriteSafetensors(filepath.Join(dst, file), map[string]string{"format": "pt"}, part); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dst, "model.safetensors")); err != nil {
		return err
	}
	return convert.WriteIndex(filepath.Join(dst, "model.safetensors.index.json"), total, weightMap)
}
