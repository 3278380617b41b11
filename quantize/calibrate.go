package quantize

import (
	"errors"
	"fmt"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// CalibrateOptions configures [Calibrate].
type CalibrateOptions struct {
	// Dataset is the name recorded for the calibration text.
	Dataset string
	// ChunkSize is recorded as the window length (tokens, BOS included).
	ChunkSize int
	// Threads is the number of threads of the products (below 1: GOMAXPROCS).
	Threads int
	// Progress, when set, is called after each window with the windows done and planned.
	Progress func(done, total int)
}

// Calibrate runs every window (token ids, BOS included) through m as one prefill from an empty
// cache, on the exact activation path (float32 activations), and
// accumulates, for every decoder linear weight, Σ x_j² over every position of every window
// (BOS included, as llama.cpp's imatrix does) per input column, in float64, with the token
// count. Weights that share an input (q/k/v, gate/up) get equal entries.
func Calibrate(m *runtime.Model, windows [][]int32, o CalibrateOptions) (*Imatrix, error) {
	if len(windows) == 0 {
		return nil, errors.New("imatrix: no calibration windows")
	}
	maxLen := 0
	for _, w := range windows {
		maxLen = max(maxLen, len(w))
	}
	L := m.NumLayers()
	const nIn = 4
	sums := make([][]float64, L*nIn)
	counts := make([]int64, L*nIn)
	ex := kernel.Exec{Mode: kernel.ModeExact, Threads: o.Threads}
	s := m.NewSession(&runtime.SessionOptions{MaxContext: maxLen, Exec: ex})
	s.SetObserver(func(layer int, in runtime.LinearInput, x []float32, n int) {
		k := layer*nIn + int(in)
		cols := len(x) / n
		if sums[k] == nil {
			sums[k] = make([]float64, cols)
		}
		acc := sums[k]
		// Columns split over the pool; each column sums its n rows in position order, so the
		// result does not depend on the split.
		ex.ParallelFor(cols, func(lo, hi int) {
			for i := range n {
				row := x[i*cols : (i+1)*cols]
				for j := lo; j < hi; j++ {
					v := float64(row[j])
					acc[j] += v * v
				}
			}
		})
		counts[k] += int64(n)
	})
	for k, w := range windows {
		s.Reset()
		if _, err := s.Forward(&runtime.Batch{Tokens: w, Logits: runtime.LogitsNone}); err != nil {
			return nil, fmt.Errorf("imatrix: window %d: %w", k, err)
		}
		if o.Progress != nil {
			o.Progress(k+1, len(windows))
		}
	}
	im := &Imatrix{Chunks: len(windows), ChunkSize: o.ChunkSize, Entries: map[string]*ImatrixEntry{}}
	if o.Dataset != "" {
		im.Datasets = []string{o.Dataset}
	}
	for l := range L {
		for in := range nIn {
			k := l*nIn + in
			if sums[k] == nil {
				continue
			}
			for _, t := range runtime.LinearInput(in).Tensors() {
				im.Entries[fmt.Sprintf("text.blk.%d.%s", l, t)] = &ImatrixEntry{SumSq: append([]float64(nil), sums[k]...), Count: counts[k]}
			}
		}
	}
	return im, nil
}
