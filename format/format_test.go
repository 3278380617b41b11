package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testMeta() *Metadata {
	return &Metadata{Model: ModelConfig{Arch: "gemma3"}, Tool: Tool{Name: "gemmatool", Version: "test"}}
}

// writeSample writes a file with three tensors of different types and one embedded file.
func writeSample(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "m.gmt")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.SetMetadata(testMeta())
	if err := w.AddFile("tokenizer.json", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	f32 := []float32{1, -2, 3.5, 4, 5, 6}
	if err := w.WriteTensor("a", F32, []int64{2, 3}, 1, func(w io.Writer) error { _, err := w.Write(Float32Bytes(f32)); return err }); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor("b", BF16, []int64{3}, 1, func(w io.Writer) error { _, err := w.Write([]byte{1, 2, 3, 4, 5, 6}); return err }); err != nil {
		t.Fatal(err)
	}
	l, _ := LayoutOf(Q8_0, []int64{2, 64})
	q := bytes.Repeat([]byte{7}, int(l.Size))
	if err := w.WriteTensor("c", Q8_0, []int64{2, 64}, 1, func(w io.Writer) error { _, err := w.Write(q); return err }); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := writeSample(t, dir)
	f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Tensors()) != 3 {
		t.Fatalf("got %d tensors, want 3", len(f.Tensors()))
	}
	a, ok := f.Tensor("a")
	if !ok {
		t.Fatal("tensor a missing")
	}
	v, err := Float32s(a.Data)
	if err != nil {
		t.Fatal(err)
	}
	if v[2] != 3.5 || len(v) != 6 {
		t.Errorf("a = %v, want [1 -2 3.5 4 5 6]", v)
	}
	for _, tn := range f.Tensors() {
		if tn.Offset%Alignment != 0 {
			t.Errorf("%s offset %d not aligned", tn.Name, tn.Offset)
		}
	}
	c, _ := f.Tensor("c")
	if c.Layout.ScalesOff != 128 || c.Layout.Size != 128+8 {
		t.Errorf("q8_0 layout = %+v, want scales at 128 and size 136", c.Layout)
	}
	b, ok, err := f.EmbeddedFile("tokenizer.json")
	if err != nil || !ok || string(b) != `{"x":1}` {
		t.Errorf("EmbeddedFile = %q, %v, %v", b, ok, err)
	}
	if err := f.VerifyChecksums(nil); err != nil {
		t.Errorf("VerifyChecksums: %v", err)
	}
	// No temp files are left beside the output.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the output", len(ents))
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gmt")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	err = w.WriteTensor("a", F32, []int64{4}, 1, func(w io.Writer) error { _, err := w.Write(make([]byte, 12)); return err })
	if err == nil {
		t.Fatal("short payload accepted")
	}
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left after a failed write", len(ents))
	}
}

// corrupt rewrites the file after applying edit to its bytes (fixing the table CRC when fix).
func corrupt(t *testing.T, path string, edit func(b []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bad.gmt")
	if err := os.WriteFile(out, edit(append([]byte(nil), b...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// dirOffset returns where the tensor directory's bytes start.
func dirOffset(b []byte) int {
	table := binary.LittleEndian.Uint64(b[16:])
	n := binary.LittleEndian.Uint32(b[24:])
	for i := 0; i < int(n); i++ {
		e := b[int(table)+i*64:]
		if binary.LittleEndian.Uint32(e) == SectionTensors {
			return int(binary.LittleEndian.Uint64(e[8:]))
		}
	}
	return -1
}

// refreshCRCs recomputes the directory section's CRC and the table CRC after an edit.
func refreshCRCs(b []byte) []byte {
	table := int(binary.LittleEndian.Uint64(b[16:]))
	n := int(binary.LittleEndian.Uint32(b[24:]))
	for i := 0; i < n; i++ {
		e := b[table+i*64:]
		off, ln := binary.LittleEndian.Uint64(e[8:]), binary.LittleEndian.Uint64(e[16:])
		binary.LittleEndian.PutUint32(e[32:], crc32.Checksum(b[off:off+ln], castagnoli))
	}
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[table:table+n*64], castagnoli))
	return b
}

func TestOpenRejects(t *testing.T) {
	path := writeSample(t, t.TempDir())
	// Offsets inside the directory entry of the first tensor "a" (rank 2).
	entry := func(b []byte) int { return dirOffset(b) + 4 }
	aOff := func(b []byte) int { return entry(b) + 2 + 1 + 2 + 2 + 16 }
	cases := []struct {
		name     string
		edit     func([]byte) []byte
		sentinel error
		msg      string
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrFormat, "shorter than"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrFormat, "bad magic"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }, ErrFormat, "truncated"},
		{"major version", func(b []byte) []byte { b[8] = 2; return b }, ErrUnsupported, "version 2"},
		{"table crc", func(b []byte) []byte { b[28] ^= 1; return b }, ErrChecksum, "section table"},
		{"misaligned payload", func(b []byte) []byte {
			o := aOff(b)
			binary.LittleEndian.PutUint64(b[o:], binary.LittleEndian.Uint64(b[o:])+4)
			return refreshCRCs(b)
		}, ErrFormat, "not a multiple of 64"},
		{"payload beyond data", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[aOff(b):], uint64(len(b))/64*64+64)
			return refreshCRCs(b)
		}, ErrFormat, "outside the data region"},
		{"overlapping payloads", func(b []byte) []byte {
			// Point tensor "b" (second entry) at tensor "a"'s payload.
			o := aOff(b)
			bEntry := o + 8 + 8 + 4 + 4
			bOff := bEntry + 2 + 1 + 2 + 2 + 8
			copy(b[bOff:bOff+8], b[o:o+8])
			return refreshCRCs(b)
		}, ErrFormat, "overlaps"},
		{"wrong length", func(b []byte) []byte {
			o := aOff(b) + 8
			binary.LittleEndian.PutUint64(b[o:], 20)
			return refreshCRCs(b)
		}, ErrFormat, "layout needs 24"},
		{"unknown dtype", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[entry(b)+2+1:], 99)
			return refreshCRCs(b)
		}, ErrUnsupported, "type 99"},
		{"directory crc", func(b []byte) []byte { b[dirOffset(b)+6] ^= 0xff; return b }, ErrChecksum, "checksum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := corrupt(t, path, tc.edit)
			f, err := Open(p, nil)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("Open error %v does not match %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "bad.gmt") {
				t.Errorf("Open error %q, want it to name the file and contain %q", err, tc.msg)
			}
		})
	}
}

