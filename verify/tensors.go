package verify

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// TensorInfo names one tensor of a [TensorReader] by its canonical name (text.blk.3.attn_q),
// with its stored type and its shape in the canonical [out, in] orientation.
type TensorInfo struct {
	Name  string
	DType string
	Shape []int64
}

// TensorReader reads a model's tensors as float32 rows in the canonical orientation (a
// checkpoint read through the conversion plan, transposes undone; a gemmatool file decoded).
// A tensor of shape [d₀, d₁, …] has d₀ rows of d₁·… values; a vector has one value per row.
type TensorReader interface {
	TensorInfos() []TensorInfo
	ReadRows(name string, row0 int, dst []float32) error
}

// TensorStat compares one tensor of model A (the reference, W) with model B (Ŵ), over every
// element, in float64 with compensated sums:
//
//	rel_l2  = ‖W − Ŵ‖₂ / ‖W‖₂                   (dimensionless)
//	snr_db  = 10·log10(Σw² / Σ(w − ŵ)²)          (decibels; 999 stands for +∞, exact)
//	max_abs = max |w − ŵ|                        (in the tensor's units)
//	cosine  = Σwŵ / (‖W‖₂·‖Ŵ‖₂)
//
// These are the quantize report's definitions, so for a quantized file against its source they
// reproduce the figures stored in its metadata.
type TensorStat struct {
	Name     string  `json:"name"`
	Group    string  `json:"group"` // the name with the layer index as *: text.blk.*.attn_q
	Layer    int     `json:"layer"` // −1 outside the layer stacks
	DTypeA   string  `json:"dtype_a"`
	DTypeB   string  `json:"dtype_b"`
	Elements int64   `json:"elements"`
	RelL2    float64 `json:"rel_l2"`
	SNRdB    float64 `json:"snr_db"`
	MaxAbs   float64 `json:"max_abs"`
	Cosine   float64 `json:"cosine"`

	acc errAcc
}

// GroupStat is the same comparison over every element of a group of tensors (a component
// across layers, or all tensors of one layer).
type GroupStat struct {
	Name     string  `json:"name"`
	Tensors  int     `json:"tensors"`
	Elements int64   `json:"elements"`
	RelL2    float64 `json:"rel_l2"`
	SNRdB    float64 `json:"snr_db"`
	MaxAbs   float64 `json:"max_abs"`
	Cosine   float64 `json:"cosine"`
}

// TensorReport is the outcome of [CompareTensors]: every common tensor, worst (largest rel_l2)
// first; totals per component and per layer; names found in only one model or with another
// shape.
type TensorReport struct {
	Tensors    []TensorStat `json:"tensors"`
	Components []GroupStat  `json:"components"`
	Layers     []GroupStat  `json:"layers"`
	OnlyA      []string     `json:"only_a,omitempty"`
	OnlyB      []string     `json:"only_b,omitempty"`
	Mismatched []string     `json:"shape_mismatch,omitempty"`
}

// errAcc accumulates Σw², Σŵ², Σwŵ, Σ(w−ŵ)² and max|w−ŵ|, compensated; partial results merge.
type errAcc struct {
	n                      int64
	sa, sac, sb, sbc       float64
	sab, sabc, snoise, snc float64
	max                    float64
}

func (e *errAcc) add(a, b []float32) {
	for i, w := range a {
		x, y := float64(w), float64(b[i])
		d := x - y
		neumaier(&e.sa, &e.sac, x*x)
		neumaier(&e.sb, &e.sbc, y*y)
		neumaier(&e.sab, &e.sabc, x*y)
		neumaier(&e.snoise, &e.snc, d*d)
		if ad := math.Abs(d); ad > e.max || ad != ad {
			e.max = ad
		}
	}
	e.n += int64(len(a))
}

func (e *errAcc) merge(o errAcc) {
	e.n += o.n
	for _, p := range [][3]*float64{{&e.sa, &e.sac, &o.sa}, {&e.sa, &e.sac, &o.sac}, {&e.sb, &e.sbc, &o.sb}, {&e.sb, &e.sbc, &o.sbc},
		{&e.sab, &e.sabc, &o.sab}, {&e.sab, &e.sabc, &o.sabc}, {&e.snoise, &e.snc, &o.snoise}, {&e.snoise, &e.snc, &o.snc}} {
		neumaier(p[0], p[1], *p[2])
	}
	if o.max > e.max || o.max != o.max {
		e.max = o.max
	}
}

func (e *errAcc) figures() (relL2, snr, maxAbs, cos float64) {
	sa, sb, sab, noise := e.sa+e.sac, e.sb+e.sbc, e.sab+e.sabc, e.snoise+e.snc
	switch {
	case noise == 0:
		relL2, snr = 0, math.Inf(1)
	default:
		relL2, snr = math.Sqrt(noise/sa), 10*math.Log10(sa/noise)
	}
	cos = 1
	if noise != 0 || sa == 0 {
		cos = sab / math.Sqrt(sa*sb)
	}
	return relL2, snr, e.max, cos
}

// jsonSNR writes +Inf as 999, as the quantize report does.
func jsonSNR(x float64) float64 {
	if math.IsInf(x, 1) || math.IsNaN(x) {
		return 999
	}
	return x
}

