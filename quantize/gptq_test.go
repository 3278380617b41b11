package quantize

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// syntheticMoments returns E[x xᵀ] (dense and as [Moments]) of T tokens of n correlated
// channels: x = z·M for Gaussian z and a random mixing M whose columns have scales spread
// over 2⁻³…2³, a few of them 32× larger (outlier channels), so H has large off-diagonal terms.
func syntheticMoments(rng *rand.Rand, n, T int) ([]float64, *Moments) {
	mix := make([]float64, n*n)
	for i := range n {
		for j := range n {
			mix[i*n+j] = rng.NormFloat64()
			if i == j {
				mix[i*n+j] += 3
			}
		}
	}
	scale := make([]float64, n)
	for j := range n {
		scale[j] = math.Exp2(6*rng.Float64() - 3)
		if j%37 == 5 {
			scale[j] *= 32
		}
	}
	h := make([]float64, n*n)
	z, x := make([]float64, n), make([]float64, n)
	for range T {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for j := range n {
			var s float64
			for i := range n {
				s += z[i] * mix[i*n+j]
			}
			x[j] = s * scale[j]
		}
		for i := range n {
			for j := range n {
				h[i*n+j] += x[i] * x[j] / float64(T)
			}
		}
	}
	g := &Moments{Tensors: []string{"w"}, Count: int64(T), Dim: n, Upper: make([]float32, upperLen(n))}
	for i := range n {
		for j := i; j < n; j++ {
			g.Upper[upperAt(n, i, j)] = float32(h[i*n+j])
		}
	}
	return g.Dense(), g
}

// TestGPTQFactor: U is the upper Cholesky factor of the damped H's inverse, Uᵀ·U·(H + λI) = I.
func TestGPTQFactor(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64
	h, g := syntheticMoments(rng, n, 400)
	f, err := newGPTQFactor(g, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for i := range n {
		mean += h[i*n+i] / n
	}
	for i := range n {
		h[i*n+i] += 0.01 * mean
		for j := range i {
			if f.u[i*n+j] != 0 {
				t.Fatalf("U[%d][%d] = %v below the diagonal", i, j, f.u[i*n+j])
			}
		}
	}
	var worst float64
	for i := range n {
		for j := range n {
			var s float64 // (Uᵀ U H)_ij
			for k := range n {
				var uu float64
				for m := range min(i, k) + 1 {
					uu += f.u[m*n+i] * f.u[m*n+k]
				}
				s += uu * h[k*n+j]
			}
			if i == j {
				s--
			}
			worst = max(worst, math.Abs(s))
		}
	}
	if worst > 1e-8 {
		t.Errorf("Uᵀ·U·H is off the identity by %g", worst)
	}
	// Moments that are all zero have nothing to weigh; a negative definite one fails clearly.
	if _, err := newGPTQFactor(&Moments{Dim: 2, Upper: make([]float32, 3)}, 0.01); err != errNoActivity {
		t.Errorf("zero moments: %v", err)
	}
	if _, err := newGPTQFactor(&Moments{Dim: 2, Upper: []float32{1, 50, 1}}, 0.01); err == nil || !strings.Contains(err.Error(), "positive definite") {
		t.Errorf("indefinite moments: %v", err)
	}
}

// gptqCase returns a synthetic H (dense, and as moments) of n channels from T tokens, a
// rows×n weight, diag(H) as importance and a decoder of payloads of type ty.
func gptqCase(seed uint64, rows, n, T int, ty format.DType) ([]float64, *Moments, []float32, []float32, func([]byte) []float32) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	h, g := syntheticMoments(rng, n, T)
	w := make([]float32, rows*n)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	imp := make([]float32, n)
	for i := range n {
		imp[i] = float32(h[i*n+i])
	}
	l, _ := format.LayoutOf(ty, []int64{int64(rows), int64(n)})
	decode := func(p []byte) []float32 {
		out := make([]float32, rows*n)
		for r := range rows {
			format.DecodeRow(out[r*n:(r+1)*n], ty, l, p, r, 1)
		}
		return out
	}
	return h, g, w, imp, decode
}

