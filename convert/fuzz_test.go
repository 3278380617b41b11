package convert

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Fuzz targets for the three parsers of untrusted checkpoint files. Properties: no panic,
// every error unwraps to a sentinel, and whatever parses writes back and re-parses equal.

func seedFiles(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(pattern)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
}

func FuzzSafetensorsHeader(f *testing.F) {
	for _, p := range []string{"../testdata/b_mm_4b_like/pixel_values.safetensors"} {
		if b, err := os.ReadFile(p); err == nil && len(b) < 2<<20 {
			f.Add(b)
		}
	}
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]}}`, make([]byte, 10)))
	f.Add(stFile(`{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseSafetensors(data)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v is not ErrCheckpoint", err)
			}
			return
		}
		// Write the header back with offsets relative to the data region and re-parse.
		ts := append([]stTensor(nil), h.Tensors...)
		for i := range ts {
			ts[i].Begin -= h.DataStart()
			ts[i].End -= h.DataStart()
		}
		re := append(encodeSafetensorsHeader(h.Meta, ts), data[h.DataStart():]...)
		h2, err := parseSafetensors(re)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(h2.Tensors) != len(h.Tensors) {
			t.Fatalf("re-parse: %d tensors, want %d", len(h2.Tensors), len(h.Tensors))
		}
		for i := range ts {
			a, b := h.Tensors[i], h2.Tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !equalShape(a.Shape, b.Shape) || a.End-a.Begin != b.End-b.Begin ||
				a.Begin-h.DataStart() != b.Begin-h2.DataStart() {
				t.Fatalf("re-parse: tensor %+v became %+v", a, b)
			}
		}
	})
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":10},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../x.safetensors"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := parseIndex(data)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v is not ErrCheckpoint", err)
			}
			return
		}
		var re []byte
		re = append(re, `{"weight_map":{`...)
		first := true
		for k, v := range ix.WeightMap {
			if !first {
				re = append(re, ',')
			}
			first = false
			re = appendJSONString(re, k)
			re = append(re, ':')
			re = appendJSONString(re, v)
		}
		re = append(re, "}}"...)
		ix2, err := parseIndex(re)
		if err != nil || !reflect.DeepEqual(ix, ix2) {
			t.Fatalf("re-parse = %+v, %v; want %+v", ix2, err, ix)
		}
	})
}

func FuzzConfig(f *testing.F) {
	seedFiles(f, "../testdata/*/config.json")
	seedFiles(f, "../testdata/models/*/config.json")
	for _, size := range ReleasedSizes() {
		m, _ := ReleasedConfig(size, 0)
		js, _ := MarshalHFConfig(&m, HFStyle{Minimal: true})
		f.Add(js)
	}
	f.Add([]byte(`{"model_type":"gemma3_text","rope_parameters":{"full_attention":{"rope_type":"linear","factor":8}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrCheckpoint) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		js, err := MarshalHFConfig(&c.Model, HFStyle{})
		if err != nil {
			t.Fatalf("MarshalHFConfig: %v", err)
		}
		c2, err := ParseConfig(js)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, js)
		}
		if !reflect.DeepEqual(c.Model, c2.Model) {
			t.Fatalf("re-parse = %+v\nwant %+v", c2.Model, c.Model)
		}
	})
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := jsonMarshalString(s)
	return append(b, q...)
}

func jsonMarshalString(s string) ([]byte, error) { return json.Marshal(s) }