func TestVerifyChecksumsFindsFlippedByte(t *testing.T) {
	path := writeSample(t, t.TempDir())
	p := corrupt(t, path, func(b []byte) []byte { b[64+5] ^= 0x10; return b })
	f, err := Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = f.VerifyChecksums(nil)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), `tensor "a"`) {
		t.Errorf("VerifyChecksums = %v, want a checksum error naming tensor a", err)
	}
}

func TestLayoutOf(t *testing.T) {
	cases := []struct {
		t                      DType
		shape                  []int64
		codes, scalesOff, size int64
	}{
		{F32, []int64{3, 5}, 60, 0, 60},
		{BF16, []int64{7}, 14, 0, 14},
		{Q8_0, []int64{3, 64}, 192, 192, 192 + 12},
		{Q4_0, []int64{3, 64}, 96, 128, 128 + 12},
		{I4, []int64{3, 5}, 9, 64, 64 + 12},
		{FP8, []int64{2, 3, 2}, 12, 64, 64 + 8},
		{SFP8, []int64{2, 10}, 20, 0, 20},
	}
	for _, c := range cases {
		l, err := LayoutOf(c.t, c.shape)
		if err != nil {
			t.Fatalf("LayoutOf(%v, %v): %v", c.t, c.shape, err)
		}
		if l.CodesLen != c.codes || l.ScalesOff != c.scalesOff || l.Size != c.size {
			t.Errorf("LayoutOf(%v, %v) = codes %d scales@%d size %d, want %d %d %d", c.t, c.shape, l.CodesLen, l.ScalesOff, l.Size, c.codes, c.scalesOff, c.size)
		}
	}
	for _, bad := range []struct {
		t     DType
		shape []int64
	}{{Q4_0, []int64{2, 48}}, {Q8_0, []int64{64}}, {DType(99), []int64{2}}, {F32, []int64{-1, 2}}, {F32, []int64{1 << 30, 1 << 30}}} {
		if _, err := LayoutOf(bad.t, bad.shape); err == nil {
			t.Errorf("LayoutOf(%v, %v) succeeded, want an error", bad.t, bad.shape)
		}
	}
}

func FuzzOpen(f *testing.F) {
	path := writeSample(f, f.TempDir())
	b, _ := os.ReadFile(path)
	f.Add(b)
	f.Add(b[:100])
	tb, _ := os.ReadFile(writeTokSample(f, f.TempDir(), sampleTables()))
	f.Add(tb)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.gmt")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := Open(p, &Options{MaxSectionBytes: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		for _, tn := range file.Tensors() {
			if tn.Offset%Alignment != 0 || int64(len(tn.Data)) != tn.Length {
				t.Fatalf("tensor %s passed validation with bad layout", tn.Name)
			}
		}
		if tables, err := file.Tokenizer(); err != nil {
			t.Fatalf("Tokenizer() of a file that opened: %v", err)
		} else if tables != nil {
			if _, err := encodeTokenizer(tables); err != nil {
				t.Fatalf("tokenizer tables that opened do not encode: %v", err)
			}
		}
		file.VerifyChecksums(nil)
		file.Close()
	})
}
