package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// sections decodes the section table of a file's bytes.
func sections(b []byte) (tableOff int, secs []sectionEntry) {
	tableOff = int(binary.LittleEndian.Uint64(b[16:]))
	n := int(binary.LittleEndian.Uint32(b[24:]))
	for i := 0; i < n; i++ {
		e := b[tableOff+i*64:]
		secs = append(secs, sectionEntry{Kind: binary.LittleEndian.Uint32(e), Flags: binary.LittleEndian.Uint32(e[4:]),
			Offset: int64(binary.LittleEndian.Uint64(e[8:])), Stored: int64(binary.LittleEndian.Uint64(e[16:])),
			Raw: int64(binary.LittleEndian.Uint64(e[24:])), CRC: binary.LittleEndian.Uint32(e[32:]),
			Name: string(bytes.TrimRight(e[36:64], "\x00"))})
	}
	return tableOff, secs
}

// rebuild lays out a file again from its bytes: the data region up to the first section is
// kept, then the sections (edited by edit, which may change any field and return new stored
// bytes) are written at multiples of 8, then the table; every CRC and the size are
// recomputed unless edit sets the CRC.
func rebuild(b []byte, edit func(s *sectionEntry, stored []byte) []byte) []byte {
	return rebuildGaps(b, edit, nil)
}

// rebuildGaps is rebuild with extra bytes inserted before the named sections (after the
// 8-byte alignment).
func rebuildGaps(b []byte, edit func(s *sectionEntry, stored []byte) []byte, gaps map[string][]byte) []byte {
	_, secs := sections(b)
	first := len(b)
	for _, s := range secs {
		first = min(first, int(s.Offset))
	}
	out := append([]byte(nil), b[:first]...)
	var table []byte
	for _, s := range secs {
		stored := append([]byte(nil), b[s.Offset:s.Offset+s.Stored]...)
		s.CRC = 0xffffffff // marker: recompute unless edit sets it
		if edit != nil {
			stored = edit(&s, stored)
		}
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		out = append(out, gaps[s.Name]...)
		s.Offset, s.Stored = int64(len(out)), int64(len(stored))
		if s.CRC == 0xffffffff {
			s.CRC = crc32.Checksum(stored, castagnoli)
		}
		out = append(out, stored...)
		table = append(table, s.encode()...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	binary.LittleEndian.PutUint64(out[16:], uint64(len(out)))
	binary.LittleEndian.PutUint32(out[24:], uint32(len(secs)))
	binary.LittleEndian.PutUint32(out[28:], crc32.Checksum(table, castagnoli))
	out = append(out, table...)
	binary.LittleEndian.PutUint64(out[32:], uint64(len(out)))
	return out
}

func TestEmbeddedFileChecksum(t *testing.T) {
	path := writeSample(t, t.TempDir())
	p := corrupt(t, path, func(b []byte) []byte {
		for _, s := range func() []sectionEntry { _, s := sections(b); return s }() {
			if s.Name == "tokenizer.json" {
				b[s.Offset+s.Stored-2] ^= 0x01
			}
		}
		return b
	})
	f, err := Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.VerifyChecksums(nil); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), `"tokenizer.json"`) {
		t.Errorf("VerifyChecksums with a flipped byte in the embedded tokenizer.json = %v, want a checksum error naming it", err)
	}
}

// TestZstdWithoutContentSize: a section compressed by a streaming encoder (no content size
// in the frame header, an 8 MiB window, as `zstd -c` writes from a pipe) decodes.
func TestZstdWithoutContentSize(t *testing.T) {
	path := writeSample(t, t.TempDir())
	content := make([]byte, 300<<10)
	for i := range content {
		content[i] = byte(i*i>>7) | 0x20
	}
	p := corrupt(t, path, func(b []byte) []byte {
		return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
			if s.Name != "tokenizer.json" {
				return stored
			}
			var buf bytes.Buffer
			w, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(8<<20))
			for i := 0; i < len(content); i += 50 << 10 {
				w.Write(content[i : i+50<<10])
				w.Flush()
			}
			w.Close()
			s.Raw = int64(len(content))
			return buf.Bytes()
		})
	})
	f, err := Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, ok, err := f.EmbeddedFile("tokenizer.json")
	if err != nil || !ok || !bytes.Equal(got, content) {
		t.Fatalf("EmbeddedFile = %d bytes, %v, %v; want the %d-byte content", len(got), ok, err, len(content))
	}
	if err := f.VerifyChecksums(nil); err != nil {
		t.Error(err)
	}
}

// TestSectionAllocationFollowsBytes: a small file whose metadata section records a raw size
// of 16 MiB (the most the ratio cap allows it) does not make the reader allocate it before
// finding the data short.
func TestSectionAllocationFollowsBytes(t *testing.T) {
	path := writeSample(t, t.TempDir())
	p := corrupt(t, path, func(b []byte) []byte {
		return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
			if s.Name == "meta" {
				s.Raw = 16 << 20
			}
			return stored
		})
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Open(p, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "decompresses to") {
		t.Errorf("Open = %v, want a decompressed-size error", err)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 6<<20 {
		t.Errorf("Open of a %d-byte file allocated %d MiB", len(p), a>>20)
	}
}

// TestSectionRatioCap: a few kilobytes of zstd that claim 32 MiB (run-length blocks) are
// refused at open: a small file cannot make the reader inflate hundreds of megabytes.
func TestSectionRatioCap(t *testing.T) {
	path := writeSample(t, t.TempDir())
	p := corrupt(t, path, func(b []byte) []byte {
		return rebuild(b, func(s *sectionEntry, stored []byte) []byte {
			if s.Name != "tokenizer.json" {
				return stored
			}
			enc, _ := zstd.NewWriter(nil)
			out := enc.EncodeAll(make([]byte, 32<<20), nil)
			s.Raw = 32 << 20
			return out
		})
	})
	_, err := Open(p, nil)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "compression") {
		t.Errorf("Open = %v, want a compression-ratio error", err)
	}
}
