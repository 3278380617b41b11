package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// stFile builds safetensors bytes from a raw JSON header and a data region.
func stFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestParseSafetensors(t *testing.T) {
	good := `{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	h, err := parseSafetensors(stFile(good, make([]byte, 16)))
	if err != nil {
		t.Fatalf("parseSafetensors(good) = %v", err)
	}
	ds := 8 + int64(len(good))
	if len(h.Tensors) != 2 || h.Tensors[0].Name != "a" || h.Tensors[0].Begin != ds || h.Tensors[1].End != ds+16 || h.Meta["format"] != "pt" {
		t.Errorf("parseSafetensors(good) = %+v", h)
	}

	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"short file", []byte{1, 2, 3}, "too short for a safetensors header"},
		{"truncated", stFile(good, make([]byte, 10)), `tensor "b": data_offsets [8, 16) beyond the data region of 10 bytes (file truncated?)`},
		{"header length beyond file", func() []byte {
			b := stFile(good, make([]byte, 16))
			binary.LittleEndian.PutUint64(b, 1<<40)
			return b
		}(), "header length 1099511627776 beyond the file size"},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
			`tensor "b": offset 0x`},
		{"out of range", stFile(`{"a":{"dtype":"F32","shape":[250],"data_offsets":[0,1000]}}`, make([]byte, 16)), `tensor "a": data_offsets [0, 1000) beyond the data region of 16 bytes`},
		{"size mismatch", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "hold 8 bytes, a F32 [3] tensor needs 12"},
		{"gap", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "4-byte gap"},
		{"trailing", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 8)), "4 bytes after the last tensor"},
		{"not json", stFile(`{"a":`, nil), "header is not valid JSON"},
		{"unknown dtype", stFile(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), `unknown dtype "Q4"`},
		{"negative dim", stFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "not a non-negative integer"},
		{"reversed offsets", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, make([]byte, 4)), "end before they begin"},
		{"extra key", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4)), `unknown header key "x"`},
		{"huge shape", stFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)), "too many elements"},
		{"metadata not strings", stFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__ is not a map of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSafetensors(tt.file)
			if !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseSafetensors = %v, want ErrCheckpoint containing %q", err, tt.want)
			}
		})
	}
}

func TestParseIndex(t *testing.T) {
	ix, err := parseIndex([]byte(`{"metadata":{"total_size":10},"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}`))
	if err != nil || len(ix.Files) != 2 || ix.Files[0] != "model-00001-of-00002.safetensors" || ix.WeightMap["a"] != "model-00002-of-00002.safetensors" {
		t.Fatalf("parseIndex = %+v, %v", ix, err)
	}
	for _, tt := range []struct{ json, want string }{
		{`{`, "not a JSON object"},
		{`{"weight_map":{}}`, "empty"},
		{`{"weight_map":{"a":1}}`, "not a map of strings"},
		{`{"weight_map":{"a":"../x.safetensors"}}`, "not a .safetensors file name"},
		{`{"weight_map":{"a":"/etc/passwd"}}`, "not a .safetensors file name"},
		{`{"weight_map":{"a":"x.bin"}}`, "not a .safetensors file name"},
	} {
		if _, err := parseIndex([]byte(tt.json)); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseIndex(%s) = %v, want ErrCheckpoint containing %q", tt.json, err, tt.want)
		}
	}
}

func TestEncodeSafetensorsHeader(t *testing.T) {
	ts := []stTensor{{Name: "x", DType: "BF16", Shape: []int64{3, 2}, Begin: 0, End: 12}, {Name: "s", DType: "F32", Shape: nil, Begin: 12, End: 16}}
	b := encodeSafetensorsHeader(map[string]string{"format": "pt"}, ts)
	if (len(b)-8)%8 != 0 {
		t.Errorf("header length %d not padded to 8", len(b)-8)
	}
	h, err := parseSafetensors(append(b, make([]byte, 16)...))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(h.Tensors[0].Shape, h.Tensors[1].Shape); got != "[3 2] []" {
		t.Errorf("shapes = %s", got)
	}
}

// TestSafetensorsManyEntries: a header with more entries than the cap is refused while
// parsing, with memory proportional to the entries read, not to the header.
func TestSafetensorsManyEntries(t *testing.T) {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < 200_000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%07d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`, i)
	}
	b.WriteByte('}')
	file := stFile(b.String(), nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := parseSafetensors(file)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "header entries") {
		t.Errorf("parseSafetensors(200000 entries) = %v, want the entry cap", err)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 40<<20 {
		t.Errorf("parsing a %d-byte header allocated %d MiB", len(file), a>>20)
	}
	// A duplicate name is refused (a JSON map would keep only one of them silently).
	dup := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`
	if _, err := parseSafetensors(stFile(dup, make([]byte, 8))); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate entry: %v", err)
	}
}
