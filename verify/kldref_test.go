package verify

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// randModel gives each position a pseudo-random logits row over v tokens that depends on the
// window's tokens up to that position; noise perturbs it (the "quantized" model). Rows have
// a long flat tail of tied logits, like untrained embedding rows.
type randModel struct {
	v     int
	noise float32
}

func (m randModel) WindowLogits(ids []int32, from int, emit func(int, []float32)) error {
	row := make([]float32, m.v)
	for p := from; p < len(ids)-1; p++ {
		seed := uint64(0)
		for _, x := range ids[:p+1] {
			seed = seed*1000003 + uint64(x)
		}
		base := rand.New(rand.NewPCG(seed, 7))
		pert := rand.New(rand.NewPCG(seed, 8))
		for i := range row {
			z := float32(-12)
			if i < m.v/4 {
				z = float32(base.NormFloat64() * 3)
			}
			row[i] = z + m.noise*float32(pert.NormFloat64())
		}
		emit(p, row)
	}
	return nil
}

func naiveRow(p, q []float32, target int32) TokenKL {
	lse := func(z []float32) (float64, int) {
		arg := 0
		for i := range z {
			if z[i] > z[arg] {
				arg = i
			}
		}
		var s float64
		for _, x := range z {
			s += math.Exp(float64(x) - float64(z[arg]))
		}
		return float64(z[arg]) + math.Log(s), arg
	}
	lp, ap := lse(p)
	lq, aq := lse(q)
	var kl float64
	for i := range p {
		a, b := float64(p[i])-lp, float64(q[i])-lq
		kl += math.Exp(a) * (a - b)
	}
	return TokenKL{KL: kl, DeltaP: math.Exp(float64(q[ap])-lq) - math.Exp(float64(p[ap])-lp),
		NLLRef: lp - float64(p[target]), NLLTest: lq - float64(q[target]), Same: ap == aq}
}

// TestSavedRow checks a truncated row against the full comparison: everything but the KL is
// equal, and the true KL lies within [KL̃, KL̃ + bound].
func TestSavedRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		v    int
		o    RefOptions
	}{
		{"kmax", 4000, RefOptions{TailMass: 1e-9, KMax: 64}},
		{"tail", 4000, RefOptions{TailMass: 1e-3, KMax: 4000}},
		{"all", 300, RefOptions{TailMass: 1e-30, KMax: 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for trial := range 20 {
				p, q := make([]float32, tc.v), make([]float32, tc.v)
				for i := range p {
					p[i] = float32(rng.NormFloat64() * 2)
					if i%3 == 0 {
						p[i] = -8 // ties
					}
					q[i] = p[i] + float32(rng.NormFloat64()*0.3)
				}
				target := int32(rng.IntN(tc.v))
				want := naiveRow(p, q, target)
				var s rowScratch
				full, err := compareRow(RefRow{Logits: p}, q, target, &s)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(full.KL-want.KL) > 1e-12*want.KL || full.DeltaP != want.DeltaP || full.Same != want.Same ||
					full.NLLRef != want.NLLRef || full.NLLTest != want.NLLTest {
					t.Fatalf("trial %d: compareRow = %+v, want %+v", trial, full, want)
				}
				row := truncate(p, target, tc.o, &s)
				if len(row.IDs) > tc.o.KMax || !slices.IsSorted(row.IDs) {
					t.Fatalf("trial %d: %d ids (sorted %v), k_max %d", trial, len(row.IDs), slices.IsSorted(row.IDs), tc.o.KMax)
				}
				if len(row.IDs) < tc.o.KMax && row.Tail > tc.o.TailMass*(1+1e-9) {
					t.Fatalf("trial %d: tail %g with %d ids, want ≤ %g", trial, row.Tail, len(row.IDs), tc.o.TailMass)
				}
				got, err := compareSaved(&row, q, target, &s)
				if err != nil {
					t.Fatal(err)
				}
				if got.DeltaP != want.DeltaP || got.Same != want.Same || got.NLLTest != want.NLLTest ||
					math.Abs(got.NLLRef-want.NLLRef) > 1e-12*math.Abs(want.NLLRef) {
					t.Fatalf("trial %d: compareSaved = %+v, want %+v", trial, got, want)
				}
				tol := 1e-12 * want.KL
				if got.KL > want.KL+tol || want.KL > got.KL+got.Bound+tol {
					t.Fatalf("trial %d: saved KL %.12g + bound %.3g, true KL %.12g: outside [KL̃, KL̃+B]", trial, got.KL, got.Bound, want.KL)
				}
				if tc.name == "all" && (got.Bound != 0 || math.Abs(got.KL-want.KL) > tol) {
					t.Fatalf("trial %d: nothing truncated, but KL %.12g bound %g, want %.12g", trial, got.KL, got.Bound, want.KL)
				}
			}
		})
	}
}

