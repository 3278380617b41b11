//go:build unix

package convert_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/gemmatool/gemmatool/convert"
	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/internal/testutil"
)

// copyGolden copies testdata/<name> into a fresh temporary directory.
func copyGolden(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := testutil.CopyDir(dir, filepath.Join("..", "testdata", name)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTruncatedWhileConverting truncates a mapped shard under an open checkpoint: reading
// it is an error wrapping format.ErrChanged, not a SIGBUS crash.
func TestTruncatedWhileConverting(t *testing.T) {
	dir := copyGolden(t, "a_text_1b_like")
	ck, err := convert.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if err := os.Truncate(filepath.Join(dir, "model.safetensors"), 0); err != nil {
		t.Fatal(err)
	}
	e, _ := ck.Plan.Entry("text.embed")
	err = ck.ReadRows(e, 0, 1, make([]float32, e.Cols()))
	if !errors.Is(err, format.ErrChanged) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("ReadRows of a truncated shard = %v, want format.ErrChanged naming the file", err)
	}
}

// TestSpecialFilesRefused puts a FIFO, a directory or a device in place of each input file
// of a checkpoint: convert refuses it up front (a FIFO used to block it forever).
func TestSpecialFilesRefused(t *testing.T) {
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "tokenizer_config.json"} {
		for _, kind := range []string{"fifo", "dir", "device"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				dir := copyGolden(t, "a_text_1b_like")
				p := filepath.Join(dir, name)
				os.Remove(p)
				switch kind {
				case "fifo":
					if err := syscall.Mkfifo(p, 0o600); err != nil {
						t.Skip("mkfifo:", err)
					}
				case "dir":
					os.Mkdir(p, 0o755)
				case "device":
					if err := os.Symlink("/dev/zero", p); err != nil {
						t.Skip(err)
					}
				}
				out := filepath.Join(t.TempDir(), "out.gmt")
				_, err := convert.Run(dir, out, convert.Options{}, nil)
				if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), name) {
					t.Fatalf("Run with a %s as %s = %v, want a not-a-regular-file error naming it", kind, name, err)
				}
				if _, serr := os.Stat(out); serr == nil {
					t.Error("output written")
				}
			})
		}
	}
}

// TestBadAuxAndConfig: wrongly typed or out-of-range configuration values and malformed
// tokenizer files are refused before any output is written, naming the file and key.
func TestBadAuxAndConfig(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"string size", "config.json", `{"model_type":"gemma3_text","hidden_size":"64"}`, []string{"config.json", `hidden_size: want an integer, got "64"`}},
		{"string eps", "config.json", `{"model_type":"gemma3_text","rms_norm_eps":"1e-6"}`, []string{"config.json", "rms_norm_eps: want a number"}},
		{"negative positions", "config.json", `{"model_type":"gemma3_text","max_position_embeddings":-1}`, []string{"config.json", "max_position_embeddings = -1"}},
		{"bos beyond vocab", "config.json", `{"model_type":"gemma3_text","bos_token_id":9999999}`, []string{"config.json", "bos_token_id = 9999999"}},
		{"tokenizer not json", "tokenizer.json", `{"model": {"type": "BPE", `, []string{"tokenizer.json", "offset"}},
		{"tokenizer_config not json", "tokenizer_config.json", `{"chat_template": 3`, []string{"tokenizer_config.json", "not JSON"}},
		{"special_tokens_map not an object", "special_tokens_map.json", `[1,2]`, []string{"special_tokens_map.json", "not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyGolden(t, "a_text_1b_like")
			content := tt.content
			if tt.file == "config.json" {
				// Keep the golden config and override one key.
				b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
				var m map[string]any
				json.Unmarshal(b, &m)
				var o map[string]any
				json.Unmarshal([]byte(tt.content), &o)
				for k, v := range o {
					m[k] = v
				}
				nb, _ := json.Marshal(m)
				content = string(nb)
			}
			os.WriteFile(filepath.Join(dir, tt.file), []byte(content), 0o644)
			outDir := t.TempDir()
			_, err := convert.Run(dir, filepath.Join(outDir, "out.gmt"), convert.Options{}, nil)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Run = %q, want it to contain %q", err, w)
				}
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("left in the output directory: %v", ents)
			}
		})
	}
}

// TestOversizedAuxRefusedUpFront: a 300 MB tokenizer.json (sparse, so the test writes
// nothing) is refused from its size before any of it is read.
func TestOversizedAuxRefusedUpFront(t *testing.T) {
	dir := copyGolden(t, "a_text_1b_like")
	p := filepath.Join(dir, "tokenizer.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(300 << 20)
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = convert.Run(dir, filepath.Join(t.TempDir(), "out.gmt"), convert.Options{}, nil)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "tokenizer.json") || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("Run with a 300 MB tokenizer.json = %v, want a size-limit error naming it", err)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 64<<20 {
		t.Errorf("refusing it allocated %d MiB", a>>20)
	}
}
