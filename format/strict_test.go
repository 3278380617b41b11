package format

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// tinyConfig is a valid one-layer model configuration.
func tinyConfig() ModelConfig {
	return ModelConfig{Arch: "gemma3", HFClass: "Gemma3ForCausalLM", Text: TextConfig{
		VocabSize: 4, HiddenSize: 16, IntermediateSize: 32, NumLayers: 1, NumHeads: 1, NumKVHeads: 1, HeadDim: 16,
		QueryPreAttnScalar: 16, SlidingWindow: 8, LayerTypes: []string{LayerFull}, RopeTheta: 1e6, RopeLocalTheta: 1e4,
		RopeScaling: 1, RMSNormEps: 1e-6, MaxPositions: 128, HiddenAct: "gelu_pytorch_tanh", BOS: 2, EOS: []int{1}}}
}

type testTensor struct {
	name    string
	dtype   DType
	shape   []int64
	scale   float32
	payload func(l Layout) []byte // nil: zeros
}

// writeTensors writes a file of the given tensors and model configuration.
func writeTensors(t *testing.T, model ModelConfig, ts []testTensor) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.gmt")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range ts {
		l, err := LayoutOf(tt.dtype, tt.shape)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, l.Size)
		if tt.payload != nil {
			p = tt.payload(l)
		}
		scale := tt.scale
		if scale == 0 {
			scale = 1
		}
		if err := w.WriteTensor(tt.name, tt.dtype, tt.shape, scale, func(w io.Writer) error { _, err := w.Write(p); return err }); err != nil {
			t.Fatal(err)
		}
	}
	w.SetMetadata(&Metadata{Model: model, Tool: Tool{Name: "gemmatool", Version: "test"}})
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// i4Scales returns an I4 payload whose row scales are s.
func i4Scales(s ...float32) func(l Layout) []byte {
	return func(l Layout) []byte {
		p := make([]byte, l.Size)
		for r := range l.Rows {
			binary.LittleEndian.PutUint32(p[l.ScalesOff+4*r:], math.Float32bits(s[r]))
		}
		return p
	}
}

