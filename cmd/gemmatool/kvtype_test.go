package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestKVTypeBF16 runs the bundled model with a bf16 KV cache: run --verbose names the type and
// the f32 size it saves against, verify kld --kv-type bf16 measures it against the model's own
// f32 cache (a small, non-zero KL), and an unknown type is a usage error.
func TestKVTypeBF16(t *testing.T) {
	if testing.Short() {
		t.Skip("converts gemma3-brown-tiny")
	}
	model := brownTiny(t)
	_, stderr, code := cliRun(t, "", "run", "--model", model, "--prompt", "The jury said", "--raw", "--temp", "0", "--max-tokens", "4", "--verbose", "--kv-type", "bf16", "--ctx", "1024")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"KV cache (bf16) up to", "(f32 would take", "kv cache: bf16,"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("run --kv-type bf16 --verbose: no %q in %q", want, stderr)
		}
	}
	if _, _, code := cliRun(t, "", "run", "--model", model, "--ids", "2,3", "--kv-type", "f16"); code != 2 {
		t.Errorf("--kv-type f16: exit %d, want 2", code)
	}
	stdout, stderr, code := cliRun(t, "", "verify", "kld", "--model", model, "--kv-type", "bf16", "--text", brownText, "--ctx", "64", "--chunks", "2", "--json")
	if code != 0 {
		t.Fatalf("verify kld: exit %d: %s", code, stderr)
	}
	var doc kldDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.KLD == nil {
		t.Fatalf("verify kld --json: %v in %q", err, stdout)
	}
	if k := doc.KLD.KLDMean; !(k > 0 && k < 1e-4) || doc.KLD.SameTop < 0.95 {
		t.Errorf("bf16 KV cache: KL %.3g, same top %.4f; want 0 < KL < 1e-4 and ≥ 0.95", k, doc.KLD.SameTop)
	} else {
		t.Logf("bf16 KV cache against f32: KL %.3g, same top %.4f over %d tokens", k, doc.KLD.SameTop, doc.KLD.Tokens)
	}
}
