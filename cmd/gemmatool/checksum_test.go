package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// convertA converts the small text checkpoint to a file in a fresh directory.
func convertA(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "a.gmt")
	if _, stderr, code := gt(t, "convert", "-q", "../../testdata/a_text_1b_like", "-o", out); code != 0 {
		t.Fatal(stderr)
	}
	return out
}

// TestVerifyChecksumsEmbeddedFile: a flipped byte in an embedded file's stored bytes passes a
// plain inspect but fails inspect --verify-checksums naming the embedded file.
func TestVerifyChecksumsEmbeddedFile(t *testing.T) {
	out := convertA(t)
	b, _ := os.ReadFile(out)
	table := int(binary.LittleEndian.Uint64(b[16:]))
	n := int(binary.LittleEndian.Uint32(b[24:]))
	flipped := false
	for i := 0; i < n; i++ {
		e := b[table+64*i:]
		if string(bytes.TrimRight(e[36:64], "\x00")) == "config.json" {
			off, stored := binary.LittleEndian.Uint64(e[8:]), binary.LittleEndian.Uint64(e[16:])
			b[off+stored/2] ^= 0x01
			flipped = true
		}
	}
	if !flipped {
		t.Fatal("no embedded config.json")
	}
	os.WriteFile(out, b, 0o644)
	if _, stderr, code := gt(t, "inspect", out); code != 0 {
		t.Fatalf("inspect = %d: %s", code, stderr)
	}
	stdout, stderr, code := gt(t, "inspect", "--verify-checksums", out)
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, out) ||
		!strings.Contains(stderr, `section "config.json" checksum mismatch`) {
		t.Errorf("inspect --verify-checksums = %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}

// TestQuantizeRefusesCorruptSource: quantizing a file whose payload was corrupted fails
// naming the file and the tensor, and writes nothing, instead of copying the damage into a
// new file under fresh checksums.
func TestQuantizeRefusesCorruptSource(t *testing.T) {
	out := convertA(t)
	f, err := format.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.Tensor("text.blk.1.ffn_up")
	f.Close()
	b, _ := os.ReadFile(out)
	b[q.Offset+7] ^= 0x20
	os.WriteFile(out, b, 0o644)
	for _, typ := range []string{"q8_0", "bf16"} {
		dst := filepath.Join(filepath.Dir(out), "q-"+typ+".gmt")
		_, stderr, code := gt(t, "quantize", out, "-o", dst, "--type", typ, "-q")
		if code != 1 || !strings.Contains(stderr, out) || !strings.Contains(stderr, `tensor "text.blk.1.ffn_up"`) || !strings.Contains(stderr, "CRC-32C") {
			t.Errorf("quantize --type %s of a corrupted file = %d: %q", typ, code, stderr)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Errorf("quantize --type %s wrote %s", typ, dst)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}
