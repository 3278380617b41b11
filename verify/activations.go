package verify

import (
	"fmt"
	"math"
	"slices"

	"github.com/gemmatool/gemmatool/runtime"
)

// Float16 limits: values of larger magnitude overflow to ±Inf in IEEE binary16, and non-zero
// values of smaller magnitude than its smallest normal lose precision (subnormal) or flush to 0.
const (
	F16Max       = 65504
	F16MinNormal = 6.103515625e-05 // 2⁻¹⁴
)

// TopChannels is how many channels per site [ActivationSite.TopChannels] lists.
const TopChannels = 8

// Channel is one channel (column) of an observed input and its largest magnitude.
type Channel struct {
	Index  int     `json:"channel"`
	MaxAbs float64 `json:"max_abs"`
}

// ActivationSite summarises every value observed at one site of one layer (see
// [runtime.Batch.Observe] for the sites): max |x|, RMS = √(Σx²/n), the count of values beyond
// float16's range (|x| > 65504) and of non-zero values below its normal range
// (|x| < 2⁻¹⁴), and the channels with the largest |x|, largest first.
type ActivationSite struct {
	Layer       int       `json:"layer"`
	Site        string    `json:"site"`
	Width       int       `json:"width"`
	Values      int64     `json:"values"`
	MaxAbs      float64   `json:"max_abs"`
	RMS         float64   `json:"rms"`
	OverF16     int64     `json:"over_f16"`
	BelowF16    int64     `json:"below_f16_normal"`
	TopChannels []Channel `json:"top_channels"`
}

// ActivationReport is the outcome of [Activations]: one entry per layer and site, in layer
// then site order.
type ActivationReport struct {
	Tokens int              `json:"tokens"`
	Sites  []ActivationSite `json:"sites"`
}

// ActivationStats accumulates observed inputs; its Observe method is a [runtime.Batch.Observe].
// The zero value is ready.
type ActivationStats struct {
	acc    map[[2]int]*siteAcc
	Tokens int
}

type siteAcc struct {
	width    int
	n        int64
	sq, sqc  float64
	maxAbs   float64
	over     int64
	below    int64
	chanMax  []float64
	siteName string
}

// Observe accumulates n rows of x observed at a layer's site.
func (a *ActivationStats) Observe(layer int, site runtime.Site, x []float32, n int) {
	if a.acc == nil {
		a.acc = map[[2]int]*siteAcc{}
	}
	k := [2]int{layer, int(site)}
	s := a.acc[k]
	w := len(x) / max(n, 1)
	if s == nil {
		s = &siteAcc{width: w, chanMax: make([]float64, w), siteName: site.String()}
		a.acc[k] = s
	}
	if w != s.width {
		panic(fmt.Sprintf("verify.ActivationStats.Observe: layer %d %v: width %d, earlier %d", layer, site, w, s.width))
	}
	for r := range n {
		row := x[r*w : (r+1)*w]
		for c, v := range row {
			f := float64(v)
			av := math.Abs(f)
			neumaier(&s.sq, &s.sqc, f*f)
			if av > s.maxAbs || av != av {
				s.maxAbs = av
			}
			if av > s.chanMax[c] {
				s.chanMax[c] = av
			}
			if av > F16Max {
				s.over++
			} else if av != 0 && av < F16MinNormal {
				s.below++
			}
		}
	}
	s.n += int64(n * w)
}

// Report returns the accumulated figures.
func (a *ActivationStats) Report() *ActivationReport {
	rep := &ActivationReport{Tokens: a.Tokens}
	keys := make([][2]int, 0, len(a.acc))
	for k := range a.acc {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return x[1] - y[1]
	})
	for _, k := range keys {
		s := a.acc[k]
		st := ActivationSite{Layer: k[0], Site: s.siteName, Width: s.width, Values: s.n, MaxAbs: s.maxAbs,
			OverF16: s.over, BelowF16: s.below}
		if s.n > 0 {
			st.RMS = math.Sqrt((s.sq + s.sqc) / float64(s.n))
		}
		st.TopChannels = topChannels(s.chanMax, TopChannels)
		rep.Sites = append(rep.Sites, st)
	}
	return rep
}

// topChannels returns the k channels of largest magnitude, largest first (ties: lower index).
func topChannels(m []float64, k int) []Channel {
	idx := make([]int, len(m))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpDesc(m[a], m[b]) })
	out := make([]Channel, 0, k)
	for _, i := range idx[:min(k, len(idx))] {
		out = append(out, Channel{Index: i, MaxAbs: m[i]})
	}
	return out
}

// Activations runs the windows of [Windows] over the text through m (one prefill per window
// from an empty cache, no logits) and summarises the input of every weight product.
func Activations(m *runtime.Model, text []int32, o PerplexityOptions) (*ActivationReport, error) {
	ws, err := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	if err != nil {
		return nil, err
	}
	var st ActivationStats
	s := m.NewSession(&runtime.SessionOptions{MaxContext: o.Ctx})
	ids := make([]int32, 0, o.Ctx)
	for k, w := range ws {
		ids = append(ids[:0], o.BOS)
		ids = append(ids, text[w.Start:w.End]...)
		s.Reset()
		if _, err := s.Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsNone, Observe: st.Observe}); err != nil {
			return nil, fmt.Errorf("verify: activations: window %d: %w", k, err)
		}
		st.Tokens += len(ids)
		if o.Progress != nil {
			o.Progress(k+1, len(ws))
		}
	}
	return st.Report(), nil
}
