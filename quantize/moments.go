package quantize

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Full second moments of the linear weights' inputs (`gemmatool imatrix --full`).
//
// The diagonal imatrix keeps E[x_j²] per input column; the output error a quantized row adds,
// E[((w − ŵ)·x)²] = (w − ŵ) H (w − ŵ)ᵀ with H = E[x xᵀ], also has the cross terms of correlated
// columns. GPTQ (gptq.go) needs all of H. One group per distinct input of a layer (the vector
// q, k, v read; the one gate, up read; o's; down's) holds the names of the weights that read it,
// the token count and H (mean over the tokens, stored as f32, upper triangle; accumulated in
// float64 while collecting). An n-wide group takes n(n+1)/2 × 4 bytes in the file and
// n(n+1)/2 × 8 bytes while collecting; groups wider than [MaxMomentDim] are not collected
// (Calibrate reports them) and are rejected by the reader, as is a file over 4 GiB (the writer
// refuses to make one): a model with L layers of hidden size d holds about 3·L·d²·2 bytes
// of them (down's input, 4 to 6 times wider than d, is over the cap on every Gemma 3 but
// 270M/1B): 1.2 GB for Gemma 3 4B, but 4.4 GB for 12B, which --full cannot hold whole yet.

// MaxMomentDim is the largest input dimension whose second moments are collected or read
// (8192: 128 MiB of f32 per group in the file).
const MaxMomentDim = 8192

const (
	maxMomentGroups  = 4096
	maxMomentTensors = 16
)

// Moments is E[x xᵀ] of one input, shared by the weights in Tensors.
type Moments struct {
	Tensors []string // canonical names of the weights that read this input
	Count   int64    // tokens
	Dim     int      // n
	// Upper holds E[x_i·x_j] for i ≤ j, row by row: element (i, j) is at
	// i·n − i(i−1)/2 + (j − i).
	Upper []float32
}

// upperLen is the number of elements of the upper triangle of an n×n matrix.
func upperLen(n int) int { return n * (n + 1) / 2 }

// upperAt is the index of (i, j), i ≤ j, in a packed upper triangle of an n×n matrix.
func upperAt(n, i, j int) int { return i*n - i*(i-1)/2 + (j - i) }

// Dense returns H as a full symmetric n×n matrix in float64, row-major.
func (g *Moments) Dense() []float64 {
	n := g.Dim
	h := make([]float64, n*n)
	k := 0
	for i := range n {
		for j := i; j < n; j++ {
			v := float64(g.Upper[k])
			h[i*n+j], h[j*n+i] = v, v
			k++
		}
	}
	return h
}

// SecondMoments returns the full second moments of the input of weight name, or nil when the
// imatrix has none for it (no --full, or a group too wide to collect).
func (m *Imatrix) SecondMoments(name string) *Moments {
	if m == nil {
		return nil
	}
	for _, g := range m.Moments {
		if g.Count > 0 && slices.Contains(g.Tensors, name) {
			return g
		}
	}
	return nil
}

func (m *Imatrix) marshalMoments(b *bytes.Buffer) error {
	le := binary.LittleEndian
	if len(m.Moments) > maxMomentGroups {
		return fmt.Errorf("imatrix: %d moment groups, at most %d", len(m.Moments), maxMomentGroups)
	}
	total := int64(b.Len())
	for _, g := range m.Moments {
		total += 4 * int64(len(g.Upper))
	}
	if total > maxImatrixFile {
		return fmt.Errorf("imatrix: the second moments make the file larger than the %d bytes a reader accepts; collect them with a lower dimension cap (--full-max-dim)", int64(maxImatrixFile))
	}
	b.Write(le.AppendUint32(nil, uint32(len(m.Moments))))
	for gi, g := range m.Moments {
		if len(g.Tensors) == 0 || len(g.Tensors) > maxMomentTensors {
			return fmt.Errorf("imatrix: moment group %d names %d tensors, want 1..%d", gi, len(g.Tensors), maxMomentTensors)
		}
		if g.Dim < 1 || g.Dim > MaxMomentDim || len(g.Upper) != upperLen(g.Dim) || g.Count < 0 {
			return fmt.Errorf("imatrix: moment group %d (%s): dimension %d (at most %d), %d values, count %d", gi, g.Tensors[0], g.Dim, MaxMomentDim, len(g.Upper), g.Count)
		}
		b.Write(le.AppendUint16(nil, uint16(len(g.Tensors))))
		for _, t := range g.Tensors {
			if len(t) == 0 || len(t) > maxImatrixName {
				return fmt.Errorf("imatrix: moment group %d: tensor name %q: length must be 1..%d", gi, t, maxImatrixName)
			}
			b.Write(le.AppendUint16(nil, uint16(len(t))))
			b.WriteString(t)
		}
		b.Write(le.AppendUint64(nil, uint64(g.Count)))
		b.Write(le.AppendUint32(nil, uint32(g.Dim)))
		for _, v := range g.Upper {
			b.Write(le.AppendUint32(nil, math.Float32bits(v)))
		}
	}
	return nil
}

