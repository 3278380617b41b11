package quantize

import (
	"fmt"
	"math"
	"strings"

	"github.com/gemmatool/gemmatool/format"
)

// Equivalent transforms (AWQ-style smoothing), folded into the weights.
//
// For every decoder layer and each of four places where a per-channel scale s_c can move
// between two tensors without changing the function, [PlanSmooth] picks scales and
// [SmoothSource] applies them while the tensors are read:
//
//	attn  input_layernorm → q, k, v:  (1+w_c) → (1+w_c)/s_c, columns c of q, k, v × s_c
//	ffn   pre_feedforward_layernorm → gate, up: the same with ffn_norm, gate, up
//	down  up rows ↔ down columns:     row c of up / s_c, column c of down × s_c
//	v     v rows ↔ o columns:         row (g, e) of v / s, columns (j, e) of o × s for every
//	                                  query head j of KV group g
//
// Gemma's norms compute x·(1+w), so folding s into a norm is (1+w') = (1+w)/s. The scales are
// powers of two, s_c = 2^k_c with |k_c| ≤ 12, so every scaled weight is exact in float32 and in
// bf16, and the transformed norm weights, written as F32, are exact too: before quantization the
// transformed model computes bit for bit the same products. (v has no norm in Gemma 3, and
// RMSNorm of q and k comes after the projections, so neither interferes.)
//
// Search (per layer and place, as AWQ does): with m_c = E[x_c²] of the input the scaled matrix
// reads (from the imatrix) and ḡ the geometric mean of m, candidates s_c = 2^round(α/2 ·
// log2(m_c/ḡ)) for α = 0, 1/8, …, 1; for each, the matrices that read the smoothed input (q, k,
// v; gate, up; down; o) are quantized to their target type with importance m_c/s_c² and the
// proxy output error Σ_c (m_c/s_c²)·Σ_r (Q(W')_rc − W'_rc)² (W' = W·s) is measured on up to
// smoothRows rows of each; the α with the least error wins (α = 0 is no transform). The matrix
// on the other side of a scale (norm, up rows, v rows) changes by whole rows or not at all, so
// its quantization error does not change.

// SmoothPlan holds the chosen exponents k_c (s_c = 2^k_c) per layer and place.
type SmoothPlan struct {
	Folded                  bool // norms are stored as 1+w (format.Transforms.NormPlusOneFolded)
	Layers                  []SmoothLayer
	HeadDim, Heads, KVHeads int
}

// SmoothLayer is one layer's exponents (nil: no transform) and the chosen α per place.
type SmoothLayer struct {
	Attn, FFN, Down, V  []int8
	AlphaAttn, AlphaFFN float64
	AlphaDown, AlphaV   float64
	GainAttn, GainFFN   float64 // proxy error after / before
	GainDown, GainV     float64
}

const (
	smoothMaxExp = 12
	smoothRows   = 256
)

// smoothPlace is one transform place of a layer.
type smoothPlace struct {
	kind    string   // attn, ffn, down, v
	readers []string // matrices whose columns are scaled (and that the error is measured on)
	imatrix string   // the imatrix entry of their input
}

var smoothPlaces = []smoothPlace{
	{"attn", []string{"attn_q", "attn_k", "attn_v"}, "attn_q"},
	{"ffn", []string{"ffn_gate", "ffn_up"}, "ffn_gate"},
	{"down", []string{"ffn_down"}, "ffn_down"},
	{"v", []string{"attn_o"}, "attn_o"},
}

