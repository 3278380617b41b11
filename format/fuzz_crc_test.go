package format

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fixCRCs recomputes, where the offsets allow, every section CRC and the table CRC of data,
// so that a mutation reaches the structural checks behind the checksums.
func fixCRCs(b []byte) {
	if len(b) < HeaderSize {
		return
	}
	table := binary.LittleEndian.Uint64(b[16:])
	n := uint64(binary.LittleEndian.Uint32(b[24:]))
	if n > 64 || table > uint64(len(b)) || n*64 > uint64(len(b))-table {
		return
	}
	for i := uint64(0); i < n; i++ {
		e := b[table+i*64:]
		off, ln := binary.LittleEndian.Uint64(e[8:]), binary.LittleEndian.Uint64(e[16:])
		if off <= uint64(len(b)) && ln <= uint64(len(b))-off {
			binary.LittleEndian.PutUint32(e[32:], crc32.Checksum(b[off:off+ln], castagnoli))
		}
	}
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[table:table+n*64], castagnoli))
	binary.LittleEndian.PutUint64(b[32:], uint64(len(b)))
}

// FuzzOpenFixedCRC is FuzzOpen over mutations whose checksums and recorded size are fixed
// up afterwards: well-formed-looking files that lie, which only the structural checks can
// refuse. Open must fail with a sentinel or return a file whose every tensor can be read
// and verified.
func FuzzOpenFixedCRC(f *testing.F) {
	dir := f.TempDir()
	b, _ := os.ReadFile(writeSample(f, dir))
	f.Add(b)
	m := tinyConfig()
	path := filepath.Join(dir, "t.gmt")
	w, _ := Create(path)
	w.SetMetadata(&Metadata{Model: m})
	w.AddFile("tokenizer.json", []byte(`{"model":{}}`))
	for _, tt := range []struct {
		name  string
		dt    DType
		shape []int64
	}{{"text.embed", F32, []int64{4, 16}}, {"text.blk.0.attn_q", I4, []int64{16, 16}}, {"text.blk.0.attn_k", SFP8, []int64{16, 16}}} {
		l, _ := LayoutOf(tt.dt, tt.shape)
		p := make([]byte, l.Size)
		for i := l.ScalesOff; i+4 <= l.Size && tt.dt == I4; i += 4 {
			binary.LittleEndian.PutUint32(p[i:], 0x3f800000)
		}
		w.WriteTensor(tt.name, tt.dt, tt.shape, 1, func(w io.Writer) error { _, err := w.Write(p); return err })
	}
	if err := w.Commit(); err == nil {
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
	fuzzPath := filepath.Join(dir, "f.gmt")
	f.Fuzz(func(t *testing.T, data []byte) {
		data = append([]byte(nil), data...)
		fixCRCs(data)
		if err := os.WriteFile(fuzzPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := Open(fuzzPath, &Options{MaxSectionBytes: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		defer file.Close()
		for _, tn := range file.Tensors() {
			if tn.Layout.Rows > 0 && tn.Layout.Cols > 0 && tn.Layout.Rows*tn.Layout.Cols <= 1<<16 {
				dst := make([]float32, tn.Layout.Cols)
				DecodeRow(dst, tn.DType, tn.Layout, tn.Data, int(tn.Layout.Rows-1), tn.Scale)
			}
		}
		for _, n := range file.FileNames() {
			file.EmbeddedFile(n)
		}
		file.VerifyChecksums(nil)
	})
}
