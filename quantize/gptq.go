package quantize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// GPTQ error feedback for Q4_0 and I4 (used when the imatrix holds the full second moments of
// a weight's input, see moments.go).
//
// A row w of a linear weight adds the output error E[((w − ŵ)·x)²] = (w − ŵ) H (w − ŵ)ᵀ,
// H = E[x xᵀ]. GPTQ (Frantar et al. 2022, after Optimal Brain Quantization) quantizes the
// columns in order and, after each one, moves the rounding error onto the columns not yet
// quantized so that the error they will add through correlated activations is compensated:
// with U the upper Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ U), column i's level is chosen for the
// current value w_i, and every later column j gets w_j −= (w_i − ŵ_i)·U_ij / U_ii. Rows are
// independent (they share U), so the pipeline's row pieces are encoded separately.
//
// Q4_0 ties the columns of each block of 32 to one scale per row: when the sweep reaches a
// block, each row's scale is chosen from the block's already-updated values (round-to-nearest
// max/−8, or the exhaustive importance-weighted search of wsearch.go with diag(H) as the
// importance: [GPTQScale]) and then stays fixed while the block's columns are rounded one by
// one to its nearest levels. Columns keep their order (no act-order: Q4_0's blocks are
// contiguous columns), so the bytes are plain Q4_0 for every Q4_0 decoder. The updates of the
// columns after a block are applied once per block (GPTQ's lazy batch, here of 32 columns).
// I4's one scale per row is chosen before the sweep ([gptqI4]).
//
// H is damped as GPTQ does: columns with E[x_i²] = 0 (never active) get H_ii = 1, and every
// diagonal element gets damp·mean(diag H) added (damp = [Job.GPTQDamp], default 0.01);
// when the Cholesky factorisation still fails the damping is raised tenfold, up to 3 times.

// GPTQScale is the rule that picks a Q4_0 block's scale inside GPTQ.
type GPTQScale uint8

const (
	// GPTQScaleSearch picks it by the exhaustive importance-weighted search (diag H as the
	// importance), keeping llama.cpp's weighted choice or max/−8 where they do better.
	GPTQScaleSearch GPTQScale = iota
	// GPTQScaleMax is round-to-nearest's max/−8.
	GPTQScaleMax
)

// defaultGPTQDamp is GPTQ's usual relative damping.
const defaultGPTQDamp = 0.01

// gptqFactor is what GPTQ needs of H for one input: U (n×n, row-major, upper triangle used) and
// diag(H) as float32 importance.
type gptqFactor struct {
	n   int
	u   []float64
	imp []float32
}

// errNoActivity reports second moments that are all zero (the input never carried a value).
var errNoActivity = errors.New("the second moments are all zero")

// newGPTQFactor damps H and returns its factor.
func newGPTQFactor(g *Moments, damp float64) (*gptqFactor, error) {
	if damp <= 0 {
		damp = defaultGPTQDamp
	}
	n := g.Dim
	h := g.Dense()
	imp := make([]float32, n)
	var mean float64
	for i := range n {
		imp[i] = float32(h[i*n+i])
		mean += h[i*n+i]
	}
	mean /= float64(n)
	if !(mean > 0) {
		return nil, errNoActivity
	}
	for i := range n {
		if h[i*n+i] == 0 {
			h[i*n+i] = 1
		}
	}
	a := make([]float64, n*n)
	for try := 0; try < 4; try++ {
		// The factorisation reads J·H·J (J reverses the order): if J·H·J = M·Mᵀ with M lower
		// triangular, H⁻¹ = J·M⁻ᵀ·M⁻¹·J and U = J·M⁻¹·J is H⁻¹'s upper Cholesky factor.
		lambda := damp * mean
		for i := range n {
			for j := range n {
				a[i*n+j] = h[(n-1-i)*n+(n-1-j)]
			}
			a[i*n+i] += lambda
		}
		if choleskyLower(a, n) {
			invLower(a, n)
			u := make([]float64, n*n)
			for i := range n {
				for j := i; j < n; j++ {
					u[i*n+j] = a[(n-1-i)*n+(n-1-j)]
				}
			}
			return &gptqFactor{n: n, u: u, imp: imp}, nil
		}
		damp *= 10
	}
	return nil, fmt.Errorf("the damped second moments are not positive definite (damping up to %g·mean diag)", damp/10)
}

