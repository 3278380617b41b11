package verify

import (
	"math"
	"slices"
)

// TokenKL is the comparison of the two models at one scored position. P is the reference's
// next-token distribution and Q the test model's, both the full softmax over every logit.
type TokenKL struct {
	// KL is KL(P‖Q) = Σᵢ P(i)·log(P(i)/Q(i)) in nats.
	KL float64 `json:"kl"`
	// DeltaP is Q(t) − P(t) for the reference's most likely token t (a probability).
	DeltaP float64 `json:"delta_p"`
	// NLLRef and NLLTest are −log P(next) and −log Q(next) of the actual next token, in nats.
	NLLRef  float64 `json:"nll_ref"`
	NLLTest float64 `json:"nll_test"`
	// Same is true when both models' most likely tokens are the same.
	Same bool `json:"same_top"`
	// Bound is an upper bound on the error of KL when the reference is a saved (truncated)
	// one: the true KL lies in [KL, KL+Bound]. It is 0 for a full reference.
	Bound float64 `json:"kl_bound,omitempty"`
}

// Quantiles are order statistics of a per-token series. A quantile q is read off the sorted
// values x₀ ≤ … ≤ x_{n−1} by linear interpolation at rank q·(n−1) (so P50 is the median of an
// even count's two middle values).
type Quantiles struct {
	Min  float64 `json:"min"`
	P01  float64 `json:"p01"`
	P05  float64 `json:"p05"`
	P10  float64 `json:"p10"`
	P50  float64 `json:"median"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// KLDStats are the statistics llama-perplexity --kl-divergence prints, over n scored tokens
// with per-token values from [TokenKL]. Standard errors are of the mean: s/√n with the sample
// standard deviation s (divisor n−1). Units: KL and log-ratios in nats per token, Δp in
// probability (not percent), fractions in [0, 1].
//
//	kld_mean ± kld_stderr         mean KL(P‖Q)
//	kld                            quantiles of the per-token KL
//	delta_p_mean ± stderr          mean of Δp = Q(t) − P(t), t = argmax P
//	delta_p_rms ± stderr           √(mean Δp²); stderr by the delta method: s(Δp²)/(√n·2·rms)
//	delta_p                        quantiles of Δp
//	same_top ± stderr              fraction with argmax P = argmax Q; stderr √(f(1−f)/(n−1))
//	ppl_ref ± stderr, ppl_test     exp(mean NLL); stderr ppl·s(NLL)/√n
//	ln_ratio_mean ± stderr         mean of NLL_test − NLL_ref = ln(PPL_test/PPL_ref)
//	ppl_ratio ± stderr             exp(ln_ratio_mean); stderr ppl_ratio·stderr(ln ratio)
//	ppl_diff ± stderr              PPL_test − PPL_ref; stderr by the delta method with the
//	                               covariance of the two NLL means
//	nll_correlation                Pearson correlation of NLL_ref and NLL_test per token
//	kl_bound_mean                  mean of the per-token bounds (saved references only): the
//	                               true kld_mean lies in [kld_mean, kld_mean + kl_bound_mean]
type KLDStats struct {
	Tokens          int       `json:"tokens"`
	KLDMean         float64   `json:"kld_mean"`
	KLDStderr       float64   `json:"kld_stderr"`
	KLD             Quantiles `json:"kld"`
	DeltaPMean      float64   `json:"delta_p_mean"`
	DeltaPStderr    float64   `json:"delta_p_stderr"`
	DeltaPRMS       float64   `json:"delta_p_rms"`
	DeltaPRMSStderr float64   `json:"delta_p_rms_stderr"`
	DeltaP          Quantiles `json:"delta_p"`
	SameTop         float64   `json:"same_top"`
	SameTopStderr   float64   `json:"same_top_stderr"`
	PPLRef          float64   `json:"ppl_ref"`
	PPLRefStderr    float64   `json:"ppl_ref_stderr"`
	PPLTest         float64   `json:"ppl_test"`
	PPLTestStderr   float64   `json:"ppl_test_stderr"`
	LnRatioMean     float64   `json:"ln_ratio_mean"`
	LnRatioStderr   float64   `json:"ln_ratio_stderr"`
	PPLRatio        float64   `json:"ppl_ratio"`
	PPLRatioStderr  float64   `json:"ppl_ratio_stderr"`
	PPLDiff         float64   `json:"ppl_diff"`
	PPLDiffStderr   float64   `json:"ppl_diff_stderr"`
	NLLCorrelation  float64   `json:"nll_correlation"`
	KLBoundMean     float64   `json:"kl_bound_mean,omitempty"`
}

// series is a per-token float64 series with two-pass compensated statistics.
type series []float64

func (s series) sum() float64 {
	var t, c float64
	for _, x := range s {
		neumaier(&t, &c, x)
	}
	return t + c
}

func (s series) mean() float64 { return s.sum() / float64(len(s)) }

// centered returns Σ(x − a)(y − b) compensated, for y = s when other is nil.
func (s series) comoment(a float64, o series, b float64) float64 {
	var t, c float64
	for i, x := range s {
		neumaier(&t, &c, (x-a)*(o[i]-b))
	}
	return t + c
}

// stderr returns s/√n of the series with mean m (0 for fewer than two values).
func (s series) stderr(m float64) float64 {
	n := float64(len(s))
	if n < 2 {
		return 0
	}
	return math.Sqrt(s.comoment(m, s, m) / (n - 1) / n)
}

func quantiles(s series) Quantiles {
	x := slices.Clone(s)
	slices.Sort(x)
	at := func(q float64) float64 {
		r := q * float64(len(x)-1)
		i := int(r)
		if i >= len(x)-1 {
			return x[len(x)-1]
		}
		f := r - float64(i)
		return x[i] + f*(x[i+1]-x[i])
	}
	return Quantiles{Min: x[0], P01: at(0.01), P05: at(0.05), P10: at(0.10), P50: at(0.5), P90: at(0.9),
		P95: at(0.95), P99: at(0.99), P999: at(0.999), Max: x[len(x)-1]}
}

// Summarize computes [KLDStats] over per-token comparisons (nil for none). Quantiles sort
// copies; toks is not modified.
func Summarize(toks []TokenKL) *KLDStats {
	n := len(toks)
	if n == 0 {
		return nil
	}
	kl, dp, dp2, nr, nt, diff := make(series, n), make(series, n), make(series, n), make(series, n), make(series, n), make(series, n)
	same, bound := 0, make(series, n)
	for i, t := range toks {
		kl[i], dp[i], dp2[i], nr[i], nt[i], diff[i] = t.KL, t.DeltaP, t.DeltaP*t.DeltaP, t.NLLRef, t.NLLTest, t.NLLTest-t.NLLRef
		bound[i] = t.Bound
		if t.Same {
			same++
		}
	}
	fn := float64(n)
	st := &KLDStats{Tokens: n}
	st.KLDMean = kl.mean()
	st.KLDStderr = kl.stderr(st.KLDMean)
	st.KLD = quantiles(kl)
	st.DeltaPMean = dp.mean()
	st.DeltaPStderr = dp.stderr(st.DeltaPMean)
	st.DeltaP = quantiles(dp)
	m2 := dp2.mean()
	st.DeltaPRMS = math.Sqrt(m2)
	if st.DeltaPRMS > 0 {
		st.DeltaPRMSStderr = dp2.stderr(m2) / (2 * st.DeltaPRMS)
	}
	st.SameTop = float64(same) / fn
	if n > 1 {
		st.SameTopStderr = math.Sqrt(st.SameTop * (1 - st.SameTop) / (fn - 1))
	}
	mr, mt := nr.mean(), nt.mean()
	st.PPLRef, st.PPLTest = math.Exp(mr), math.Exp(mt)
	st.PPLRefStderr, st.PPLTestStderr = st.PPLRef*nr.stderr(mr), st.PPLTest*nt.stderr(mt)
	st.LnRatioMean = diff.mean()
	st.LnRatioStderr = diff.stderr(st.LnRatioMean)
	st.PPLRatio = math.Exp(st.LnRatioMean)
	st.PPLRatioStderr = st.PPLRatio * st.LnRatioStderr
	st.PPLDiff = st.PPLTest - st.PPLRef
	vr, vt, cov := nr.comoment(mr, nr, mr), nt.comoment(mt, nt, mt), nr.comoment(mr, nt, mt)
	if n > 1 {
		d := fn * (fn - 1) // variance of a mean: Σ(x−x̄)²/((n−1)·n)
		v := st.PPLTest*st.PPLTest*vt/d + st.PPLRef*st.PPLRef*vr/d - 2*st.PPLTest*st.PPLRef*cov/d
		st.PPLDiffStderr = math.Sqrt(max(v, 0))
	}
	if vr > 0 && vt > 0 {
		st.NLLCorrelation = cov / math.Sqrt(vr*vt)
	}
	st.KLBoundMean = bound.mean()
	return st
}

// HistBin is one bin of a histogram: Count values in [Lo, Hi).
type HistBin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int     `json:"count"`
}

// klHistogram bins per-token KL values on a log scale, 4 bins per decade from 1e-8 to 1e2
// nats; values below 1e-8 (including 0 and rounding noise below it) go to the first bin,
// values from 1e2 on to the last.
func klHistogram(toks []TokenKL) []HistBin {
	const lo, perDecade, decades = -8, 4, 10
	bins := make([]HistBin, perDecade*decades)
	for i := range bins {
		bins[i].Lo = math.Pow(10, lo+float64(i)/perDecade)
		bins[i].Hi = math.Pow(10, lo+float64(i+1)/perDecade)
	}
	bins[0].Lo = 0
	for _, t := range toks {
		i := 0
		if t.KL > 0 {
			i = int(math.Floor((math.Log10(t.KL) - lo) * perDecade))
		}
		bins[min(max(i, 0), len(bins)-1)].Count++
	}
	return bins
}
