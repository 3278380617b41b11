//go:build unix

package runtime

import (
	"errors"
	"os"
	"testing"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// TestTruncatedWhileMapped truncates the model file under a loaded (mapped) model: a
// forward pass, on the worker pool's helpers as well as the caller, returns an error
// wrapping format.ErrChanged instead of dying of SIGBUS; so does loading a truncated file.
func TestTruncatedWhileMapped(t *testing.T) {
	for _, resident := range []bool{false, true} {
		path := writeTestModel(t, goldenA, t.TempDir())
		f, err := format.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := Load(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		if resident {
			// Loading a resident copy reads every weight.
			if _, err := Load(f, &LoadOptions{Resident: true}); !errors.Is(err, format.ErrChanged) {
				t.Errorf("resident Load of a truncated file = %v, want format.ErrChanged", err)
			}
			continue
		}
		s := m.NewSession(&SessionOptions{Exec: kernel.Exec{Threads: 2}})
		for _, tokens := range [][]int32{{2}, {2, 5, 7, 9, 11, 13, 17, 19}} {
			_, err := s.Forward(&Batch{Tokens: tokens, Logits: LogitsAll})
			if !errors.Is(err, format.ErrChanged) {
				t.Errorf("Forward(%d tokens) on a truncated mapping = %v, want format.ErrChanged", len(tokens), err)
			}
			s.Reset()
		}
		if err := m.Guard(func() error {
			s.Logits(make([]float32, m.VocabRows()), make([]float32, m.Hidden()), 1)
			return nil
		}); !errors.Is(err, format.ErrChanged) {
			t.Errorf("Logits under Guard = %v, want format.ErrChanged", err)
		}
	}
}
