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

// TestInt8ActivationError measures the faster activation path (int8 activations per block of
// 32, integer dot products) against the exact f32 path on golden case a quantized with each
// type it applies to: mean and max KL divergence of the next-token distributions and top-1
// agreement. The bounds are loose on purpose (tiny random models have near-ties); the numbers
// are logged for the README.
func TestInt8ActivationError(t *testing.T) {
	ids := goldenIDs(t, goldenADir)
	for _, typ := range []string{"q4_0", "q8_0", "i4"} {
		t.Run(typ, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.gmt")
			if _, stderr, code := cliRun(t, "", "quantize", goldenADir, "-o", path, "--type", typ, "--embed", typ, "-q"); code != 0 {
				t.Fatalf("quantize: %s", stderr)
			}
			f, err := format.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := runtime.Load(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			logits := func(mode kernel.ActivationMode) []float32 {
				prev := kernel.GetActivationMode()
				kernel.SetActivationMode(mode)
				defer kernel.SetActivationMode(prev)
				res, err := m.NewSession(nil).Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsAll})
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