// encodeDecode returns w encoded as ty with opt and decoded.
func encodeDecode(t *testing.T, ty format.DType, shape []int64, w []float32, opt Options) []float32 {
	t.Helper()
	p, _, err := Encode(ty, shape, w, opt)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := format.LayoutOf(ty, shape)
	out := make([]float32, len(w))
	n := int(shape[1])
	for r := range int(shape[0]) {
		format.DecodeRow(out[r*n:(r+1)*n], ty, l, p, r, 1)
	}
	return out
}

// TestGPTQOutputError: on a matrix whose input has a known correlated covariance H, GPTQ's
// Q4_0 gives a smaller output error tr((W − Ŵ) H (W − Ŵ)ᵀ) than round-to-nearest and than the
// diagonal importance-weighted search, and its bytes are plain Q4_0 (decoded by the reference
// decoder, every code a nibble, every scale finite).
func TestGPTQOutputError(t *testing.T) {
	const rows, n = 24, 128
	h, g, w, imp, decode := gptqCase(5, rows, n, 1000, format.Q4_0)
	shape := []int64{rows, n}
	eRTN := gptqErr(w, encodeDecode(t, format.Q4_0, shape, w, Options{}), h, n)
	eDiag := gptqErr(w, encodeDecode(t, format.Q4_0, shape, w, Options{Importance: imp}), h, n)
	f, err := newGPTQFactor(g, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := format.LayoutOf(format.Q4_0, shape)
	for _, rule := range []GPTQScale{GPTQScaleSearch, GPTQScaleMax} {
		name := map[GPTQScale]string{GPTQScaleSearch: "search", GPTQScaleMax: "max"}[rule]
		p := make([]byte, l.Size)
		// Two pieces of rows, as the pipeline cuts a tensor: rows are independent.
		if err := f.gptqQ4_0(l, p, 0, w[:10*n], rule); err != nil {
			t.Fatal(err)
		}
		if err := f.gptqQ4_0(l, p, 10, w[10*n:], rule); err != nil {
			t.Fatal(err)
		}
		whole := make([]byte, l.Size)
		if err := f.gptqQ4_0(l, whole, 0, w, rule); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, whole) {
			t.Errorf("%s: the bytes depend on how the rows are split", name)
		}
		for b := range rows * n / bs {
			d := format.F16ToFloat32(binary.LittleEndian.Uint16(p[l.ScalesOff+2*int64(b):]))
			if math.IsNaN(float64(d)) || math.IsInf(float64(d), 0) {
				t.Fatalf("%s: block %d scale %v", name, b, d)
			}
		}
		eG := gptqErr(w, decode(p), h, n)
		t.Logf("%s: output error GPTQ %.4g, round-to-nearest %.4g, diagonal search %.4g", name, eG, eRTN, eDiag)
		// max/−8 keeps round-to-nearest's coarse grid on the heavy columns, which error
		// feedback cannot undo: only the search rule must beat the diagonal search too.
		if !(eG < 0.7*eRTN) || rule == GPTQScaleSearch && !(eG < 0.8*eDiag) {
			t.Errorf("%s: output error GPTQ %.4g, round-to-nearest %.4g, diagonal search %.4g", name, eG, eRTN, eDiag)
		}
	}
}

