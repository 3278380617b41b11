package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	ggufparser "github.com/gpustack/gguf-parser-go"
)

// sampleKVs has one pair of every value type and array element type the writer handles.
func sampleKVs() []KV {
	return []KV{
		String("general.architecture", "gemma3"),
		{"u8", TypeUint8, uint8(7)}, {"i8", TypeInt8, int8(-7)},
		{"u16", TypeUint16, uint16(65535)}, {"i16", TypeInt16, int16(-300)},
		Uint32("u32", 1<<31), {"i32", TypeInt32, int32(-5)},
		Float32("f32", 1.5), Bool("bool", true),
		{"u64", TypeUint64, uint64(1) << 40}, {"i64", TypeInt64, int64(-1) << 40}, {"f64", TypeFloat64, math.Pi},
		String("utf8", "▁héllo\n\x00"),
		Strings("strs", []string{"<bos>", "", "▁▁"}),
		Float32s("f32s", []float32{-1, 0, 2.5}),
		Int32s("i32s", []int32{1, -2, 3}),
		Bools("bools", []bool{true, false, true}),
		{"u8s", TypeArray, Array{TypeUint8, []uint8{1, 2}}},
	}
}

func sampleTensors() []TensorInfo {
	return []TensorInfo{
		{Name: "a.weight", Ne: []uint64{64, 3}, Type: Q4_0},
		{Name: "b.weight", Ne: []uint64{5}, Type: F32},
		{Name: "c.weight", Ne: []uint64{32, 2, 2}, Type: Q8_0},
		{Name: "d.weight", Ne: []uint64{7, 3}, Type: BF16},
	}
}

// writeSample writes the sample file with payload bytes i+1 for tensor i.
func writeSample(tb testing.TB, path string) []TensorInfo {
	tb.Helper()
	w, err := Create(path, sampleKVs(), sampleTensors())
	if err != nil {
		tb.Fatal(err)
	}
	for i, t := range w.Tensors() {
		err := w.WriteTensor(t.Name, func(dst io.Writer) error {
			_, err := dst.Write(bytes.Repeat([]byte{byte(i + 1)}, int(t.Size)))
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	infos := w.Tensors()
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
	return infos
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.gguf")
	infos := writeSample(t, path)
	f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.KV, sampleKVs()) {
		t.Errorf("KV = %v, want %v", f.KV, sampleKVs())
	}
	if !reflect.DeepEqual(f.Tensors, infos) {
		t.Errorf("Tensors = %+v, want %+v", f.Tensors, infos)
	}
	if f.DataOffset%DefaultAlignment != 0 {
		t.Errorf("DataOffset = %d, not aligned", f.DataOffset)
	}
	for i, ti := range f.Tensors {
		b, err := io.ReadAll(f.TensorReader(ti))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, bytes.Repeat([]byte{byte(i + 1)}, int(ti.Size))) {
			t.Errorf("tensor %q payload differs", ti.Name)
		}
	}
	// Sizes of the block types: 64×3 Q4_0 = 6 blocks × 18; 32×2×2 Q8_0 = 4 × 34.
	for _, c := range []struct {
		name string
		want int64
	}{{"a.weight", 108}, {"b.weight", 20}, {"c.weight", 136}, {"d.weight", 42}} {
		if ti, _ := f.Tensor(c.name); ti.Size != c.want {
			t.Errorf("Size(%s) = %d, want %d", c.name, ti.Size, c.want)
		}
	}
}

// TestParserAgrees reads the writer's output with an independent GGUF parser
// (github.com/gpustack/gguf-parser-go) and compares every key, value and tensor descriptor.
func TestParserAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.gguf")
	infos := writeSample(t, path)
	pf, err := ggufparser.ParseGGUFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Header.Version != 3 || int(pf.Header.TensorCount) != len(infos) {
		t.Fatalf("parser header = %+v", pf.Header)
	}
	want := sampleKVs()
	if len(pf.Header.MetadataKV) != len(want) {
		t.Fatalf("parser sees %d keys, want %d", len(pf.Header.MetadataKV), len(want))
	}
	for i, kv := range pf.Header.MetadataKV {
		w := want[i]
		if kv.Key != w.Key || uint32(kv.ValueType) != uint32(w.Type) {
			t.Errorf("key %d = %q (%v), want %q (%v)", i, kv.Key, kv.ValueType, w.Key, w.Type)
			continue
		}
		got := fmt.Sprint(kv.Value)
		if w.Type == TypeArray {
			av := kv.ValueArray()
			if uint32(av.Type) != uint32(w.Value.(Array).Elem) {
				t.Errorf("key %q: array of %v, want %v", w.Key, av.Type, w.Value.(Array).Elem)
			}
			got = fmt.Sprint(av.Array)
		}
		exp := fmt.Sprint(w.Value)
		if a, ok := w.Value.(Array); ok {
			exp = fmt.Sprint(a.Values)
		}
		if got != exp {
			t.Errorf("key %q = %s, want %s", w.Key, got, exp)
		}
	}
	for i, ti := range pf.TensorInfos {
		w := infos[i]
		if ti.Name != w.Name || !reflect.DeepEqual(ti.Dimensions, w.Ne) || uint32(ti.Type) != uint32(w.Type) || ti.Offset != w.Offset {
			t.Errorf("tensor %d = %s %v %v @%d, want %s %v %v @%d", i, ti.Name, ti.Dimensions, ti.Type, ti.Offset, w.Name, w.Ne, w.Type, w.Offset)
		}
	}
	f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if pf.TensorDataStartOffset != f.DataOffset {
		t.Errorf("data offset: parser %d, ours %d", pf.TensorDataStartOffset, f.DataOffset)
	}
}

