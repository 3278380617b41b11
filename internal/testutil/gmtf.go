package testutil

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/klauspost/compress/zstd"
)

// GMTF is a gemmatool file parsed straight from the byte layout that format/doc.go
// specifies, without the format package: tests compare it with the real reader.
type GMTF struct {
	Major, Minor uint16
	Sections     []GMTFSection
	Meta         map[string]any // the decompressed metadata JSON
	Tensors      []GMTFTensor
	Files        map[string][]byte // embedded files, decompressed
}

// GMTFSection is one section table entry.
type GMTFSection struct {
	Kind, Flags uint32
	Offset      uint64
	Stored, Raw uint64
	CRC         uint32
	Name        string
}

// GMTFTensor is one tensor directory entry with its payload.
type GMTFTensor struct {
	Name           string
	DType          uint16
	Shape          []uint64
	Offset, Length uint64
	CRC            uint32
	Scale          float32
	Payload        []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ParseGMTF parses a whole file: 64-byte header (magic "GMTF\r\n\x1a\n", u16 major, u16 minor,
// u32 flags, u64 section table offset, u32 count, u32 table CRC-32C, u64 file size), 64-byte
// section entries (u32 kind, u32 flags, u64 offset, u64 stored length, u64 raw length, u32
// CRC-32C, 28-byte NUL-padded name), and the tensor directory (u32 count; per tensor u16 name
// length, name, u16 dtype, u8 rank, u8 0, rank × u64 dims, u64 offset, u64 length, u32
// CRC-32C, f32 scale). Every checksum is verified.
func ParseGMTF(b []byte) (*GMTF, error) {
	le := binary.LittleEndian
	if len(b) < 64 || string(b[:8]) != "GMTF\r\n\x1a\n" {
		return nil, fmt.Errorf("gmtf: bad header")
	}
	g := &GMTF{Major: le.Uint16(b[8:]), Minor: le.Uint16(b[10:]), Files: map[string][]byte{}}
	if f := le.Uint32(b[12:]); f != 0 {
		return nil, fmt.Errorf("gmtf: header flags %#x", f)
	}
	tableOff, count := le.Uint64(b[16:]), uint64(le.Uint32(b[24:]))
	if le.Uint64(b[32:]) != uint64(len(b)) {
		return nil, fmt.Errorf("gmtf: header file size %d, have %d", le.Uint64(b[32:]), len(b))
	}
	if tableOff+count*64 != uint64(len(b)) {
		return nil, fmt.Errorf("gmtf: section table [%d, +%d) does not end the file (%d)", tableOff, count*64, len(b))
	}
	table := b[tableOff:]
	if crc32.Checksum(table, castagnoli) != le.Uint32(b[28:]) {
		return nil, fmt.Errorf("gmtf: table checksum")
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var dir []byte
	for i := uint64(0); i < count; i++ {
		e := table[i*64 : i*64+64]
		s := GMTFSection{Kind: le.Uint32(e), Flags: le.Uint32(e[4:]), Offset: le.Uint64(e[8:]), Stored: le.Uint64(e[16:]),
			Raw: le.Uint64(e[24:]), CRC: le.Uint32(e[32:]), Name: string(bytes.TrimRight(e[36:64], "\x00"))}
		if s.Offset+s.Stored > tableOff {
			return nil, fmt.Errorf("gmtf: section %s out of range", s.Name)
		}
		stored := b[s.Offset : s.Offset+s.Stored]
		if crc32.Checksum(stored, castagnoli) != s.CRC {
			return nil, fmt.Errorf("gmtf: section %s checksum", s.Name)
		}
		raw := stored
		if s.Flags&1 != 0 {
			if raw, err = dec.DecodeAll(stored, nil); err != nil {
				return nil, fmt.Errorf("gmtf: section %s: %w", s.Name, err)
			}
		}
		if uint64(len(raw)) != s.Raw {
			return nil, fmt.Errorf("gmtf: section %s raw length %d, entry says %d", s.Name, len(raw), s.Raw)
		}
		switch s.Kind {
		case 1:
			if err := json.Unmarshal(raw, &g.Meta); err != nil {
				return nil, fmt.Errorf("gmtf: meta: %w", err)
			}
		case 2:
			dir = raw
		case 3:
			g.Files[s.Name] = raw
		}
		g.Sections = append(g.Sections, s)
	}
	if dir == nil || len(dir) < 4 {
		return nil, fmt.Errorf("gmtf: no tensor directory")
	}
	n := le.Uint32(dir)
	p := dir[4:]
	for i := uint32(0); i < n; i++ {
		if len(p) < 2 {
			return nil, fmt.Errorf("gmtf: directory short")
		}
		nl := int(le.Uint16(p))
		if len(p) < 2+nl+4 {
			return nil, fmt.Errorf("gmtf: directory short")
		}
		t := GMTFTensor{Name: string(p[2 : 2+nl])}
		p = p[2+nl:]
		t.DType = le.Uint16(p)
		rank := int(p[2])
		if p[3] != 0 {
			return nil, fmt.Errorf("gmtf: tensor %s: reserved byte %d", t.Name, p[3])
		}
		p = p[4:]
		if len(p) < rank*8+24 {
			return nil, fmt.Errorf("gmtf: directory short")
		}
		for k := 0; k < rank; k++ {
			t.Shape = append(t.Shape, le.Uint64(p[8*k:]))
		}
		p = p[8*rank:]
		t.Offset, t.Length, t.CRC = le.Uint64(p), le.Uint64(p[8:]), le.Uint32(p[16:])
		t.Scale = math.Float32frombits(le.Uint32(p[20:]))
		p = p[24:]
		if t.Offset%64 != 0 || t.Offset < 64 || t.Offset+t.Length > tableOff {
			return nil, fmt.Errorf("gmtf: tensor %s at [%d, +%d) misaligned or out of range", t.Name, t.Offset, t.Length)
		}
		t.Payload = b[t.Offset : t.Offset+t.Length]
		if crc32.Checksum(t.Payload, castagnoli) != t.CRC {
			return nil, fmt.Errorf("gmtf: tensor %s checksum", t.Name)
		}
		g.Tensors = append(g.Tensors, t)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("gmtf: %d bytes after the directory", len(p))
	}
	return g, nil
}
