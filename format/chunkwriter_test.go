package format

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// recordWriter keeps what it is given and the size of each write.
type recordWriter struct {
	bytes.Buffer
	sizes []int
	fail  int // fail the write with this index (-1: never)
}

func (r *recordWriter) Write(p []byte) (int, error) {
	if len(r.sizes) == r.fail {
		return 0, errors.New("disk full")
	}
	r.sizes = append(r.sizes, len(p))
	return r.Buffer.Write(p)
}

// TestChunkWriter checks that the writer's chunked writes pass every byte on in order and that
// each write but the last has the chunk size (so it starts at a multiple of it).
func TestChunkWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	rec := &recordWriter{fail: -1}
	c := &chunkWriter{w: rec, buf: make([]byte, 0, 64)}
	for range 200 {
		p := make([]byte, rng.IntN(150))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		want.Write(p)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Bytes(), want.Bytes()) {
		t.Fatalf("wrote %d bytes, want the %d given", rec.Len(), want.Len())
	}
	for i, n := range rec.sizes[:len(rec.sizes)-1] {
		if n != 64 {
			t.Fatalf("write %d is %d bytes, want 64", i, n)
		}
	}
	if last := rec.sizes[len(rec.sizes)-1]; last != want.Len()%64 && !(want.Len()%64 == 0 && last == 64) {
		t.Fatalf("last write %d bytes, want %d", last, want.Len()%64)
	}

	// A failed write sticks: later writes and Flush report it.
	rec = &recordWriter{fail: 1}
	c = &chunkWriter{w: rec, buf: make([]byte, 0, 8)}
	if n, err := c.Write(make([]byte, 20)); err == nil || n != 16 {
		t.Fatalf("Write over a failing writer = %d, %v; want 16 bytes taken and an error", n, err)
	}
	if _, err := c.Write([]byte{1}); err == nil {
		t.Fatal("Write after a failure succeeded")
	}
	if err := c.Flush(); err == nil {
		t.Fatal("Flush after a failure succeeded")
	}
}