// PlanSmooth searches the scales for every layer of src. typeOf returns the type each matrix
// will be quantized to; im must cover the decoder's linear weights.
func PlanSmooth(src Source, im *Imatrix, folded bool, typeOf func(name string, shape []int64) format.DType) (*SmoothPlan, error) {
	specs := map[string]TensorSpec{}
	for _, s := range src.Specs() {
		specs[s.Name] = s
	}
	n := CountLayers(src.Specs())
	if n == 0 {
		return nil, fmt.Errorf("smooth: no decoder layers")
	}
	qn, ok := specs["text.blk.0.attn_q_norm"]
	q, ok2 := specs["text.blk.0.attn_q"]
	k, ok3 := specs["text.blk.0.attn_k"]
	if !ok || !ok2 || !ok3 || len(qn.Shape) != 1 {
		return nil, fmt.Errorf("smooth: the model lacks attn_q / attn_k / attn_q_norm of layer 0")
	}
	p := &SmoothPlan{Folded: folded, HeadDim: int(qn.Shape[0])}
	p.Heads, p.KVHeads = int(q.Shape[0])/p.HeadDim, int(k.Shape[0])/p.HeadDim
	if p.KVHeads == 0 || p.Heads%p.KVHeads != 0 {
		return nil, fmt.Errorf("smooth: %d query heads, %d KV heads", p.Heads, p.KVHeads)
	}
	for l := range n {
		var sl SmoothLayer
		for _, pl := range smoothPlaces {
			exp, alpha, gain, err := p.searchPlace(src, specs, im, l, pl, typeOf)
			if err != nil {
				return nil, err
			}
			switch pl.kind {
			case "attn":
				sl.Attn, sl.AlphaAttn, sl.GainAttn = exp, alpha, gain
			case "ffn":
				sl.FFN, sl.AlphaFFN, sl.GainFFN = exp, alpha, gain
			case "down":
				sl.Down, sl.AlphaDown, sl.GainDown = exp, alpha, gain
			case "v":
				sl.V, sl.AlphaV, sl.GainV = exp, alpha, gain
			}
		}
		p.Layers = append(p.Layers, sl)
	}
	return p, nil
}

