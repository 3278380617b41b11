package quantize

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// memSource is an in-memory [Source] of float32 matrices.
type memSource struct {
	specs []TensorSpec
	data  map[string][]float32
}

func (s *memSource) Specs() []TensorSpec { return s.specs }
func (s *memSource) ReadRows(name string, row0 int, dst []float32) error {
	d := s.data[name]
	for _, t := range s.specs {
		if t.Name == name {
			cols := int(t.Shape[1])
			copy(dst, d[row0*cols:])
			return nil
		}
	}
	return fmt.Errorf("no %s", name)
}
func (s *memSource) Raw(string) ([]byte, float32, error) { return nil, 1, nil }
func (s *memSource) Done(string)                         {}

// TestPlanBudget: the recipe meets the budget closely from below, and the tensor whose input
// carries far more energy (so whose error costs more) gets at least the bits of the others.
func TestPlanBudget(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := &memSource{data: map[string][]float32{}}
	im := &Imatrix{Entries: map[string]*ImatrixEntry{}}
	const rows, cols = 16, 256
	for l := range 2 {
		for _, s := range format.TextLinear {
			name := fmt.Sprintf("text.blk.%d.%s", l, s)
			src.specs = append(src.specs, TensorSpec{Name: name, DType: format.BF16, Shape: []int64{rows, cols}})
			w := make([]float32, rows*cols)
			for i := range w {
				w[i] = float32(rng.NormFloat64() * 0.02)
			}
			src.data[name] = w
			e := &ImatrixEntry{SumSq: make([]float64, cols), Count: 1}
			for c := range e.SumSq {
				e.SumSq[c] = 1
				if name == "text.blk.1.attn_v" {
					e.SumSq[c] = 1000
				}
			}
			im.Entries[name] = e
		}
	}
	for _, target := range []float64{4.5, 6} {
		p, err := PlanBudget(src, im, nil, nil, target, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.BPW > target || p.BPW < target-0.3 {
			t.Errorf("target %v: %v bits per weight", target, p.BPW)
		}
		var vBPW, maxOther float64
		for _, bt := range p.Tensors {
			if bt.Name == "text.blk.1.attn_v" {
				vBPW = bt.BPW
			} else {
				maxOther = max(maxOther, bt.BPW)
			}
		}
		if vBPW < maxOther {
			t.Errorf("target %v: the sensitive tensor got %v bits, another %v", target, vBPW, maxOther)
		}
		if len(p.Overrides) != 14 {
			t.Errorf("%d overrides", len(p.Overrides))
		}
	}
}
