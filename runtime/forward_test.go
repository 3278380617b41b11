package runtime

import (
	"encoding/json"
	"github.com/gemmatool/gemmatool/internal/testutil"
	"os"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

const goldenA = "../testdata/a_text_1b_like"

func loadTestModel(tb testing.TB, path string) *Model {
	tb.Helper()
	f, err := format.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	m, err := Load(f, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func goldenInputs(tb testing.TB, dir string) []int32 {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "inputs.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var in struct {
		InputIDs []int32 `json:"input_ids"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		tb.Fatal(err)
	}
	return in.InputIDs
}

// normErr returns max|got − want| / max|want|.
func normErr(tb testing.TB, name string, got, want []float32) float64 {
	tb.Helper()
	return testutil.NormErr(tb, name, got, want)
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func TestGoldenA(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	ids := goldenInputs(t, goldenA)
	want, _ := readSafetensors(t, filepath.Join(goldenA, "expected.safetensors"))
	for _, chunk := range []int{0, 5, 1} {
		s := m.NewSession(&SessionOptions{Chunk: chunk})
		res, err := s.Forward(&Batch{Tokens: ids, Logits: LogitsAll, Hidden: true, FinalHidden: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			got  []float32
		}{{"logits", res.Logits}, {"hidden_states", res.HiddenStates}, {"final_hidden", res.FinalHidden}} {
			e := normErr(t, c.name, c.got, want[c.name])
			t.Logf("chunk %d: %s norm_err %.3g", chunk, c.name, e)
			if e > 3e-5 {
				t.Errorf("chunk %d: %s norm_err = %.3g, want ≤ 3e-5", chunk, c.name, e)
			}
		}
		v := m.VocabRows()
		for i := range ids {
			if g, w := argmax(res.Logits[i*v:(i+1)*v]), argmax(want["logits"][i*v:(i+1)*v]); g != w {
				t.Errorf("chunk %d: position %d: top-1 %d, want %d", chunk, i, g, w)
			}
		}
	}
}

// TestGoldenBText runs the text decoder of golden case b with the reference image features as
// embedding overrides, with and without the bidirectional image overlay.
func TestGoldenBText(t *testing.T) {
	const dir = "../testdata/b_mm_4b_like"
	m := loadTestModel(t, writeTestModel(t, dir, t.TempDir()))
	ids := goldenInputs(t, dir)
	want, shapes := readSafetensors(t, filepath.Join(dir, "expected.safetensors"))
	causal, _ := readSafetensors(t, filepath.Join(dir, "expected_no_token_type_ids.safetensors"))
	const imageToken = 512
	d := m.Hidden()
	feats := want["image_features"]
	if got := shapes["image_features"]; len(got) != 3 || got[2] != int64(d) {
		t.Fatalf("image_features shape %v", got)
	}
	var ov []Override
	var spans []Span
	for i, id := range ids {
		if id != imageToken {
			continue
		}
		k := len(ov)
		ov = append(ov, Override{Index: i, Vec: feats[k*d : (k+1)*d]})
		if len(spans) > 0 && spans[len(spans)-1].End == i {
			spans[len(spans)-1].End++
		} else {
			spans = append(spans, Span{i, i + 1})
		}
	}
	for _, tc := range []struct {
		name  string
		bidi  []Span
		want  map[string][]float32
		chunk int
	}{
		{"overlay", spans, want, 0},
		{"overlay-chunked", spans, want, 3},
		{"causal", nil, causal, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := m.NewSession(&SessionOptions{Chunk: tc.chunk})
			res, err := s.Forward(&Batch{Tokens: ids, Overrides: ov, Bidi: tc.bidi, Logits: LogitsAll, Hidden: true, FinalHidden: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				got  []float32
			}{{"logits", res.Logits}, {"hidden_states", res.HiddenStates}, {"final_hidden", res.FinalHidden}} {
				e := normErr(t, c.name, c.got, tc.want[c.name])
				t.Logf("%s norm_err %.3g", c.name, e)
				if e > 3e-5 {
					t.Errorf("%s norm_err = %.3g, want ≤ 3e-5", c.name, e)
				}
			}
		})
	}
}