// searchPlace returns the best exponents (nil for none), α and the error ratio for one place.
func (p *SmoothPlan) searchPlace(src Source, specs map[string]TensorSpec, im *Imatrix, l int, pl smoothPlace, typeOf func(string, []int64) format.DType) ([]int8, float64, float64, error) {
	pre := fmt.Sprintf("text.blk.%d.", l)
	m := im.Weights(pre + pl.imatrix)
	if m == nil {
		return nil, 0, 1, fmt.Errorf("smooth: the imatrix has no entry for %s", pre+pl.imatrix)
	}
	// The scaled channels: the reader's columns, except for v, where one scale serves the
	// columns (j, e) of every head j of a KV group.
	stat := m
	hd, group := p.HeadDim, p.Heads/p.KVHeads
	if pl.kind == "v" {
		stat = make([]float32, p.KVHeads*hd)
		for g := range p.KVHeads {
			for e := range hd {
				var lg float64
				for j := g * group; j < (g+1)*group; j++ {
					lg += math.Log(math.Max(float64(m[j*hd+e]), 1e-30))
				}
				stat[g*hd+e] = float32(math.Exp(lg / float64(group)))
			}
		}
	}
	var lmean float64
	for _, v := range stat {
		lmean += math.Log2(math.Max(float64(v), 1e-30))
	}
	lmean /= float64(len(stat))
	type mat struct {
		name  string
		shape []int64
		t     format.DType
		w     []float32 // sampled rows
	}
	var mats []mat
	for _, r := range pl.readers {
		s, ok := specs[pre+r]
		if !ok || len(s.Shape) != 2 {
			return nil, 0, 1, fmt.Errorf("smooth: no matrix %s", pre+r)
		}
		t := typeOf(s.Name, s.Shape)
		if !t.Quantized() {
			continue
		}
		rows, cols := int(s.Shape[0]), int(s.Shape[1])
		if cols != len(m) {
			return nil, 0, 1, fmt.Errorf("smooth: %s has %d columns, its imatrix entry %d", s.Name, cols, len(m))
		}
		// Every step-th row (at most about smoothRows of them), read one at a time.
		step := max(1, rows/smoothRows)
		nr := (rows + step - 1) / step
		w := make([]float32, nr*cols)
		for i := range nr {
			if err := src.ReadRows(s.Name, i*step, w[i*cols:(i+1)*cols]); err != nil {
				return nil, 0, 1, err
			}
		}
		mats = append(mats, mat{s.Name, []int64{int64(nr), int64(cols)}, t, w})
	}
	if len(mats) == 0 {
		return nil, 0, 1, nil
	}
	colExp := func(exp []int8, c int) int8 {
		if pl.kind == "v" {
			return exp[(c/hd/group)*hd+c%hd]
		}
		return exp[c]
	}
	errOf := func(exp []int8) (float64, error) {
		var total float64
		imp := make([]float32, len(m))
		for c := range m {
			k := colExp(exp, c)
			imp[c] = float32(math.Ldexp(float64(m[c]), -2*int(k)))
		}
		for _, mt := range mats {
			cols := int(mt.shape[1])
			w := make([]float32, len(mt.w))
			for i, v := range mt.w {
				w[i] = float32(math.Ldexp(float64(v), int(colExp(exp, i%cols))))
			}
			l, err := format.LayoutOf(mt.t, mt.shape)
			if err != nil {
				return 0, err
			}
			payload, scale, err := Encode(mt.t, mt.shape, w, Options{Name: mt.name, Importance: imp, Workers: 1})
			if err != nil {
				return 0, err
			}
			dec := make([]float32, cols)
			for r := range int(mt.shape[0]) {
				format.DecodeRow(dec, mt.t, l, payload, r, scale)
				for c, v := range dec {
					d := float64(v) - float64(w[r*cols+c])
					total += float64(imp[c]) * d * d
				}
			}
		}
		return total, nil
	}
	base, err := errOf(make([]int8, len(stat)))
	if err != nil {
		return nil, 0, 1, err
	}
	best, bestAlpha := base, 0.0
	var bestExp []int8
	for a := 1; a <= 8; a++ {
		alpha := float64(a) / 8
		exp := make([]int8, len(stat))
		nonzero := false
		for c, v := range stat {
			k := math.RoundToEven(alpha / 2 * (math.Log2(math.Max(float64(v), 1e-30)) - lmean))
			k = math.Max(-smoothMaxExp, math.Min(smoothMaxExp, k))
			exp[c] = int8(k)
			nonzero = nonzero || k != 0
		}
		if !nonzero {
			continue
		}
		e, err := errOf(exp)
		if err != nil {
			return nil, 0, 1, err
		}
		if e < best {
			best, bestAlpha, bestExp = e, alpha, exp
		}
	}
	gain := 1.0
	if base > 0 {
		gain = best / base
	}
	return bestExp, bestAlpha, gain, nil
}

// SmoothSource applies a plan to a source's tensors as they are read.
type SmoothSource struct {
	Src  Source
	Plan *SmoothPlan
}

// Specs implements [Source].
func (s SmoothSource) Specs() []TensorSpec { return s.Src.Specs() }

// Done implements [Source].
func (s SmoothSource) Done(name string) { s.Src.Done(name) }

// touched reports whether the plan changes tensor name.
func (s SmoothSource) touched(name string) bool {
	l, short, ok := layerOf(name)
	if !ok || l >= len(s.Plan.Layers) {
		return false
	}
	ly := &s.Plan.Layers[l]
	switch short {
	case "attn_norm", "attn_q", "attn_k":
		return ly.Attn != nil
	case "attn_v":
		return ly.Attn != nil || ly.V != nil
	case "ffn_norm", "ffn_gate":
		return ly.FFN != nil
	case "ffn_up":
		return ly.FFN != nil || ly.Down != nil
	case "ffn_down":
		return ly.Down != nil
	case "attn_o":
		return ly.V != nil
	}
	return false
}

// Raw implements [Source]: transformed tensors are never copied raw.
func (s SmoothSource) Raw(name string) ([]byte, float32, error) {
	if s.touched(name) {
		return nil, 1, nil
	}
	return s.Src.Raw(name)
}