// choleskyLower factors the symmetric a (n×n) as L·Lᵀ in place (L in the lower triangle, the
// upper one cleared); false when a is not positive definite.
func choleskyLower(a []float64, n int) bool {
	for j := range n {
		rj := a[j*n : j*n+j]
		d := a[j*n+j]
		for _, v := range rj {
			d -= v * v
		}
		if !(d > 0) || math.IsInf(d, 0) {
			return false
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			ri := a[i*n : i*n+j]
			s := a[i*n+j]
			for k, v := range ri {
				s -= v * rj[k]
			}
			a[i*n+j] = s / d
		}
	}
	for i := range n {
		clear(a[i*n+i+1 : (i+1)*n])
	}
	return true
}

// invLower replaces the lower triangular L (n×n, nonzero diagonal) by L⁻¹ in place.
func invLower(a []float64, n int) {
	// Column by column of X = L⁻¹: X_jj = 1/L_jj, X_ij = −(Σ_{j≤k<i} L_ik·X_kj)/L_ii. Row i of
	// X needs rows < i of X and row i of L: go row by row, keeping L's row in a buffer.
	row := make([]float64, n)
	for i := range n {
		copy(row[:i+1], a[i*n:i*n+i+1])
		lii := row[i]
		for j := range i {
			var s float64
			for k := j; k < i; k++ {
				s += row[k] * a[k*n+j]
			}
			a[i*n+j] = -s / lii
		}
		a[i*n+i] = 1 / lii
	}
}

// gptqQ4_0 encodes rows (k whole rows starting at rowStart) of a Q4_0 tensor of layout l into
// payload with GPTQ error feedback.
func (f *gptqFactor) gptqQ4_0(l format.Layout, payload []byte, rowStart int, rows []float32, rule GPTQScale) error {
	n := f.n
	if int(l.Cols) != n || n%bs != 0 || len(rows)%n != 0 {
		return fmt.Errorf("gptq: %d values, %d columns, second moments of dimension %d", len(rows), l.Cols, n)
	}
	nb := n / bs
	var qs [bs / 2]byte
	var ws wsScratch
	sigma2 := make([]float32, len(rows)/n)
	for r := range sigma2 {
		sigma2[r] = rowSigma2(rows[r*n : (r+1)*n])
	}
	scale := func(r, b0 int, cur []float32) (float32, error) {
		var h uint16
		var err error
		if rule == GPTQScaleMax {
			h, err = q4Block(qs[:], cur)
		} else {
			h, err = q4BlockWeighted(qs[:], cur, f.imp[b0:b0+bs], sigma2[r], &ws)
		}
		if err != nil {
			return 0, fmt.Errorf("row %d col %d: %w", rowStart+r, b0, err)
		}
		ro := int64(rowStart + r)
		binary.LittleEndian.PutUint16(payload[l.ScalesOff+2*(ro*int64(nb)+int64(b0/bs)):], h)
		return format.F16ToFloat32(h), nil
	}
	put := func(r, i int, lev int32) {
		b, j := i/bs, i%bs
		c := &payload[l.CodesOff+int64(rowStart+r)*l.RowStride+int64(b*bs/2+j%(bs/2))]
		if j < bs/2 {
			*c = *c&0xF0 | byte(lev+8)
		} else {
			*c = *c&0x0F | byte(lev+8)<<4
		}
	}
	return f.run(rows, rowStart, scale, put)
}

// gptqI4 encodes rows of an I4 tensor (one float32 scale per row, levels −8…7) with GPTQ
// error feedback: each row's scale is chosen once from the row as it is (the weighted search
// of [i4ScaleWeighted], diag(H) as the importance), then the columns are rounded in order on
// that grid with the error moved onto the later columns.
func (f *gptqFactor) gptqI4(l format.Layout, payload []byte, rowStart int, rows []float32) error {
	n := f.n
	if int(l.Cols) != n || len(rows)%n != 0 {
		return fmt.Errorf("gptq: %d values, %d columns, second moments of dimension %d", len(rows), l.Cols, n)
	}
	scales := make([]float32, len(rows)/n)
	for r := range scales {
		x := rows[r*n : (r+1)*n]
		s := float32(1)
		if MaxAbs(x) != 0 {
			s = i4ScaleWeighted(x, f.imp)
		}
		scales[r] = s
		ro := int64(rowStart + r)
		binary.LittleEndian.PutUint32(payload[l.ScalesOff+4*ro:], math.Float32bits(s))
		codes := payload[l.CodesOff+ro*l.RowStride : l.CodesOff+(ro+1)*l.RowStride]
		for i := range codes {
			codes[i] = 8 | 8<<4 // 8 encodes 0; it also pads an odd row
		}
	}
	scale := func(r, _ int, _ []float32) (float32, error) { return scales[r], nil }
	put := func(r, i int, lev int32) {
		c := &payload[l.CodesOff+int64(rowStart+r)*l.RowStride+int64(i/2)]
		if i%2 == 0 {
			*c = *c&0xF0 | byte(lev+8)
		} else {
			*c = *c&0x0F | byte(lev+8)<<4
		}
	}
	return f.run(rows, rowStart, scale, put)
}