// TestGPTQI4: the same for I4 (one scale per row, chosen before the sweep): GPTQ's output
// error is below the plain and the diagonal-weighted encoders'.
func TestGPTQI4(t *testing.T) {
	const rows, n = 16, 96
	h, g, w, imp, decode := gptqCase(7, rows, n, 800, format.I4)
	shape := []int64{rows, n}
	l, _ := format.LayoutOf(format.I4, shape)
	f, err := newGPTQFactor(g, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, l.Size)
	if err := f.gptqI4(l, p, 0, w); err != nil {
		t.Fatal(err)
	}
	eP := gptqErr(w, encodeDecode(t, format.I4, shape, w, Options{}), h, n)
	eD := gptqErr(w, encodeDecode(t, format.I4, shape, w, Options{Importance: imp}), h, n)
	eG := gptqErr(w, decode(p), h, n)
	t.Logf("output error GPTQ %.4g, plain %.4g, diagonal search %.4g", eG, eP, eD)
	if !(eG < 0.7*eP) || !(eG < 0.8*eD) {
		t.Errorf("output error GPTQ %.4g, plain %.4g, diagonal search %.4g", eG, eP, eD)
	}
}

// TestMomentsFileErrors: version 2 files round-trip; oversized, inconsistent or damaged moment
// groups fail with an error naming the problem, before any allocation they size.
func TestMomentsFileErrors(t *testing.T) {
	im := &Imatrix{Chunks: 1, ChunkSize: 8, Entries: map[string]*ImatrixEntry{
		"text.blk.0.attn_q": {SumSq: []float64{1, 2, 3}, Count: 5},
		"text.blk.0.attn_k": {SumSq: []float64{1, 2, 3}, Count: 5},
	}, Moments: []*Moments{{Tensors: []string{"text.blk.0.attn_q", "text.blk.0.attn_k"}, Count: 5, Dim: 3,
		Upper: []float32{0.2, 0.1, 0, 0.4, -0.1, 0.6}}}}
	b, err := im.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != 2 {
		t.Fatalf("version %d written with moments, want 2", v)
	}
	back, err := UnmarshalImatrix(b)
	if err != nil || back.SecondMoments("text.blk.0.attn_k") == nil || back.SecondMoments("text.blk.0.attn_k").Dense()[1*3+2] != float64(float32(-0.1)) {
		t.Fatalf("round trip: %v", err)
	}
	// Without moments the file is version 1, as earlier builds wrote it.
	plain := &Imatrix{Entries: im.Entries}
	if p, _ := plain.MarshalBinary(); binary.LittleEndian.Uint32(p[8:]) != 1 {
		t.Fatal("a file without moments is not version 1")
	}
	body := b[:len(b)-4]
	dimAt := len(body) - 4*6 - 4
	patch := func(f func(c []byte)) error {
		c := bytes.Clone(body)
		f(c)
		_, err := UnmarshalImatrix(binary.LittleEndian.AppendUint32(c, crcOf(c)))
		return err
	}
	for _, c := range []struct {
		name, want string
		f          func(c []byte)
	}{
		{"huge dimension", "dimension", func(c []byte) { binary.LittleEndian.PutUint32(c[dimAt:], 1<<30) }},
		{"dimension over the cap", "dimension 8193", func(c []byte) { binary.LittleEndian.PutUint32(c[dimAt:], MaxMomentDim+1) }},
		{"dimension unlike the entry", "columns", func(c []byte) { binary.LittleEndian.PutUint32(c[dimAt:], 2) }},
		{"NaN", "NaN", func(c []byte) { binary.LittleEndian.PutUint32(c[dimAt+8:], 0x7fc00000) }},
		{"negative diagonal", "negative", func(c []byte) { binary.LittleEndian.PutUint32(c[dimAt+4:], math.Float32bits(-1)) }},
		// The group section: count (4), tensor count (2), two names (2+17 each), token count
		// (8), dimension (4), six values (24).
		{"huge group count", "moment groups", func(c []byte) { binary.LittleEndian.PutUint32(c[len(c)-80:], 1<<20) }},
		{"no tensors", "names 0 tensors", func(c []byte) { binary.LittleEndian.PutUint16(c[len(c)-76:], 0) }},
		{"tensor twice", "already in another group", func(c []byte) { copy(c[len(c)-53:], "text.blk.0.attn_q") }},
	} {
		if err := patch(c.f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	for cut := len(body) - 40; cut < len(b); cut += 3 {
		c := bytes.Clone(b[:cut])
		if cut >= 4 {
			c = binary.LittleEndian.AppendUint32(c[:cut-4], crcOf(c[:cut-4]))
		}
		if _, err := UnmarshalImatrix(c); err == nil && cut != len(b) {
			t.Fatalf("truncated to %d bytes: no error", cut)
		}
	}
	// The writer refuses what the reader would.
	im.Moments[0].Dim = MaxMomentDim + 1
	if _, err := im.MarshalBinary(); err == nil {
		t.Error("a moment group over the cap was written")
	}
}

// FuzzUnmarshalImatrix reads arbitrary bytes (with a valid CRC appended, so the parser itself
// is exercised) as an imatrix file: an error or an imatrix that writes back to the same bytes.
func FuzzUnmarshalImatrix(f *testing.F) {
	im := &Imatrix{Chunks: 1, ChunkSize: 8, Datasets: []string{"c"}, Entries: map[string]*ImatrixEntry{
		"a": {SumSq: []float64{1, 2}, Count: 3},
	}, Moments: []*Moments{{Tensors: []string{"a"}, Count: 3, Dim: 2, Upper: []float32{1, 0.5, 2}}}}
	b, _ := im.MarshalBinary()
	f.Add(b[:len(b)-4])
	im.Moments = nil
	b, _ = im.MarshalBinary()
	f.Add(b[:len(b)-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		c := binary.LittleEndian.AppendUint32(bytes.Clone(body), crcOf(body))
		m, err := UnmarshalImatrix(c)
		if err != nil {
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("read back but not written: %v", err)
		}
		if !bytes.Equal(out, c) {
			t.Fatalf("written back differently")
		}
	})
}

// TestSmoothMoments: smoothing divides input channel c by s_c = 2^k_c, so the transformed
// second moments are E[x_a·x_b]/(s_a·s_b), for the q/k/v input and for o's (whose columns take
// the exponents of the v rows of their KV group).
func TestSmoothMoments(t *testing.T) {
	const hd = 2 // 2 query heads, 1 KV head, head dimension 2: o reads 4 columns
	p := &SmoothPlan{HeadDim: hd, Heads: 2, KVHeads: 1, Layers: []SmoothLayer{{Attn: []int8{1, -2, 0}, V: []int8{3, -1}}}}
	up := func(n int) []float32 {
		u := make([]float32, upperLen(n))
		for i := range u {
			u[i] = float32(i + 1)
		}
		return u
	}
	im := &Imatrix{Entries: map[string]*ImatrixEntry{}, Moments: []*Moments{
		{Tensors: []string{"text.blk.0.attn_q", "text.blk.0.attn_k", "text.blk.0.attn_v"}, Count: 1, Dim: 3, Upper: up(3)},
		{Tensors: []string{"text.blk.0.attn_o"}, Count: 1, Dim: 4, Upper: up(4)},
		{Tensors: []string{"text.blk.0.ffn_gate", "text.blk.0.ffn_up"}, Count: 1, Dim: 2, Upper: up(2)},
	}}
	out := p.Imatrix(im)
	for gi, k := range [][]int{{1, -2, 0}, {3, -1, 3, -1}, {0, 0}} {
		g, o := im.Moments[gi], out.Moments[gi]
		for a := range g.Dim {
			for b := a; b < g.Dim; b++ {
				want := float32(math.Ldexp(float64(g.Upper[upperAt(g.Dim, a, b)]), -k[a]-k[b]))
				if got := o.Upper[upperAt(g.Dim, a, b)]; got != want {
					t.Errorf("group %d (%d, %d): %v, want %v", gi, a, b, got, want)
				}
			}
		}
	}
	if im.Moments[0].Upper[0] != 1 {
		t.Error("the input imatrix was changed")
	}
}
