package main

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/verify"
)

// TestVerifyTensorsBundled compares the bundled model's checkpoint directory with its Q4_0
// file: unquantized tensors are exact, quantized ones reproduce the quantize report stored in
// the file.
func TestVerifyTensorsBundled(t *testing.T) {
	dir := mustUnpack(t, "gemma3-brown-tiny")
	q4 := brownTinyQ4(t)
	stdout, stderr, code := cliRun(t, "", "verify", "tensors", dir, q4, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Tensors *verify.TensorReport `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(q4, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]format.TensorError{}
	for _, e := range f.Meta.Quantization.Tensors {
		want[e.Name] = e
	}
	rep := doc.Tensors
	if len(rep.Tensors) != len(f.Tensors()) || len(rep.OnlyA)+len(rep.OnlyB)+len(rep.Mismatched) != 0 {
		t.Fatalf("%d tensors compared of %d; only A %v, only B %v, mismatched %v", len(rep.Tensors), len(f.Tensors()), rep.OnlyA, rep.OnlyB, rep.Mismatched)
	}
	quantized := 0
	for _, ts := range rep.Tensors {
		w, ok := want[ts.Name]
		if !ok {
			if ts.RelL2 != 0 || ts.MaxAbs != 0 || ts.SNRdB != 999 || ts.Cosine != 1 {
				t.Errorf("%s (%s → %s, not quantized): %+v, want exact", ts.Name, ts.DTypeA, ts.DTypeB, ts)
			}
			continue
		}
		quantized++
		for _, c := range []struct {
			what      string
			got, want float64
		}{{"rel_l2", ts.RelL2, w.RelL2}, {"snr_db", ts.SNRdB, w.SNRdB}, {"max_abs", ts.MaxAbs, w.MaxAbs}} {
			if math.Abs(c.got-c.want) > 1e-9*math.Abs(c.want) {
				t.Errorf("%s %s = %.12g, quantize report %.12g", ts.Name, c.what, c.got, c.want)
			}
		}
		if !(ts.Cosine > 0.99 && ts.Cosine < 1) {
			t.Errorf("%s cosine %v", ts.Name, ts.Cosine)
		}
	}
	if quantized != len(want) || quantized == 0 {
		t.Errorf("%d quantized tensors compared, the report has %d", quantized, len(want))
	}
	for i := 1; i < len(rep.Tensors); i++ {
		if rep.Tensors[i].RelL2 > rep.Tensors[i-1].RelL2 {
			t.Fatalf("tensors not worst first at %d", i)
		}
	}
	if len(rep.Layers) != 6 {
		t.Errorf("%d layer totals, want 6", len(rep.Layers))
	}
}