// TestOpenStrict: each promise of the specification that the reader checks at open.
func TestOpenStrict(t *testing.T) {
	sample := writeSample(t, t.TempDir())
	withFile := func(t *testing.T) string {
		// The sample plus a second embedded file.
		path := filepath.Join(t.TempDir(), "two.gmt")
		w, _ := Create(path)
		w.SetMetadata(testMeta())
		w.AddFile("tokenizer.json", []byte(`{}`))
		w.AddFile("other.json", []byte(`{}`))
		w.WriteTensor("a", F32, []int64{2}, 1, func(w io.Writer) error { _, err := w.Write(make([]byte, 8)); return err })
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	scaleOff := func(b []byte) int { return dirOffset(b) + 4 + 2 + 1 + 2 + 2 + 16 + 8 + 8 + 4 } // tensor "a"
	cases := []struct {
		name string
		file func(t *testing.T) string
		msg  string
	}{
		{"reserved header byte", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte { b[50] = 1; return b })
		}, "reserved header byte 50"},
		{"section not at a multiple of 8", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte { return rebuildGaps(b, nil, map[string][]byte{"tensors": make([]byte, 4)}) })
		}, `section "tensors" offset`},
		{"nonzero padding", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuildGaps(b, nil, map[string][]byte{"tensors": {0, 0, 9, 0, 0, 0, 0, 0}})
			})
		}, "padding byte before section tensors is 0x09"},
		{"unaccounted bytes", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte { return rebuildGaps(b, nil, map[string][]byte{"tensors": make([]byte, 64)}) })
		}, "unaccounted bytes before section tensors"},
		{"metadata not required", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Kind == SectionMeta {
						s.Flags = sectionZstd
					}
					return st
				})
			})
		}, "metadata section"},
		{"metadata not compressed", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Kind == SectionMeta {
						raw, _ := decompress(st, s.Raw)
						s.Flags, st = sectionRequired, raw
					}
					return st
				})
			})
		}, "metadata section"},
		{"metadata misnamed", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Kind == SectionMeta {
						s.Name = "metadata"
					}
					return st
				})
			})
		}, `metadata section "metadata"`},
		{"directory compressed", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Kind == SectionTensors {
						s.Flags |= sectionZstd
					}
					return st
				})
			})
		}, "tensor directory section"},
		{"embedded file not compressed", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Kind == SectionFile {
						raw, _ := decompress(st, s.Raw)
						s.Flags, st = 0, raw
					}
					return st
				})
			})
		}, `embedded file "tokenizer.json" is not zstd-compressed`},
		{"name with NUL inside", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Kind == SectionFile {
						s.Name = "tok\x00x.json"
					}
					return st
				})
			})
		}, "NUL padding"},
		{"duplicate embedded names", func(t *testing.T) string {
			return corrupt(t, withFile(t), func(b []byte) []byte {
				return rebuild(b, func(s *sectionEntry, st []byte) []byte {
					if s.Name == "other.json" {
						s.Name = "tokenizer.json"
					}
					return st
				})
			})
		}, `two embedded files named "tokenizer.json"`},
		{"scale on f32", func(t *testing.T) string {
			return corrupt(t, sample, func(b []byte) []byte {
				binary.LittleEndian.PutUint32(b[scaleOff(b):], math.Float32bits(2))
				return refreshCRCs(b)
			})
		}, "tensor scale 2 on a f32 tensor"},
		{"sfp8 scale zero", func(t *testing.T) string {
			return corrupt(t, writeTensors(t, ModelConfig{}, []testTensor{{name: "s", dtype: SFP8, shape: []int64{2, 2}, scale: 1}}), func(b []byte) []byte {
				o := dirOffset(b) + 4 + 2 + 1 + 2 + 2 + 16 + 8 + 8 + 4
				binary.LittleEndian.PutUint32(b[o:], 0)
				return refreshCRCs(b)
			})
		}, "sfp8 tensor scale 0"},
		{"i4 scale zero", func(t *testing.T) string {
			return writeTensors(t, ModelConfig{}, []testTensor{{name: "q", dtype: I4, shape: []int64{2, 8}, payload: i4Scales(1, 0)}})
		}, "row 1 scale 0"},
		{"i4 scale negative", func(t *testing.T) string {
			return writeTensors(t, ModelConfig{}, []testTensor{{name: "q", dtype: I4, shape: []int64{2, 8}, payload: i4Scales(-1, 1)}})
		}, "row 0 scale -1"},
		{"i4 scale NaN", func(t *testing.T) string {
			return writeTensors(t, ModelConfig{}, []testTensor{{name: "q", dtype: I4, shape: []int64{2, 8}, payload: i4Scales(1, float32(math.NaN()))}})
		}, "row 1 scale NaN"},
		{"plane padding", func(t *testing.T) string {
			return writeTensors(t, ModelConfig{}, []testTensor{{name: "q", dtype: Q8_0, shape: []int64{1, 32}, payload: func(l Layout) []byte {
				p := make([]byte, l.Size)
				p[l.CodesLen+3] = 1
				return p
			}}})
		}, "between the codes and scales planes"},
		{"hidden_size contradicts shapes", func(t *testing.T) string {
			m := tinyConfig()
			m.Text.HiddenSize = 1e9
			return writeTensors(t, m, []testTensor{{name: "text.embed", dtype: F32, shape: []int64{4, 16}}})
		}, "hidden_size = 1000000000"},
		{"embedding shape", func(t *testing.T) string {
			return writeTensors(t, tinyConfig(), []testTensor{{name: "text.embed", dtype: F32, shape: []int64{4, 8}}})
		}, "shape [4 8], the metadata's model configuration implies [4 16]"},
		{"layer beyond count", func(t *testing.T) string {
			return writeTensors(t, tinyConfig(), []testTensor{{name: "text.blk.1.attn_norm", dtype: F32, shape: []int64{16}}})
		}, "layer beyond"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.file(t)
			f, err := Open(p, nil)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Open = %v, want ErrFormat containing %q", err, tc.msg)
			}
		})
	}
	// The consistent versions open.
	ok := writeTensors(t, tinyConfig(), []testTensor{{name: "text.embed", dtype: F32, shape: []int64{4, 16}},
		{name: "text.blk.0.attn_q", dtype: I4, shape: []int64{16, 16}, payload: i4Scales(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)}})
	if f, err := Open(ok, nil); err != nil {
		t.Errorf("Open(consistent file) = %v", err)
	} else {
		f.Close()
	}
	if f, err := Open(corrupt(t, sample, func(b []byte) []byte { return rebuild(b, nil) }), nil); err != nil {
		t.Errorf("Open(rebuilt sample) = %v", err)
	} else {
		f.Close()
	}
}

// TestCRCParameters checks the check value doc.go gives for CRC-32C.
func TestCRCParameters(t *testing.T) {
	if c := crc32.Checksum([]byte("123456789"), castagnoli); c != 0xE3069283 {
		t.Errorf("CRC-32C(\"123456789\") = %#x, want 0xE3069283", c)
	}
}
