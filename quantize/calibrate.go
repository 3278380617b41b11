package quantize

import (
	"errors"
	"fmt"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
	"github.com/gemmatool/gemmatool/runtime/vision"
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
		sums[k] = addSquares(ex, sums[k], x, n)
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

// addSquares adds Σ_i x[i·cols+j]² over the n rows of x to acc[j] (allocated on first use).
// Columns are split over ex's pool; each column sums its rows in row order, so the result
// does not depend on the split.
func addSquares(ex kernel.Exec, acc []float64, x []float32, n int) []float64 {
	cols := len(x) / n
	if acc == nil {
		acc = make([]float64, cols)
	}
	ex.ParallelFor(cols, func(lo, hi int) {
		for i := range n {
			row := x[i*cols : (i+1)*cols]
			for j := lo; j < hi; j++ {
				v := float64(row[j])
				acc[j] += v * v
			}
		}
	})
	return acc
}

// CalibrateVision runs images (each one image's pixel values as the tower takes them,
// [channels, size, size]) through the vision tower and projector on the exact path and
// accumulates, for every vision linear weight and the projector (canonical names
// "vision.blk.N.attn_q", "vision.patch_embd", "mm.input_proj", …), Σ x_j² per input column
// over every patch (or pooled token, for the projector) of every image, in float64, with the
// row count. Weights that share an input (q/k/v) get equal entries. Progress counts images.
func CalibrateVision(t *vision.Tower, images [][]float32, o CalibrateOptions) (*Imatrix, error) {
	if len(images) == 0 {
		return nil, errors.New("imatrix: no calibration images")
	}
	type key struct {
		layer int
		in    vision.Input
	}
	sums := map[key][]float64{}
	counts := map[key]int64{}
	ex := kernel.Exec{Mode: kernel.ModeExact, Threads: o.Threads}
	obs := func(layer int, in vision.Input, x []float32, n int) {
		k := key{layer, in}
		sums[k] = addSquares(ex, sums[k], x, n)
		counts[k] += int64(n)
	}
	for i, px := range images {
		if err := t.EncodeObserved(ex, px, 1, obs); err != nil {
			return nil, fmt.Errorf("imatrix: image %d: %w", i, err)
		}
		if o.Progress != nil {
			o.Progress(i+1, len(images))
		}
	}
	im := &Imatrix{Chunks: len(images), Entries: map[string]*ImatrixEntry{}}
	if o.Dataset != "" {
		im.Datasets = []string{o.Dataset}
	}
	for k, sum := range sums {
		for _, name := range k.in.Tensors(k.layer) {
			im.Entries[name] = &ImatrixEntry{SumSq: append([]float64(nil), sum...), Count: counts[k]}
		}
	}
	return im, nil
}

// Merge adds o's entries to m (an entry both hold is an error: they come from different
// calibrations of one weight) and its datasets; m keeps its own window count and size.
func (m *Imatrix) Merge(o *Imatrix) error {
	for name, e := range o.Entries {
		if _, ok := m.Entries[name]; ok {
			return fmt.Errorf("imatrix: both hold an entry for %s", name)
		}
		m.Entries[name] = e
	}
	m.Datasets = append(m.Datasets, o.Datasets...)
	return nil
}
