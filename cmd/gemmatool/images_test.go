package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogitsGoldenBImage runs `gemmatool logits --image` (and --pixel-values) on golden case
// b converted from its HF directory and compares every recorded tensor with the reference.
func TestLogitsGoldenBImage(t *testing.T) {
	model := convertDir(t, goldenBDir)
	ids := goldenIDs(t, goldenBDir)
	idsFile := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(idsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := readF32Safetensors(t, filepath.Join(goldenBDir, "expected.safetensors"))
	for _, src := range [][]string{
		{"--image", filepath.Join(goldenBDir, "image0.png")},
		{"--pixel-values", filepath.Join(goldenBDir, "pixel_values.safetensors")},
	} {
		t.Run(src[0], func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.safetensors")
			args := append([]string{"logits", "--model", model, "--ids-file", idsFile, "-o", out}, src...)
			if _, stderr, code := cliRun(t, "", args...); code != 0 {
				t.Fatalf("logits: exit %d: %s", code, stderr)
			}
			got, _ := readF32Safetensors(t, out)
			for _, name := range []string{"logits", "hidden_states", "final_hidden", "vision_last_hidden_state", "mm_pooled", "image_features"} {
				var md, mw float64
				for i, w := range want[name] {
					md = max(md, math.Abs(float64(got[name][i])-float64(w)))
					mw = max(mw, math.Abs(float64(w)))
				}
				if len(got[name]) != len(want[name]) || !(md/mw <= 3e-5) {
					t.Errorf("%s: norm_err %.3g (%d values, want %d)", name, md/mw, len(got[name]), len(want[name]))
				}
			}
		})
	}
	// Errors: a count mismatch between image runs and images; images on a text-only model.
	_, stderr, code := cliRun(t, "", "logits", "--model", model, "--ids", "2,3,4", "--image", filepath.Join(goldenBDir, "image0.png"), "-o", filepath.Join(t.TempDir(), "x.safetensors"))
	if code == 0 || !strings.Contains(stderr, "runs of image tokens") {
		t.Errorf("ids without image tokens and one image: exit %d, %q", code, stderr)
	}
	text := convertDir(t, goldenADir)
	_, stderr, code = cliRun(t, "", "logits", "--model", text, "--ids", "2,3,4", "--image", filepath.Join(goldenBDir, "image0.png"), "-o", filepath.Join(t.TempDir(), "x.safetensors"))
	if code == 0 || !strings.Contains(stderr, "text-only") {
		t.Errorf("image on a text-only model: exit %d, %q", code, stderr)
	}
}

// TestVisionQuantized runs golden case b with its vision tower quantized (--vision): block
// types fall back to a per-row type where a row is not a multiple of 32, and the image
// features stay close to the reference.
func TestVisionQuantized(t *testing.T) {
	ids := goldenIDs(t, goldenBDir)
	idsFile := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(idsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := readF32Safetensors(t, filepath.Join(goldenBDir, "expected.safetensors"))
	for _, v := range []string{"q8_0", "q4_0", "fp8", "sfp8", "i4"} {
		t.Run(v, func(t *testing.T) {
			dir := t.TempDir()
			model := filepath.Join(dir, "b.gmt")
			if _, stderr, code := cliRun(t, "", "quantize", goldenBDir, "-o", model, "--type", "bf16", "--vision", v, "-q"); code != 0 {
				t.Fatalf("quantize: exit %d: %s", code, stderr)
			}
			out := filepath.Join(dir, "out.safetensors")
			if _, stderr, code := cliRun(t, "", "logits", "--model", model, "--ids-file", idsFile, "--image", filepath.Join(goldenBDir, "image0.png"), "-o", out); code != 0 {
				t.Fatalf("logits: exit %d: %s", code, stderr)
			}
			got, _ := readF32Safetensors(t, out)
			var md, mw float64
			for i, w := range want["image_features"] {
				md = max(md, math.Abs(float64(got["image_features"][i])-float64(w)))
				mw = max(mw, math.Abs(float64(w)))
			}
			t.Logf("--vision %s: image_features norm_err %.3g", v, md/mw)
			if !(md/mw < 0.15) {
				t.Errorf("--vision %s: image_features norm_err %.3g, want < 0.15", v, md/mw)
			}
		})
	}
}
