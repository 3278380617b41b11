package quantize

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestRunMatchesEncode quantizes a small file chunk by chunk through Run and checks every
// payload against the in-memory Encode of the same values, for every preset.
func TestRunMatchesEncode(t *testing.T) {
	old := chunkElems
	chunkElems = 96 // several chunks per tensor, and a partial last chunk
	defer func() { chunkElems = old }()
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	src := filepath.Join(dir, "src.gmt")
	w, err := format.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	tensors := map[string][]int64{
		"text.embed":           {10, 64},
		"text.blk.0.attn_q":    {7, 64},
		"text.blk.0.ffn_down":  {5, 96},
		"text.blk.0.attn_norm": {64},
		"text.output_norm":     {64},
	}
	order := []string{"text.embed", "text.blk.0.attn_q", "text.blk.0.ffn_down", "text.blk.0.attn_norm", "text.output_norm"}
	vals := map[string][]float32{}
	for _, n := range order {
		shape := tensors[n]
		ne, _ := format.NumElements(shape)
		v := make([]float32, ne)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 3) // beyond 1.875: SFP8 gets a scale
		}
		vals[n] = v
		if err := w.WriteTensor(n, format.F32, shape, 1, func(w io.Writer) error { _, err := w.Write(format.Float32Bytes(v)); return err }); err != nil {
			t.Fatal(err)
		}
	}
	w.SetMetadata(&format.Metadata{})
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, preset := range []format.DType{format.Q4_0, format.Q8_0, format.I4, format.FP8, format.SFP8, format.BF16} {
		t.Run(preset.String(), func(t *testing.T) {
			out := filepath.Join(dir, preset.String()+".gmt")
			p := Policy{Preset: preset}
			q, err := Run(out, Job{Src: FileSource{f}, Policy: p, Preset: preset.String(), Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			g, err := format.Open(out, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if err := g.VerifyChecksums(nil); err != nil {
				t.Fatal(err)
			}
			for _, n := range order {
				want, _, _ := p.Decide(n, format.F32, tensors[n])
				got, ok := g.Tensor(n)
				if !ok || got.DType != want {
					t.Fatalf("tensor %s: type %v, want %v", n, got.DType, want)
				}
				if !want.Quantized() {
					continue
				}
				payload, scale, err := Encode(want, tensors[n], vals[n], Options{})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(payload, got.Data) || scale != got.Scale {
					t.Errorf("tensor %s (%v): streamed payload differs from Encode (scale %v vs %v)", n, want, got.Scale, scale)
				}
			}
			if len(q.Tensors) == 0 || q.Tensors[0].RelL2 <= 0 {
				t.Errorf("error report %+v, want entries with a positive error", q.Tensors)
			}
		})
	}
}

// writeSource writes a small F32 file for the hostile-source tests.
func writeSource(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src.gmt")
	w, err := format.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"text.embed", "text.blk.0.attn_q"} {
		v := make([]float32, 8*64)
		for i := range v {
			v[i] = float32(i%13) - 6
		}
		if err := w.WriteTensor(n, format.F32, []int64{8, 64}, 1, func(w io.Writer) error { _, err := w.Write(format.Float32Bytes(v)); return err }); err != nil {
			t.Fatal(err)
		}
	}
	w.SetMetadata(&format.Metadata{})
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestRunRefusesCorruptSource flips a payload byte of the source: Run fails naming the
// file and tensor, for a re-quantized and for a copied tensor, and writes nothing.
func TestRunRefusesCorruptSource(t *testing.T) {
	for _, preset := range []format.DType{format.Q8_0, format.F32} {
		t.Run(preset.String(), func(t *testing.T) {
			dir := t.TempDir()
			src := writeSource(t, dir)
			b, _ := os.ReadFile(src)
			b[64+8*64*4+100] ^= 0x04 // inside the second tensor's payload
			os.WriteFile(src, b, 0o644)
			f, err := format.Open(src, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out := filepath.Join(dir, "out.gmt")
			_, err = Run(out, Job{Src: FileSource{f}, Policy: Policy{Preset: preset}, Workers: 1})
			if !errors.Is(err, format.ErrChecksum) || !strings.Contains(err.Error(), "src.gmt") || !strings.Contains(err.Error(), `"text.blk.0.attn_q"`) {
				t.Fatalf("Run over a corrupted source = %v, want a checksum error naming the file and tensor", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("directory holds %d entries, want only the source", len(ents))
			}
		})
	}
}

// TestRunSourceTruncated truncates the mapped source before Run: an error, not SIGBUS.
func TestRunSourceTruncated(t *testing.T) {
	for _, preset := range []format.DType{format.Q8_0, format.F32} {
		t.Run(preset.String(), func(t *testing.T) {
			dir := t.TempDir()
			src := writeSource(t, dir)
			f, err := format.Open(src, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, tn := range f.Tensors() {
				if err := f.VerifyTensor(tn.Name); err != nil { // already verified: Raw reads straight from the mapping
					t.Fatal(err)
				}
			}
			os.Truncate(src, 0)
			_, err = Run(filepath.Join(dir, "out.gmt"), Job{Src: FileSource{f}, Policy: Policy{Preset: preset}, Workers: 1})
			if !errors.Is(err, format.ErrChanged) {
				t.Fatalf("Run over a truncated source = %v, want format.ErrChanged", err)
			}
		})
	}
}