func TestWriterRejects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gguf")
	w, err := Create(path, nil, sampleTensors())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor("b.weight", func(io.Writer) error { return nil }); err == nil {
		t.Error("WriteTensor out of order succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("destination exists after a failed write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
	w, err = Create(path, nil, sampleTensors()[:1])
	if err != nil {
		t.Fatal(err)
	}
	err = w.WriteTensor("a.weight", func(dst io.Writer) error { _, err := dst.Write([]byte{1}); return err })
	if err == nil {
		t.Error("short payload accepted")
	}
	if _, err := Create(path, nil, []TensorInfo{{Name: "q", Ne: []uint64{31}, Type: Q4_0}}); err == nil {
		t.Error("row of 31 Q4_0 elements accepted")
	}
}

// hostile builds a header from raw parts for the corpus below.
type hostile struct {
	b []byte
}

func (h *hostile) u32(v uint32) *hostile  { h.b = binary.LittleEndian.AppendUint32(h.b, v); return h }
func (h *hostile) u64(v uint64) *hostile  { h.b = binary.LittleEndian.AppendUint64(h.b, v); return h }
func (h *hostile) str(s string) *hostile  { h.u64(uint64(len(s))); h.b = append(h.b, s...); return h }
func (h *hostile) raw(b ...byte) *hostile { h.b = append(h.b, b...); return h }

func head(nt, nkv uint64) *hostile {
	h := &hostile{}
	h.raw('G', 'G', 'U', 'F').u32(3).u64(nt).u64(nkv)
	return h
}

// tensor appends a descriptor.
func (h *hostile) tensor(name string, ne []uint64, typ uint32, off uint64) *hostile {
	h.str(name).u32(uint32(len(ne)))
	for _, d := range ne {
		h.u64(d)
	}
	return h.u32(typ).u64(off)
}

func (h *hostile) pad(n int) *hostile {
	for len(h.b)%32 != 0 {
		h.b = append(h.b, 0)
	}
	h.b = append(h.b, make([]byte, n)...)
	return h
}

// TestHostile feeds malformed files to the reader: each must fail with ErrFormat or
// ErrUnsupported, never panic or allocate by the file's word.
func TestHostile(t *testing.T) {
	valid, err := os.ReadFile(func() string {
		p := filepath.Join(t.TempDir(), "s.gguf")
		writeSample(t, p)
		return p
	}())
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	// Offset of the first tensor's type field: found by searching for the name.
	nameAt := bytes.Index(valid, []byte("a.weight"))
	typeAt := nameAt + len("a.weight") + 4 + 2*8
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"bad magic", mutate(func(b []byte) { b[0] = 'X' }), ErrFormat},
		{"version 1", mutate(func(b []byte) { b[4] = 1 }), ErrUnsupported},
		{"huge tensor count", head(1<<62, 0).b, ErrFormat},
		{"huge kv count", head(0, 1<<62).b, ErrFormat},
		{"tensor count beyond bytes", head(1000, 0).pad(64).b, ErrFormat},
		{"huge key length", head(0, 1).u64(1 << 62).b, ErrFormat},
		{"key length beyond file", head(0, 1).u64(100).raw('a').b, ErrFormat},
		{"bad value type", head(0, 1).str("k").u32(13).raw(0, 0, 0, 0).b, ErrFormat},
		{"bool 2", head(0, 1).str("k").u32(uint32(TypeBool)).raw(2).b, ErrFormat},
		{"huge array", head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(1 << 60).b, ErrFormat},
		{"string array beyond file", head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 20).str("x").b, ErrFormat},
		{"nested array", head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1).b, ErrUnsupported},
		{"invalid utf-8 key", head(0, 1).str("\xff").u32(uint32(TypeUint8)).raw(1).b, ErrFormat},
		{"duplicate key", head(0, 2).str("k").u32(uint32(TypeUint8)).raw(1).str("k").u32(uint32(TypeUint8)).raw(1).b, ErrFormat},
		{"alignment 3", head(0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(3).b, ErrFormat},
		{"alignment as string", head(0, 1).str("general.alignment").u32(uint32(TypeString)).str("32").b, ErrFormat},
		{"rank 0", head(1, 0).tensor("t", nil, 0, 0).pad(64).b, ErrFormat},
		{"rank 5", head(1, 0).tensor("t", []uint64{1, 1, 1, 1, 1}, 0, 0).pad(64).b, ErrFormat},
		{"dimension 0", head(1, 0).tensor("t", []uint64{0}, 0, 0).pad(64).b, ErrFormat},
		{"element count overflow", head(1, 0).tensor("t", []uint64{1 << 32, 1 << 32, 1 << 32}, 0, 0).pad(64).b, ErrFormat},
		{"unknown ggml type", head(1, 0).tensor("t", []uint64{4}, 99, 0).pad(64).b, ErrUnsupported},
		{"partial block", head(1, 0).tensor("t", []uint64{31}, uint32(Q4_0), 0).pad(64).b, ErrFormat},
		{"misaligned offset", head(1, 0).tensor("t", []uint64{4}, 0, 4).pad(64).b, ErrFormat},
		{"data beyond file", head(1, 0).tensor("t", []uint64{1024}, 0, 0).pad(64).b, ErrFormat},
		{"offset beyond file", head(1, 0).tensor("t", []uint64{4}, 0, 1<<62).pad(64).b, ErrFormat},
		{"overlapping data", head(2, 0).tensor("t", []uint64{16}, 0, 0).tensor("u", []uint64{16}, 0, 32).pad(128).b, ErrFormat},
		{"duplicate tensor", head(2, 0).tensor("t", []uint64{4}, 0, 0).tensor("t", []uint64{4}, 0, 32).pad(64).b, ErrFormat},
		{"type of first tensor unknown", mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[typeAt:], 77) }), ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(c.b), int64(len(c.b)), "hostile.gguf", nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("Read = %v, want %v", err, c.want)
			}
			if len(fmt.Sprint(err)) > 300 {
				t.Errorf("error longer than a line: %v", err)
			}
		})
	}
	// Every truncation of the valid file fails cleanly (the payload region included).
	for n := range len(valid) {
		_, err := Read(bytes.NewReader(valid[:n]), int64(n), "cut.gguf", nil)
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("Read(first %d of %d bytes) = %v, want ErrFormat", n, len(valid), err)
		}
	}
	if _, err := Read(bytes.NewReader(valid), int64(len(valid)), "ok.gguf", nil); err != nil {
		t.Fatalf("valid file: %v", err)
	}
}

