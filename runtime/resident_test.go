package runtime

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// TestResident checks that a resident model holds its weights outside the file mapping, on
// 64-byte boundaries, and computes logits bit-identical to the mapped model's.
func TestResident(t *testing.T) {
	path := writeTestModel(t, goldenA, t.TempDir())
	mapped := loadTestModel(t, path)
	f, err := format.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Load(f, &LoadOptions{Resident: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resident() || mapped.Resident() {
		t.Fatalf("Resident() = %v / %v, want true / false", res.Resident(), mapped.Resident())
	}
	var ms []*kernel.Matrix
	ms = append(ms, res.embed)
	for i := range res.layers {
		ly := &res.layers[i]
		ms = append(ms, ly.q, ly.k, ly.v, ly.o, ly.gate, ly.up, ly.down)
	}
	for i, w := range ms {
		tn := f.Tensors()
		p := uintptr(unsafe.Pointer(&w.Data[0]))
		for _, tt := range tn {
			lo := uintptr(unsafe.Pointer(&tt.Data[0]))
			if p >= lo && p < lo+uintptr(len(tt.Data)) {
				t.Fatalf("matrix %d still points into the mapping (tensor %s)", i, tt.Name)
			}
		}
		if p%64 != 0 {
			t.Errorf("matrix %d starts at %#x, not 64-byte aligned", i, p)
		}
		if int64(len(w.Data)) != w.Layout.Size {
			t.Errorf("matrix %d: %d bytes, layout says %d", i, len(w.Data), w.Layout.Size)
		}
	}
	ids := goldenInputs(t, goldenA)
	run := func(m *Model) []float32 {
		r, err := m.NewSession(nil).Forward(&Batch{Tokens: ids, Logits: LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		return r.Logits
	}
	if !slices.Equal(run(mapped), run(res)) {
		t.Error("resident logits differ from mapped logits")
	}
}

// TestLogitsInto checks that Forward writes the logits into Batch.LogitsInto when it is large
// enough (equal to freshly allocated ones) and allocates when it is too small.
func TestLogitsInto(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	ids := goldenInputs(t, goldenA)
	v := m.VocabRows()
	fresh, err := m.NewSession(nil).Forward(&Batch{Tokens: ids, Logits: LogitsAll})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, len(ids)*v+5)
	got, err := m.NewSession(nil).Forward(&Batch{Tokens: ids, Logits: LogitsAll, LogitsInto: buf})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Logits) != len(ids)*v || &got.Logits[0] != &buf[0] {
		t.Fatalf("Logits has %d values and does not alias LogitsInto", len(got.Logits))
	}
	if !slices.Equal(got.Logits, fresh.Logits) {
		t.Error("logits written into LogitsInto differ")
	}
	small := make([]float32, v-1)
	last, err := m.NewSession(nil).Forward(&Batch{Tokens: ids, LogitsInto: small})
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Logits) != v || &last.Logits[0] == &small[0] {
		t.Error("a too-small LogitsInto was used")
	}
	// The last position alone goes through the matrix-vector kernel, LogitsAll through the
	// matrix product: equal up to the summation order.
	if e := normErr(t, "last logits", last.Logits, fresh.Logits[(len(ids)-1)*v:]); e > 1e-6 {
		t.Errorf("last-position logits differ: norm_err %.3g", e)
	}
}

// TestResidentFallback checks that a copy which would not fit the available memory leaves the
// weights mapped, with a warning.
func TestResidentFallback(t *testing.T) {
	defer func(f func() int64) { availableMemory = f }(availableMemory)
	availableMemory = func() int64 { return 1000 }
	f, err := format.Open(writeTestModel(t, goldenA, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var logged strings.Builder
	m, err := Load(f, &LoadOptions{Resident: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if m.Resident() {
		t.Error("Resident() = true although the copy exceeds the available memory")
	}
	if !strings.Contains(logged.String(), "file mapping") {
		t.Errorf("no warning logged: %q", logged.String())
	}
}