// ReadRows implements [Source].
func (s SmoothSource) ReadRows(name string, row0 int, dst []float32) error {
	if err := s.Src.ReadRows(name, row0, dst); err != nil {
		return err
	}
	if !s.touched(name) {
		return nil
	}
	l, short, _ := layerOf(name)
	ly := &s.Plan.Layers[l]
	// scaleCols multiplies column c by 2^col(c) (col nil: exp[c]).
	scaleCols := func(exp []int8, col func(c int) int8) {
		if col == nil {
			col = func(c int) int8 { return exp[c] }
		}
		w := s.colsOf(name)
		for i := range dst {
			if k := col(i % w); k != 0 {
				dst[i] = float32(math.Ldexp(float64(dst[i]), int(k)))
			}
		}
	}
	scaleRows := func(exp []int8) {
		w := s.colsOf(name)
		for i := 0; i < len(dst)/w; i++ {
			if k := exp[row0+i]; k != 0 {
				for c := i * w; c < (i+1)*w; c++ {
					dst[c] = float32(math.Ldexp(float64(dst[c]), -int(k)))
				}
			}
		}
	}
	norm := func(exp []int8) {
		for i := range dst {
			k := int(exp[row0+i])
			if k == 0 {
				continue
			}
			if s.Plan.Folded {
				dst[i] = float32(math.Ldexp(float64(dst[i]), -k))
			} else {
				dst[i] = float32(math.Ldexp(float64(1+dst[i]), -k) - 1)
			}
		}
	}
	hd, group := s.Plan.HeadDim, s.Plan.Heads/s.Plan.KVHeads
	switch short {
	case "attn_norm":
		norm(ly.Attn)
	case "ffn_norm":
		norm(ly.FFN)
	case "attn_q", "attn_k", "attn_v":
		if ly.Attn != nil {
			scaleCols(ly.Attn, nil)
		}
		if short == "attn_v" && ly.V != nil {
			scaleRows(ly.V)
		}
	case "ffn_gate", "ffn_up":
		if ly.FFN != nil {
			scaleCols(ly.FFN, nil)
		}
		if short == "ffn_up" && ly.Down != nil {
			scaleRows(ly.Down)
		}
	case "ffn_down":
		scaleCols(ly.Down, nil)
	case "attn_o":
		v := ly.V
		scaleCols(v, func(c int) int8 { return v[(c/hd/group)*hd+c%hd] })
	}
	return nil
}

func (s SmoothSource) colsOf(name string) int {
	for _, t := range s.Src.Specs() {
		if t.Name == name {
			_, c := rowsCols(t.Shape)
			return c
		}
	}
	return 1
}

// Imatrix returns im as the transformed model's inputs see it: E[x_c²]/s_c², and for full
// second moments E[x_a·x_b]/(s_a·s_b) (the transformed input is x/s).
func (p *SmoothPlan) Imatrix(im *Imatrix) *Imatrix {
	out := &Imatrix{Datasets: im.Datasets, Chunks: im.Chunks, ChunkSize: im.ChunkSize, Entries: map[string]*ImatrixEntry{}}
	for name, e := range im.Entries {
		ne := &ImatrixEntry{SumSq: append([]float64(nil), e.SumSq...), Count: e.Count}
		out.Entries[name] = ne
		k := p.inputExp(name)
		if k == nil {
			continue
		}
		for c := range ne.SumSq {
			ne.SumSq[c] = math.Ldexp(ne.SumSq[c], -2*int(k(c)))
		}
	}
	for _, g := range im.Moments {
		ng := &Moments{Tensors: g.Tensors, Count: g.Count, Dim: g.Dim, Upper: append([]float32(nil), g.Upper...)}
		out.Moments = append(out.Moments, ng)
		var k func(c int) int8
		for _, t := range g.Tensors {
			if k = p.inputExp(t); k != nil {
				break
			}
		}
		if k == nil {
			continue
		}
		n, at := g.Dim, 0
		for a := range n {
			for b := a; b < n; b++ {
				ng.Upper[at] = float32(math.Ldexp(float64(ng.Upper[at]), -int(k(a))-int(k(b))))
				at++
			}
		}
	}
	return out
}