// unmarshalMoments reads the moment groups of a version 2 file into m, checking every size
// against the caps and the bytes left before allocating.
func (m *Imatrix) unmarshalMoments(r *imatrixReader) {
	ng := int(r.u32("moment group count"))
	if r.err == nil && (ng == 0 || ng > maxMomentGroups) {
		r.fail("%d moment groups in a version 2 file, want 1..%d", ng, maxMomentGroups)
	}
	seen := map[string]bool{}
	for gi := 0; gi < ng && r.err == nil; gi++ {
		nt := r.u16("moment group tensor count")
		if r.err == nil && (nt == 0 || nt > maxMomentTensors) {
			r.fail("moment group %d names %d tensors, want 1..%d", gi, nt, maxMomentTensors)
			return
		}
		g := &Moments{}
		for range nt {
			l := r.u16("moment group tensor name length")
			if r.err == nil && (l == 0 || l > maxImatrixName) {
				r.fail("moment group %d: tensor name length %d, want 1..%d", gi, l, maxImatrixName)
				return
			}
			t := string(r.need(l, "moment group tensor name"))
			if r.err != nil {
				return
			}
			if seen[t] {
				r.fail("moment group %d: tensor %s is already in another group", gi, t)
				return
			}
			seen[t] = true
			g.Tensors = append(g.Tensors, t)
		}
		cnt := r.u64("moment group token count")
		n := int(r.u32("moment group dimension"))
		if r.err != nil {
			return
		}
		if cnt > math.MaxInt64 {
			r.fail("moment group %d (%s): token count %d", gi, g.Tensors[0], cnt)
			return
		}
		if n < 1 || n > MaxMomentDim {
			r.fail("moment group %d (%s): dimension %d, want 1..%d", gi, g.Tensors[0], n, MaxMomentDim)
			return
		}
		for _, t := range g.Tensors {
			if e, ok := m.Entries[t]; ok && len(e.SumSq) != n {
				r.fail("moment group %d: dimension %d, but the entry of %s has %d columns", gi, n, t, len(e.SumSq))
				return
			}
		}
		p := r.need(4*upperLen(n), "second moments of "+g.Tensors[0])
		if r.err != nil {
			return
		}
		g.Count, g.Dim, g.Upper = int64(cnt), n, make([]float32, upperLen(n))
		for k := range g.Upper {
			v := math.Float32frombits(binary.LittleEndian.Uint32(p[4*k:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				r.fail("moment group %d (%s): value %d is %v", gi, g.Tensors[0], k, v)
				return
			}
			g.Upper[k] = v
		}
		for i := range n {
			if v := g.Upper[upperAt(n, i, i)]; v < 0 {
				r.fail("moment group %d (%s): diagonal element %d is negative (%v)", gi, g.Tensors[0], i, v)
				return
			}
		}
		m.Moments = append(m.Moments, g)
	}
}

// momentAcc accumulates Σ x xᵀ (upper triangle, float64) of one input.
type momentAcc struct {
	n     int
	upper []float64
	count int64
}

// add adds the n×cols rows of x (tokens), splitting the rows i of the triangle over pf; every
// element sums its tokens in order, so the result does not depend on the split.
func (a *momentAcc) add(x []float32, tokens int, pf func(n int, f func(lo, hi int))) {
	n := a.n
	// Row i of the triangle stays in cache while every token adds to it (x, one window's
	// activations, is read once per row from the outer caches); four tokens at a time, their
	// products summed in token order before they are added, so one load and store of the
	// accumulator serves four tokens. The order depends only on the token count.
	pf(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			acc := a.upper[upperAt(n, i, i) : upperAt(n, i, i)+n-i]
			t := 0
			for ; t+4 <= tokens; t += 4 {
				r0, r1 := x[t*n+i:(t+1)*n], x[(t+1)*n+i:(t+2)*n]
				r2, r3 := x[(t+2)*n+i:(t+3)*n], x[(t+3)*n+i:(t+4)*n]
				r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
				a0, a1, a2, a3 := float64(r0[0]), float64(r1[0]), float64(r2[0]), float64(r3[0])
				for j := range r0 {
					acc[j] += a0*float64(r0[j]) + a1*float64(r1[j]) + a2*float64(r2[j]) + a3*float64(r3[j])
				}
			}
			for ; t < tokens; t++ {
				row := x[t*n+i : (t+1)*n]
				xi := float64(row[0])
				for j, v := range row {
					acc[j] += xi * float64(v)
				}
			}
		}
	})
	a.count += int64(tokens)
}

// moments returns the mean E[x xᵀ] in float32 for tensors.
func (a *momentAcc) moments(tensors []string) *Moments {
	g := &Moments{Tensors: tensors, Count: a.count, Dim: a.n, Upper: make([]float32, len(a.upper))}
	if a.count > 0 {
		c := float64(a.count)
		for k, v := range a.upper {
			g.Upper[k] = float32(v / c)
		}
	}
	return g
}