// run is GPTQ's sweep over the columns of k rows (n columns each), in blocks of bs columns:
// at the start of each block, scale(r, b0, current values of the block) gives row r's scale for
// the block; each column i is then rounded to the nearest level l ∈ [−8, 7] of that scale
// (put(r, i, l) stores it) and its error moved onto the block's later columns at once and onto
// the columns after the block once per block.
func (f *gptqFactor) run(rows []float32, rowStart int, scale func(r, b0 int, cur []float32) (float32, error), put func(r, i int, lev int32)) error {
	n := f.n
	k := len(rows) / n
	w := make([]float64, len(rows))
	for i, v := range rows {
		w[i] = float64(v)
	}
	errs := make([]float64, k*bs)
	ds := make([]float32, k)
	var cur [bs]float32
	for b0 := 0; b0 < n; b0 += bs {
		b1 := min(b0+bs, n)
		for r := range k {
			c := cur[:b1-b0]
			for j := range c {
				c[j] = float32(w[r*n+b0+j])
			}
			if j := firstNonFinite(c); j >= 0 {
				return fmt.Errorf("gptq: row %d col %d became %v", rowStart+r, b0+j, c[j])
			}
			d, err := scale(r, b0, c)
			if err != nil {
				return err
			}
			ds[r] = d
		}
		for i := b0; i < b1; i++ {
			ui := f.u[i*n : (i+1)*n]
			uii := ui[i]
			for r := range k {
				wr := w[r*n : (r+1)*n]
				d := ds[r]
				lev := levelFor(wr[i], float64(d), -8, 7)
				put(r, i, lev)
				e := (wr[i] - float64(float32(d*float32(lev)))) / uii
				errs[r*bs+i-b0] = e
				if e == 0 {
					continue
				}
				for j := i + 1; j < b1; j++ {
					wr[j] -= e * ui[j]
				}
			}
		}
		if b1 == n {
			break
		}
		for r := range k {
			wr := w[r*n+b1 : (r+1)*n]
			for t, e := range errs[r*bs : r*bs+b1-b0] {
				if e == 0 {
					continue
				}
				ut := f.u[(b0+t)*n+b1 : (b0+t+1)*n]
				for j, v := range ut {
					wr[j] -= e * v
				}
			}
		}
	}
	return nil
}

// gptqErr is tr((W − Ŵ) H (W − Ŵ)ᵀ) in float64 for k rows of n columns (the output error
// the quantization adds, summed over the rows), H dense n×n.
func gptqErr(w, wq []float32, h []float64, n int) float64 {
	var sum float64
	d := make([]float64, n)
	for r := 0; r < len(w)/n; r++ {
		for j := range n {
			d[j] = float64(w[r*n+j]) - float64(wq[r*n+j])
		}
		for i := range n {
			var s float64
			for j := range n {
				s += h[i*n+j] * d[j]
			}
			sum += d[i] * s
		}
	}
	return sum
}

// encodeGPTQStats encodes rows with GPTQ and measures the error as [encodeDecodeStats] does.
func encodeGPTQStats(f *gptqFactor, l format.Layout, payload []byte, rows []float32, rowStart int, opt Options, rule GPTQScale, st *ErrorStats, dec []float32) error {
	cols := int(l.Cols)
	for i := 0; i < len(rows)/max(cols, 1); i++ {
		x := rows[i*cols : (i+1)*cols]
		if j := firstNonFinite(x); j >= 0 {
			return opt.wrap(l.DType, nonFinite(rowStart+i, j, x[j]))
		}
	}
	var err error
	if l.DType == format.I4 {
		err = f.gptqI4(l, payload, rowStart, rows)
	} else {
		err = f.gptqQ4_0(l, payload, rowStart, rows, rule)
	}
	if err != nil {
		return opt.wrap(l.DType, err)
	}
	for i := 0; i < len(rows)/max(cols, 1); i++ {
		format.DecodeRow(dec, l.DType, l, payload, rowStart+i, 1)
		if opt.Importance != nil {
			st.AddWeighted(rows[i*cols:(i+1)*cols], dec, opt.Importance)
		} else {
			st.Add(rows[i*cols:(i+1)*cols], dec)
		}
	}
	return nil
}