// FuzzRead checks that no input panics, every error is a sentinel, and anything that parses
// re-encodes to a header that parses equal.
func FuzzRead(f *testing.F) {
	p := filepath.Join(f.TempDir(), "s.gguf")
	writeSample(f, p)
	valid, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(head(1, 0).tensor("t", []uint64{4}, 0, 0).pad(64).b)
	f.Add(head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("a").str("b").b)
	lim := &Limits{MaxKV: 64, MaxTensors: 64, MaxString: 1 << 12, MaxArray: 1 << 12, MaxHeader: 1 << 20}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz.gguf", lim)
		if err != nil {
			if !IsFormatError(err) {
				t.Fatalf("error %v is not a sentinel", err)
			}
			return
		}
		hdr, err := AppendHeader(nil, g.KV, g.Tensors)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		end := int64(0)
		for _, ti := range g.Tensors {
			end = max(end, int64(ti.Offset)+ti.Size)
		}
		data := (int64(len(hdr)) + int64(g.Alignment) - 1) / int64(g.Alignment) * int64(g.Alignment)
		hdr = append(hdr, make([]byte, data-int64(len(hdr))+end)...)
		g2, err := Read(bytes.NewReader(hdr), int64(len(hdr)), "again.gguf", lim)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		hdr2, err := AppendHeader(nil, g2.KV, g2.Tensors)
		if err != nil || !bytes.Equal(hdr2, hdr[:len(hdr2)]) {
			t.Fatalf("re-parse differs (%v)", err)
		}
	})
}
