package runtime

import (
	"errors"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestFinalSoftcap checks that a final soft-cap c turns every logit x into c·tanh(x/c).
func TestFinalSoftcap(t *testing.T) {
	path := writeTestModel(t, goldenA, t.TempDir())
	plain := loadTestModel(t, path)
	capped := loadTestModel(t, path)
	const c = 0.5
	capped.softcap = c
	ids := goldenInputs(t, goldenA)[:8]
	a, err := plain.NewSession(nil).Forward(&Batch{Tokens: ids, Logits: LogitsAll})
	if err != nil {
		t.Fatal(err)
	}
	b, err := capped.NewSession(nil).Forward(&Batch{Tokens: ids, Logits: LogitsAll})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range a.Logits {
		want := float32(c * math.Tanh(float64(x/c)))
		if math.Abs(float64(b.Logits[i]-want)) > 1e-6 {
			t.Fatalf("logit %d: %v, want c·tanh(%v/c) = %v", i, b.Logits[i], x, want)
		}
	}
}

// rewrite copies the model file at src to a new file, letting edit change each tensor's name,
// shape and bytes (returning skip drops it) and the metadata.
func rewrite(t *testing.T, src string, edit func(name string, shape []int64, data []byte) (string, []int64, []byte, bool), meta func(*format.Metadata)) string {
	t.Helper()
	f, err := format.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "edited.gmt")
	w, err := format.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range f.Tensors() {
		name, shape, data, keep := edit(tn.Name, tn.Shape, tn.Data)
		if !keep {
			continue
		}
		if err := w.WriteTensor(name, tn.DType, shape, tn.Scale, func(wr io.Writer) error { _, err := wr.Write(data); return err }); err != nil {
			t.Fatal(err)
		}
	}
	md := f.Meta
	if meta != nil {
		meta(&md)
	}
	w.SetMetadata(&md)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	src := writeTestModel(t, goldenA, t.TempDir())
	keep := func(name string, shape []int64, data []byte) (string, []int64, []byte, bool) {
		return name, shape, data, true
	}
	for _, tc := range []struct {
		name string
		edit func(string, []int64, []byte) (string, []int64, []byte, bool)
		meta func(*format.Metadata)
	}{
		{"missing tensor", func(n string, s []int64, d []byte) (string, []int64, []byte, bool) {
			return n, s, d, n != "text.blk.3.ffn_up"
		}, nil},
		{"wrong shape", func(n string, s []int64, d []byte) (string, []int64, []byte, bool) {
			if n == "text.blk.0.attn_k" {
				return n, []int64{s[1], s[0]}, d, true
			}
			return n, s, d, true
		}, nil},
		{"norm size", func(n string, s []int64, d []byte) (string, []int64, []byte, bool) {
			if n == "text.blk.0.attn_q_norm" {
				return n, []int64{s[0] / 2}, d[:len(d)/2], true
			}
			return n, s, d, true
		}, nil},
		{"activation", keep, func(m *format.Metadata) { m.Model.Text.HiddenAct = "relu" }},
		{"layer types", keep, func(m *format.Metadata) { m.Model.Text.LayerTypes = m.Model.Text.LayerTypes[1:] }},
		{"heads", keep, func(m *format.Metadata) { m.Model.Text.NumKVHeads = 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rewrite(t, src, tc.edit, tc.meta)
			f, err := format.Open(p, nil)
			if err != nil {
				// The reader itself refuses metadata that contradicts the tensor shapes.
				if !errors.Is(err, format.ErrFormat) {
					t.Fatalf("Open = %v, want nil or format.ErrFormat", err)
				}
				return
			}
			defer f.Close()
			if _, err := Load(f, nil); !errors.Is(err, ErrConfig) {
				t.Errorf("Load = %v, want ErrConfig", err)
			}
		})
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	d := m.Hidden()
	s := m.NewSession(&SessionOptions{MaxContext: 8})
	for _, tc := range []struct {
		name string
		b    Batch
	}{
		{"empty", Batch{}},
		{"id out of range", Batch{Tokens: []int32{2, int32(m.VocabRows())}}},
		{"negative id", Batch{Tokens: []int32{-1}}},
		{"too long", Batch{Tokens: make([]int32, 9)}},
		{"override index", Batch{Tokens: []int32{2}, Overrides: []Override{{Index: 1, Vec: make([]float32, d)}}}},
		{"override size", Batch{Tokens: []int32{2}, Overrides: []Override{{Index: 0, Vec: make([]float32, d-1)}}}},
		{"span outside", Batch{Tokens: []int32{2, 3}, Bidi: []Span{{1, 3}}}},
		{"spans overlap", Batch{Tokens: []int32{2, 3, 4}, Bidi: []Span{{0, 2}, {1, 3}}}},
	} {
		if _, err := s.Forward(&tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if s.Pos() != 0 {
			t.Fatalf("%s: position advanced to %d after an error", tc.name, s.Pos())
		}
	}
	if _, err := s.Forward(&Batch{Tokens: make([]int32, 8)}); err != nil {
		t.Errorf("a full context: %v", err)
	}
	if _, err := s.Forward(&Batch{Tokens: []int32{2}}); !errors.Is(err, ErrContext) {
		t.Errorf("past the context: %v, want ErrContext", err)
	}
}