// splitName returns a canonical name's group (layer index replaced by *) and layer (−1 if none).
func splitName(name string) (string, int) {
	parts := strings.Split(name, ".")
	for i := 1; i < len(parts); i++ {
		if parts[i-1] == "blk" {
			if l, err := strconv.Atoi(parts[i]); err == nil {
				parts[i] = "*"
				return strings.Join(parts, "."), l
			}
		}
	}
	return name, -1
}

func rowsColsOf(shape []int64) (int, int) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	switch len(shape) {
	case 0:
		return 1, 1
	case 1:
		return int(n), 1
	}
	return int(shape[0]), int(n / max(shape[0], 1))
}

// chunkElems is how many values of each model are decoded at once per worker.
const chunkElems = 1 << 18

// CompareTensors compares every tensor the two models share (by canonical name), reading
// chunks of rows in parallel on ex's threads. progress, when set, is called with the elements
// done and the total.
func CompareTensors(a, b TensorReader, ex kernel.Exec, progress func(done, total int64)) (*TensorReport, error) {
	rep := &TensorReport{}
	bi := map[string]TensorInfo{}
	for _, t := range b.TensorInfos() {
		bi[t.Name] = t
	}
	type job struct{ ta, tb TensorInfo }
	var jobs []job
	var total int64
	seen := map[string]bool{}
	for _, ta := range a.TensorInfos() {
		seen[ta.Name] = true
		tb, ok := bi[ta.Name]
		switch {
		case !ok:
			rep.OnlyA = append(rep.OnlyA, ta.Name)
		case !slices.Equal(ta.Shape, tb.Shape):
			rep.Mismatched = append(rep.Mismatched, fmt.Sprintf("%s: %v vs %v", ta.Name, ta.Shape, tb.Shape))
		default:
			jobs = append(jobs, job{ta, tb})
			r, c := rowsColsOf(ta.Shape)
			total += int64(r) * int64(c)
		}
	}
	for _, t := range b.TensorInfos() {
		if !seen[t.Name] {
			rep.OnlyB = append(rep.OnlyB, t.Name)
		}
	}
	var done int64
	for _, j := range jobs {
		rows, cols := rowsColsOf(j.ta.Shape)
		per := max(1, chunkElems/max(cols, 1))
		nchunks := (rows + per - 1) / per
		accs := make([]errAcc, nchunks)
		errs := make([]error, nchunks)
		ex.ParallelFor(nchunks, func(lo, hi int) {
			bufA := make([]float32, per*cols)
			bufB := make([]float32, per*cols)
			for c := lo; c < hi; c++ {
				r0 := c * per
				n := min(per, rows-r0)
				if err := a.ReadRows(j.ta.Name, r0, bufA[:n*cols]); err != nil {
					errs[c] = err
					return
				}
				if err := b.ReadRows(j.tb.Name, r0, bufB[:n*cols]); err != nil {
					errs[c] = err
					return
				}
				accs[c].add(bufA[:n*cols], bufB[:n*cols])
			}
		})
		st := TensorStat{Name: j.ta.Name, DTypeA: j.ta.DType, DTypeB: j.tb.DType}
		for c := range accs {
			if errs[c] != nil {
				return nil, fmt.Errorf("verify: tensors: %s: %w", j.ta.Name, errs[c])
			}
			st.acc.merge(accs[c])
		}
		st.Group, st.Layer = splitName(st.Name)
		st.Elements = st.acc.n
		var snr float64
		st.RelL2, snr, st.MaxAbs, st.Cosine = st.acc.figures()
		st.SNRdB = jsonSNR(snr)
		rep.Tensors = append(rep.Tensors, st)
		done += st.Elements
		if progress != nil {
			progress(done, total)
		}
	}
	group := func(key func(TensorStat) (string, bool)) []GroupStat {
		accs := map[string]*errAcc{}
		counts := map[string]int{}
		var names []string
		for _, t := range rep.Tensors {
			k, ok := key(t)
			if !ok {
				continue
			}
			if accs[k] == nil {
				accs[k] = &errAcc{}
				names = append(names, k)
			}
			accs[k].merge(t.acc)
			counts[k]++
		}
		var out []GroupStat
		for _, k := range names {
			g := GroupStat{Name: k, Tensors: counts[k], Elements: accs[k].n}
			var snr float64
			g.RelL2, snr, g.MaxAbs, g.Cosine = accs[k].figures()
			g.SNRdB = jsonSNR(snr)
			out = append(out, g)
		}
		return out
	}
	rep.Components = group(func(t TensorStat) (string, bool) { return t.Group, true })
	slices.SortStableFunc(rep.Components, func(x, y GroupStat) int { return cmpDesc(x.RelL2, y.RelL2) })
	rep.Layers = group(func(t TensorStat) (string, bool) {
		if t.Layer < 0 {
			return "", false
		}
		return fmt.Sprintf("%s.blk.%d", strings.SplitN(t.Name, ".", 2)[0], t.Layer), true
	})
	slices.SortStableFunc(rep.Tensors, func(x, y TensorStat) int { return cmpDesc(x.RelL2, y.RelL2) })
	return rep, nil
}

func cmpDesc(x, y float64) int {
	switch {
	case x > y:
		return -1
	case x < y:
		return 1
	}
	return 0
}