// TestSavedReference writes a saved reference of one model and compares another against it:
// every statistic but the KL equals the full comparison's, the KL within the stated bound.
func TestSavedReference(t *testing.T) {
	ref, test := randModel{v: 2000}, randModel{v: 2000, noise: 0.2}
	text := make([]int32, 300)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range text {
		text[i] = int32(rng.IntN(2000))
	}
	o := PerplexityOptions{Ctx: 40, Stride: 20, Chunks: 8, BOS: 2}
	ws, _ := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	path := filepath.Join(t.TempDir(), "r.kldref")
	w, err := CreateRef(context.Background(), path, RefHeader{Vocab: 2000, Ctx: o.Ctx, Stride: o.Stride, Chunks: o.Chunks, BOS: o.BOS,
		TextTokens: len(text), TextSHA256: TokensSHA256(text), Windows: len(ws), TailMass: 1e-4, KMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := SaveReference(ref, text, o, RefOptions{TailMass: 1e-4, KMax: 100}, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	full, err := KLD(ref, test, text, o)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := OpenRef(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	if g := rr.Options(); g.Ctx != o.Ctx || g.Stride != o.Stride || g.Chunks != o.Chunks || g.BOS != o.BOS {
		t.Errorf("saved options %+v, want %+v", rr.Options(), o)
	}
	saved, err := Compare(rr, test, text, KLDOptions{PerplexityOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(pr.PPL/full.PPLRef-1) > 1e-12 {
		t.Errorf("SaveReference ppl %v, full ref ppl %v", pr.PPL, full.PPLRef)
	}
	f, s := full.KLDStats, saved.KLDStats
	if s.Tokens != f.Tokens || s.SameTop != f.SameTop || s.DeltaPMean != f.DeltaPMean || s.DeltaPRMS != f.DeltaPRMS ||
		math.Abs(s.PPLRef/f.PPLRef-1) > 1e-12 || s.PPLTest != f.PPLTest || math.Abs(s.NLLCorrelation-f.NLLCorrelation) > 1e-12 {
		t.Errorf("saved stats differ beyond KL:\n saved %+v\n full  %+v", s, f)
	}
	if !(s.KLBoundMean > 0) || s.KLDMean > f.KLDMean*(1+1e-12) || f.KLDMean > s.KLDMean+s.KLBoundMean {
		t.Errorf("saved kld_mean %.9g + bound %.3g, full %.9g", s.KLDMean, s.KLBoundMean, f.KLDMean)
	}
	t.Logf("kld full %.6g saved %.6g bound %.3g", f.KLDMean, s.KLDMean, s.KLBoundMean)
	// Another text is refused with an error naming the window.
	rr2, _ := OpenRef(path)
	defer rr2.Close()
	other := slices.Clone(text)
	other[3]++
	if _, err := Compare(rr2, test, other, KLDOptions{PerplexityOptions: o}); err == nil {
		t.Error("a saved reference of another text was accepted")
	}
}

// TestSummarize checks every statistic against a direct two-pass computation.
func TestSummarize(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var toks []TokenKL
	for range 1001 {
		r := 2 + rng.NormFloat64()
		toks = append(toks, TokenKL{KL: rng.ExpFloat64() * 0.01, DeltaP: rng.NormFloat64() * 0.02, NLLRef: r,
			NLLTest: r + 0.05 + rng.NormFloat64()*0.1, Same: rng.IntN(10) > 0})
	}
	st := Summarize(toks)
	n := float64(len(toks))
	mean := func(f func(TokenKL) float64) float64 {
		var s float64
		for _, t := range toks {
			s += f(t)
		}
		return s / n
	}
	cov := func(f, g func(TokenKL) float64) float64 {
		mf, mg := mean(f), mean(g)
		var s float64
		for _, t := range toks {
			s += (f(t) - mf) * (g(t) - mg)
		}
		return s / (n - 1)
	}
	kl := func(t TokenKL) float64 { return t.KL }
	dp := func(t TokenKL) float64 { return t.DeltaP }
	dp2 := func(t TokenKL) float64 { return t.DeltaP * t.DeltaP }
	nr := func(t TokenKL) float64 { return t.NLLRef }
	nt := func(t TokenKL) float64 { return t.NLLTest }
	d := func(t TokenKL) float64 { return t.NLLTest - t.NLLRef }
	same := mean(func(t TokenKL) float64 {
		if t.Same {
			return 1
		}
		return 0
	})
	sorted := make([]float64, len(toks))
	for i, t := range toks {
		sorted[i] = t.KL
	}
	slices.Sort(sorted)
	pr, pt := math.Exp(mean(nr)), math.Exp(mean(nt))
	rms := math.Sqrt(mean(dp2))
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"kld_mean", st.KLDMean, mean(kl)},
		{"kld_stderr", st.KLDStderr, math.Sqrt(cov(kl, kl) / n)},
		{"kld median", st.KLD.P50, sorted[500]},
		{"kld p90", st.KLD.P90, sorted[900]},
		{"kld p99.9", st.KLD.P999, sorted[999]},
		{"kld max", st.KLD.Max, sorted[1000]},
		{"kld min", st.KLD.Min, sorted[0]},
		{"delta_p_mean", st.DeltaPMean, mean(dp)},
		{"delta_p_stderr", st.DeltaPStderr, math.Sqrt(cov(dp, dp) / n)},
		{"delta_p_rms", st.DeltaPRMS, rms},
		{"delta_p_rms_stderr", st.DeltaPRMSStderr, math.Sqrt(cov(dp2, dp2)/n) / (2 * rms)},
		{"same_top", st.SameTop, same},
		{"same_top_stderr", st.SameTopStderr, math.Sqrt(same * (1 - same) / (n - 1))},
		{"ppl_ref", st.PPLRef, pr},
		{"ppl_ref_stderr", st.PPLRefStderr, pr * math.Sqrt(cov(nr, nr)/n)},
		{"ppl_test", st.PPLTest, pt},
		{"ln_ratio_mean", st.LnRatioMean, mean(d)},
		{"ln_ratio_stderr", st.LnRatioStderr, math.Sqrt(cov(d, d) / n)},
		{"ppl_ratio", st.PPLRatio, math.Exp(mean(d))},
		{"ppl_ratio_stderr", st.PPLRatioStderr, math.Exp(mean(d)) * math.Sqrt(cov(d, d)/n)},
		{"ppl_diff", st.PPLDiff, pt - pr},
		{"ppl_diff_stderr", st.PPLDiffStderr, math.Sqrt((pt*pt*cov(nt, nt) + pr*pr*cov(nr, nr) - 2*pt*pr*cov(nr, nt)) / n)},
		{"nll_correlation", st.NLLCorrelation, cov(nr, nt) / math.Sqrt(cov(nr, nr)*cov(nt, nt))},
	} {
		if math.Abs(c.got-c.want) > 1e-11*math.Abs(c.want) {
			t.Errorf("Summarize: %s = %.15g, want %.15g", c.name, c.got, c.want)
		}
	}
}
