package verify

import (
	"fmt"
	"math"
	"slices"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
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
// [runtime.LinearInput] for the sites; "residual" is the layer's input): max |x|, RMS = √(Σx²/n), the count of values beyond
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

// ActivationStats accumulates observed inputs; its Observe method is a [runtime.Observer].
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

// siteNames names the observed sites: the residual stream entering a layer, then the inputs
// of its weight products ([runtime.LinearInput]).
var siteNames = map[runtime.LinearInput]string{runtime.InAttn: "attn_in", runtime.InAttnOut: "attn_out", runtime.InFFN: "ffn_in", runtime.InFFNDown: "ffn_down"}

// siteResidual orders the residual stream before the linear inputs.
const siteResidual = -1

// Observe accumulates n rows of x read by a layer's weight products; it is a [runtime.Observer].
func (a *ActivationStats) Observe(layer int, in runtime.LinearInput, x []float32, n int) {
	a.observe(layer, int(in), siteNames[in], x, n)
}

// ObserveResidual accumulates n rows of the residual stream entering layer.
func (a *ActivationStats) ObserveResidual(layer int, x []float32, n int) {
	a.observe(layer, siteResidual, "residual", x, n)
}

func (a *ActivationStats) observe(layer, site int, name string, x []float32, n int) {
	if a.acc == nil {
		a.acc = map[[2]int]*siteAcc{}
	}
	k := [2]int{layer, site}
	s := a.acc[k]
	w := len(x) / max(n, 1)
	if s == nil {
		s = &siteAcc{width: w, chanMax: make([]float64, w), siteName: name}
		a.acc[k] = s
	}
	if w != s.width {
		panic(fmt.Sprintf("verify.ActivationStats: layer %d %s: width %d, earlier %d", layer, name, w, s.width))
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

// RunObserved runs one prefill of ids from an empty cache through s (which must be a fresh
// or reset session of m) and accumulates the residual stream and every linear input.
func (a *ActivationStats) RunObserved(m *runtime.Model, s *runtime.Session, ids []int32) error {
	s.SetObserver(a.Observe)
	defer s.SetObserver(nil)
	res, err := s.Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsNone, Hidden: true})
	if err != nil {
		return err
	}
	n, d := len(ids), m.Hidden()
	for l := range m.NumLayers() {
		a.ObserveResidual(l, res.HiddenStates[l*n*d:(l+1)*n*d], n)
	}
	a.Tokens += n
	return nil
}

// Activations runs the windows of [Windows] over the text through m (one prefill per window
// from an empty cache, exact products on ex's threads, no logits) and summarises the residual
// stream entering every layer and the input of every weight product.
func Activations(m *runtime.Model, text []int32, o PerplexityOptions, ex kernel.Exec) (*ActivationReport, error) {
	ws, err := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	if err != nil {
		return nil, err
	}
	var st ActivationStats
	s := m.NewSession(&runtime.SessionOptions{MaxContext: o.Ctx, Exec: kernel.Exec{Threads: ex.Threads}})
	ids := make([]int32, 0, o.Ctx)
	for k, w := range ws {
		ids = append(ids[:0], o.BOS)
		ids = append(ids, text[w.Start:w.End]...)
		s.Reset()
		if err := st.RunObserved(m, s, ids); err != nil {
			return nil, fmt.Errorf("verify: activations: window %d: %w", k, err)
		}
		if o.Progress != nil {
			o.Progress(k+1, len(ws))
		}
	}
	return st.Report(), nil
}