// inputExp returns the exponent k_c (s_c = 2^k_c) by which the plan divides input column c of
// weight name, or nil when it leaves that input unchanged.
func (p *SmoothPlan) inputExp(name string) func(c int) int8 {
	hd, group := p.HeadDim, p.Heads/p.KVHeads
	l, short, ok := layerOf(name)
	if !ok || l >= len(p.Layers) {
		return nil
	}
	ly := &p.Layers[l]
	switch {
	case strings.HasPrefix(short, "attn_") && short != "attn_o" && ly.Attn != nil:
		return func(c int) int8 { return ly.Attn[c] }
	case (short == "ffn_gate" || short == "ffn_up") && ly.FFN != nil:
		return func(c int) int8 { return ly.FFN[c] }
	case short == "ffn_down" && ly.Down != nil:
		return func(c int) int8 { return ly.Down[c] }
	case short == "attn_o" && ly.V != nil:
		return func(c int) int8 { return ly.V[(c/hd/group)*hd+c%hd] }
	}
	return nil
}

// Info summarises the plan for the file's metadata.
func (p *SmoothPlan) Info() *format.SmoothInfo {
	info := &format.SmoothInfo{Method: "awq-pow2", Note: "per-channel power-of-two scales folded into norms (stored f32) and weights; α per layer and place from 0 (none) to 1"}
	for l, ly := range p.Layers {
		for _, g := range []struct {
			kind  string
			exp   []int8
			alpha float64
			gain  float64
		}{{"attn", ly.Attn, ly.AlphaAttn, ly.GainAttn}, {"ffn", ly.FFN, ly.AlphaFFN, ly.GainFFN}, {"down", ly.Down, ly.AlphaDown, ly.GainDown}, {"v", ly.V, ly.AlphaV, ly.GainV}} {
			sg := format.SmoothGroup{Layer: l, Place: g.kind, Alpha: g.alpha, ErrorRatio: g.gain}
			for _, k := range g.exp {
				if k != 0 {
					sg.Scaled++
				}
				sg.MaxExp = max(sg.MaxExp, int(k), -int(k))
			}
			sg.Exponents = append([]int8(nil), g.exp...)
			info.Groups = append(info.Groups, sg)
		}
	}
	return info
}

// ApplySmooth searches a smoothing plan for job (which must carry an imatrix) against the
// types its policy gives, and rewires the job: its source applies the plan, its imatrix is
// the transformed one, the transformed norms are stored as F32, and the plan is recorded.
// folded says whether the source's norms are stored as 1+w.
func (job *Job) ApplySmooth(folded bool) error {
	if job.Imatrix == nil {
		return fmt.Errorf("quantize: --smooth needs an imatrix (--imatrix FILE)")
	}
	specs := job.Src.Specs()
	if job.Policy.Mix != "" && job.Policy.Layers == 0 {
		job.Policy.Layers = CountLayers(specs)
	}
	src := map[string]format.DType{}
	for _, s := range specs {
		src[s.Name] = s.DType
	}
	pol := job.Policy
	typeOf := func(name string, shape []int64) format.DType {
		t, _, err := pol.Decide(name, src[name], shape)
		if err != nil {
			return 0
		}
		return t
	}
	plan, err := PlanSmooth(job.Src, job.Imatrix, folded, typeOf)
	if err != nil {
		return err
	}
	job.Src = SmoothSource{Src: job.Src, Plan: plan}
	job.Imatrix = plan.Imatrix(job.Imatrix)
	job.Policy.Overrides = append([]Override{{Glob: "text.blk.*.attn_norm", DType: format.F32}, {Glob: "text.blk.*.ffn_norm", DType: format.F32}}, job.Policy.Overrides...)
	job.SmoothInfo = plan.Info()
	return nil
}
