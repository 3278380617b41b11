package quantize

import (
	"fmt"
	"math"
	"sort"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// A size budget (quantize --target-bpw): a type per decoder linear weight that minimises the
// predicted damage under an average bits-per-weight budget.
//
// Damage of tensor t stored as type T: D_t(T) = g_t · E_t(T), where
//
//	E_t(T) = Σ_c m_c · Σ_r (Q_T(W)_rc − W_rc)²   (m_c = E[x_c²] from the imatrix)
//
// is the expected squared error the quantized matrix adds to its own output per token (the
// imatrix's diagonal approximation), measured by encoding the whole tensor with T (importance-
// weighted where the encoder supports it), and g_t is the tensor's gain: how much of its output
// error reaches the model's final hidden state. With calibration windows, g_t is measured: the
// tensor alone is quantized (IQ4_NL, unweighted), swapped into the BF16 model, and the mean
// squared change of the final-normed hidden state over the windows (exact path) is divided by
// E_t(IQ4_NL); without windows g_t = 1 (the local error alone). The choice minimises Σ_t D_t
// subject to Σ_t bits_t(T) ≤ target · Σ_t n_t (bits from the stored size, scales included):
// a Lagrangian sweep (each tensor takes argmin D_t + λ·bits_t) with λ found by bisection, then
// the remaining budget is spent greedily on the best damage reduction per extra bit.

// BudgetCandidates are the types [PlanBudget] chooses from by default.
var BudgetCandidates = []format.DType{format.Q3_K, format.I4, format.IQ4_NL, format.Q4_0, format.Q4_K, format.Q5_K, format.Q6_K, format.Q8_0}

// BudgetTensor is one tensor's choice and what it was based on.
type BudgetTensor struct {
	Name   string             `json:"name"`
	DType  string             `json:"dtype"`
	BPW    float64            `json:"bpw"`
	Gain   float64            `json:"gain"`
	Damage map[string]float64 `json:"damage"` // predicted D_t per candidate type
}

// BudgetPlan is the recipe [PlanBudget] chose.
type BudgetPlan struct {
	TargetBPW   float64        `json:"target_bpw"`
	BPW         float64        `json:"bpw"`
	GainFrom    string         `json:"gain_from"` // "measured" or "local error only"
	Tensors     []BudgetTensor `json:"tensors"`
	Predicted   float64        `json:"predicted_damage"`
	Overrides   []Override     `json:"-"`
	Description string         `json:"-"`
}

// PlanBudget chooses the types of the decoder linear weights of src (weighted by im). m (the
// unquantized model, may be nil) and windows measure the gains, with the tensors of gainSrc
// weighted by gainIm (the untransformed source and imatrix when src is smoothed; nil: src, im).
func PlanBudget(src Source, im *Imatrix, gainSrc Source, gainIm *Imatrix, target float64, cands []format.DType, m *runtime.Model, windows [][]int32, progress func(done, total int)) (*BudgetPlan, error) {
	if gainSrc == nil {
		gainSrc, gainIm = src, im
	}
	if len(cands) == 0 {
		cands = BudgetCandidates
	}
	type opt struct {
		t      format.DType
		bits   float64
		damage float64
	}
	type tens struct {
		name string
		n    float64
		gain float64
		opts []opt
	}
	var ts []tens
	var specs []TensorSpec
	for _, s := range src.Specs() {
		if isLinear(s.Name, "text.blk.", format.TextLinear) && len(s.Shape) == 2 {
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("quantize: --target-bpw: no decoder linear weights")
	}
	var base []float32
	var sess *runtime.Session
	if m != nil && len(windows) > 0 {
		maxLen := 0
		for _, w := range windows {
			maxLen = max(maxLen, len(w))
		}
		sess = m.NewSession(&runtime.SessionOptions{MaxContext: maxLen})
		var err error
		if base, err = finalHidden(sess, windows); err != nil {
			return nil, err
		}
	}
	for k, s := range specs {
		rows, cols := rowsCols(s.Shape)
		w := make([]float32, rows*cols)
		if err := src.ReadRows(s.Name, 0, w); err != nil {
			return nil, err
		}
		imp := im.Weights(s.Name)
		if imp == nil || len(imp) != cols {
			return nil, fmt.Errorf("quantize: --target-bpw: the imatrix has no entry of %d columns for %s", cols, s.Name)
		}
		t := tens{name: s.Name, n: float64(rows * cols), gain: 1}
		for _, c := range cands {
			l, err := format.LayoutOf(c, s.Shape)
			if err != nil {
				continue // the type cannot hold this shape
			}
			e, _, err := weightedError(c, s.Shape, w, imp, true)
			if err != nil {
				return nil, err
			}
			t.opts = append(t.opts, opt{c, float64(8 * l.Size), e})
		}
		if len(t.opts) == 0 {
			return nil, fmt.Errorf("quantize: --target-bpw: no candidate type fits %s %v", s.Name, s.Shape)
		}
		if sess != nil {
			gw, gimp := w, imp
			if gainSrc != src {
				gw = make([]float32, rows*cols)
				if err := gainSrc.ReadRows(s.Name, 0, gw); err != nil {
					return nil, err
				}
				if gimp = gainIm.Weights(s.Name); len(gimp) != cols {
					return nil, fmt.Errorf("quantize: --target-bpw: the imatrix has no entry of %d columns for %s", cols, s.Name)
				}
			}
			e, payload, err := weightedError(format.IQ4_NL, s.Shape, gw, gimp, false)
			if err == nil && e > 0 {
				q, err := kernel.NewMatrix(format.IQ4_NL, s.Shape, payload, 1)
				if err != nil {
					return nil, err
				}
				old, err := m.SwapLinear(s.Name, q)
				if err != nil {
					return nil, err
				}
				h, err := finalHidden(sess, windows)
				m.SwapLinear(s.Name, old)
				if err != nil {
					return nil, err
				}
				var d float64
				for i, v := range h {
					x := float64(v) - float64(base[i])
					d += x * x
				}
				t.gain = d / float64(len(h)/m.Hidden()) / e
			}
		}
		for i := range t.opts {
			t.opts[i].damage *= t.gain
		}
		ts = append(ts, t)
		if progress != nil {
			progress(k+1, len(specs))
		}
	}
	var total float64
	for _, t := range ts {
		total += t.n
	}
	budget := target * total
	choose := func(lambda float64) ([]int, float64) {
		pick := make([]int, len(ts))
		var bits float64
		for i, t := range ts {
			best := math.Inf(1)
			for j, o := range t.opts {
				if v := o.damage + lambda*o.bits; v < best {
					best, pick[i] = v, j
				}
			}
			bits += t.opts[pick[i]].bits
		}
		return pick, bits
	}
	// λ large enough to pick the fewest bits everywhere, then bisection (in log λ) for the
	// smallest λ whose choice fits the budget. If even the fewest bits do not fit, that
	// choice is taken (the plan's BPW says by how much it misses).
	hi := 1.0
	for range 200 {
		if _, b := choose(hi); b <= budget {
			break
		}
		hi *= 4
	}
	pick, bits := choose(hi)
	lo := hi * 1e-15
	for range 200 {
		mid := math.Sqrt(lo * hi)
		p, b := choose(mid)
		if b <= budget {
			hi, pick, bits = mid, p, b
		} else {
			lo = mid
		}
		if hi/lo < 1.0001 {
			break
		}
	}
	// Greedy: spend what is left on the upgrades with the best damage reduction per bit.
	for {
		bi, bj, bestRate := -1, -1, 0.0
		for i, t := range ts {
			cur := t.opts[pick[i]]
			for j, o := range t.opts {
				db, dd := o.bits-cur.bits, cur.damage-o.damage
				if db > 0 && dd > 0 && bits+db <= budget && dd/db > bestRate {
					bi, bj, bestRate = i, j, dd/db
				}
			}
		}
		if bi < 0 {
			break
		}
		bits += ts[bi].opts[bj].bits - ts[bi].opts[pick[bi]].bits
		pick[bi] = bj
	}
	plan := &BudgetPlan{TargetBPW: target, BPW: bits / total, GainFrom: "local error only"}
	if sess != nil {
		plan.GainFrom = fmt.Sprintf("measured on %d windows", len(windows))
	}
	for i, t := range ts {
		o := t.opts[pick[i]]
		bt := BudgetTensor{Name: t.name, DType: o.t.String(), BPW: o.bits / t.n, Gain: t.gain, Damage: map[string]float64{}}
		for _, c := range t.opts {
			bt.Damage[c.t.String()] = c.damage
		}
		plan.Tensors = append(plan.Tensors, bt)
		plan.Predicted += o.damage
		plan.Overrides = append(plan.Overrides, Override{Glob: t.name, DType: o.t})
	}
	counts := map[string]int{}
	for _, t := range plan.Tensors {
		counts[t.DType]++
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%d × %s", v, k))
	}
	sort.Strings(parts)
	plan.Description = fmt.Sprintf("%.3f bits per weight (target %.3f): %v", plan.BPW, target, parts)
	return plan, nil
}

// weightedError encodes w as type t (importance-weighted when weighted is set) and returns
// Σ_c imp_c Σ_r (ŵ − w)² and the payload.
func weightedError(t format.DType, shape []int64, w, imp []float32, weighted bool) (float64, []byte, error) {
	o := Options{}
	if weighted {
		o.Importance = imp
	}
	payload, scale, err := Encode(t, shape, w, o)
	if err != nil {
		return 0, nil, err
	}
	l, _ := format.LayoutOf(t, shape)
	rows, cols := rowsCols(shape)
	dec := make([]float32, cols)
	var e float64
	for r := range rows {
		format.DecodeRow(dec, t, l, payload, r, scale)
		for c, v := range dec {
			d := float64(v) - float64(w[r*cols+c])
			e += float64(imp[c]) * d * d
		}
	}
	return e, payload, nil
}

// finalHidden runs the windows and returns their final-normed hidden states, concatenated.
func finalHidden(s *runtime.Session, windows [][]int32) ([]float32, error) {
	var out []float32
	for _, w := range windows {
		s.Reset()
		r, err := s.Forward(&runtime.Batch{Tokens: w, Logits: runtime.LogitsNone, FinalHidden: true})
		if err != nil {
			return nil, err
		}
		out = append(out, r.FinalHidden...)
	}
	return out, nil
}

// Info is the plan as recorded in the file's metadata.
func (p *BudgetPlan) Info() *format.BudgetInfo {
	b := &format.BudgetInfo{TargetBPW: p.TargetBPW, BPW: p.BPW, GainFrom: p.GainFrom}
	for _, t := range p.Tensors {
		b.Tensors = append(b.Tensors, format.BudgetChoice{Name: t.Name, DType: t.DType, BPW: t.BPW, Gain: t.Gain})
	}
	return b
}
