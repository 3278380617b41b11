package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/verify"
)

// quantizedGoldenA quantizes golden case a with typ (embedding too) and loads it.
func quantizedGoldenA(t *testing.T, typ string) *runtime.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.gmt")
	if _, stderr, code := cliRun(t, "", "quantize", goldenADir, "-o", path, "--type", typ, "--embed", typ, "-q"); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	f, err := format.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := runtime.Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInt8ActivationError measures the faster activation path (int8 activations per block of
// 32, integer dot products) against the exact f32 path on golden case a quantized with each
// type it applies to: mean and max KL divergence of the next-token distributions and top-1
// agreement. The bounds are loose on purpose (tiny random models have near-ties); the numbers
// are logged for the README.
func TestInt8ActivationError(t *testing.T) {
	ids := goldenIDs(t, goldenADir)
	for _, typ := range []string{"q4_0", "q8_0", "i4"} {
		t.Run(typ, func(t *testing.T) {
			m := quantizedGoldenA(t, typ)
			logits := func(mode kernel.ActivationMode) []float32 {
				res, err := m.NewSession(&runtime.SessionOptions{Exec: kernel.Exec{Mode: mode}}).Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsAll})
				if err != nil {
					t.Fatal(err)
				}
				return res.Logits
			}
			exact, fast := logits(kernel.ModeExact), logits(kernel.ModeInt8)
			v := m.VocabRows()
			var klSum, klMax float64
			agree := 0
			for p := range ids {
				pr, qr := exact[p*v:(p+1)*v], fast[p*v:(p+1)*v]
				lp, lq := verify.LogSumExp(pr), verify.LogSumExp(qr)
				var kl float64
				for i := range pr {
					a := float64(pr[i]) - lp
					kl += math.Exp(a) * (a - (float64(qr[i]) - lq))
				}
				klSum += kl
				klMax = max(klMax, kl)
				if argmaxF(pr) == argmaxF(qr) {
					agree++
				}
			}
			mean := klSum / float64(len(ids))
			t.Logf("%s, int8 vs exact activations: KL mean %.3g max %.3g nats/token, top-1 agreement %d/%d", typ, mean, klMax, agree, len(ids))
			if !(mean < 1e-3) || agree < len(ids)*9/10 {
				t.Errorf("int8 path: KL mean %.3g (want < 1e-3), top-1 %d/%d (want ≥ 90%%)", mean, agree, len(ids))
			}
		})
	}
}

// TestSessionsKeepTheirMode runs an int8 session and an exact session of one Q4_0 model token
// by token, interleaved, then both concurrently: the exact session's logits must equal, bit for
// bit, those of an exact session run alone, and the int8 session's must differ from them (so
// the test would see a mode leaking from one session into the other).
func TestSessionsKeepTheirMode(t *testing.T) {
	ids := goldenIDs(t, goldenADir)
	m := quantizedGoldenA(t, "q4_0")
	exact := kernel.Exec{Threads: 2}
	int8 := kernel.Exec{Mode: kernel.ModeInt8, Threads: 2}
	// stepwise feeds ids one token at a time to each session in turn and returns each
	// session's logits per step.
	stepwise := func(execs ...kernel.Exec) [][]float32 {
		ss := make([]*runtime.Session, len(execs))
		for i, e := range execs {
			ss[i] = m.NewSession(&runtime.SessionOptions{Exec: e})
		}
		out := make([][]float32, len(execs))
		for _, id := range ids {
			for i, s := range ss {
				res, err := s.Forward(&runtime.Batch{Tokens: []int32{id}, Logits: runtime.LogitsLast})
				if err != nil {
					t.Fatal(err)
				}
				out[i] = append(out[i], res.Logits...)
			}
		}
		return out
	}
	alone := stepwise(exact)[0]
	both := stepwise(int8, exact)
	for i := range alone {
		if math.Float32bits(both[1][i]) != math.Float32bits(alone[i]) {
			t.Fatalf("exact session interleaved with an int8 one: logit %d = %v, alone %v", i, both[1][i], alone[i])
		}
	}
	differ := 0
	for i := range alone {
		if both[0][i] != alone[i] {
			differ++
		}
	}
	if differ == 0 {
		t.Fatalf("the int8 session's logits equal the exact ones: it did not run in int8")
	}
	// Concurrently: one prefill each, on two goroutines.
	prefill := func(e kernel.Exec) []float32 {
		res, err := m.NewSession(&runtime.SessionOptions{Exec: e}).Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsAll})
		if err != nil {
			t.Error(err)
			return nil
		}
		return res.Logits
	}
	want := prefill(exact)
	for range 3 {
		done := make(chan []float32)
		go func() { done <- prefill(int8) }()
		got := prefill(exact)
		<-done
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("exact prefill beside an int8 one: logit %d = %v, alone %v", i, got[i], want[i])
			}
		}
	}
}
