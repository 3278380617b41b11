package verify

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// LogitsWindow computes the logits of one window: ids is BOS followed by the window's text
// tokens, evaluated from an empty context; for every position p in [from, len(ids)−1) it calls
// emit(p, logits) in increasing p (logits is only valid during the call).
type LogitsWindow interface {
	WindowLogits(ids []int32, from int, emit func(p int, logits []float32)) error
}

// KLDResult compares a test model's next-token distributions with a reference's over the
// positions that [Perplexity] would score. KL divergences are in nats per token:
// KL(P‖Q) = Σᵢ P(i)·(log P(i) − log Q(i)) with P the reference and Q the test distribution
// (full softmax over every logit). Top1 is the fraction of positions whose most likely token is
// the same. PPLRef and PPLTest are the two perplexities over the same tokens.
type KLDResult struct {
	KLDMean   float64 `json:"kld_mean"`
	KLDStderr float64 `json:"kld_stderr"`
	KLDMedian float64 `json:"kld_median"`
	KLD99     float64 `json:"kld_p99"`
	KLDMax    float64 `json:"kld_max"`
	Top1      float64 `json:"top1_agreement"`
	PPLRef    float64 `json:"ppl_ref"`
	PPLTest   float64 `json:"ppl_test"`
	Tokens    int     `json:"tokens"`
	Seconds   float64 `json:"seconds"`
}

// KLD runs the windows of [Windows] through ref and test and compares their distributions.
func KLD(ref, test LogitsWindow, text []int32, o PerplexityOptions) (*KLDResult, error) {
	ws, err := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	var kl, nllRef, nllTest Moments
	var kls []float64
	agree := 0
	ids := make([]int32, 0, o.Ctx)
	var refRows [][]float32
	var scratch [2][]float32
	for k, w := range ws {
		ids = append(ids[:0], o.BOS)
		ids = append(ids, text[w.Start:w.End]...)
		from := w.ScoreFrom - w.Start
		refRows = refRows[:0]
		// The reference's rows are kept (as log-probabilities) while the test model runs.
		err := ref.WindowLogits(ids, from, func(p int, logits []float32) {
			refRows = append(refRows, slices.Clone(logits))
		})
		if err != nil {
			return nil, fmt.Errorf("verify: kld: reference, window %d: %w", k, err)
		}
		err = test.WindowLogits(ids, from, func(p int, q []float32) {
			r := refRows[p-from]
			if len(r) != len(q) {
				err = fmt.Errorf("verify: kld: %d reference logits, %d test logits", len(r), len(q))
				return
			}
			d, a, lr, lq := klRow(r, q, &scratch)
			kl.Add(d)
			kls = append(kls, d)
			if a {
				agree++
			}
			next := ids[p+1]
			nllRef.Add(lr - float64(r[next]))
			nllTest.Add(lq - float64(q[next]))
		})
		if err != nil {
			return nil, fmt.Errorf("verify: kld: test, window %d: %w", k, err)
		}
		if o.Progress != nil {
			o.Progress(k+1, len(ws))
		}
	}
	if kl.N == 0 {
		return nil, fmt.Errorf("verify: kld: no positions to compare")
	}
	slices.Sort(kls)
	res := &KLDResult{
		KLDMean: kl.Mean(), KLDMedian: kls[len(kls)/2], KLD99: kls[min(len(kls)-1, len(kls)*99/100)], KLDMax: kls[len(kls)-1],
		Top1: float64(agree) / kl.N, PPLRef: math.Exp(nllRef.Mean()), PPLTest: math.Exp(nllTest.Mean()),
		Tokens: int(kl.N), Seconds: time.Since(t0).Seconds(),
	}
	if kl.N > 1 {
		res.KLDStderr = math.Sqrt(kl.Variance() / kl.N)
	}
	return res, nil
}

// klRow returns KL(softmax(p) ‖ softmax(q)) in float64, whether the argmaxes agree, and the
// log-sum-exps of p and q. scratch holds two rows of working space (grown as needed).
func klRow(p, q []float32, scratch *[2][]float32) (kl float64, agree bool, lp, lq float64) {
	for i := range scratch {
		if cap(scratch[i]) < len(p) {
			scratch[i] = make([]float32, len(p))
		}
		scratch[i] = scratch[i][:len(p)]
	}
	sp, sq := scratch[0], scratch[1]
	copy(sp, p)
	copy(sq, q)
	lp, lq = lseInPlace(sp), lseInPlace(sq) // sp, sq now hold the two softmaxes
	var s, c float64
	ap, aq := 0, 0
	for i := range p {
		if p[i] > p[ap] {
			ap = i
		}
		if q[i] > q[aq] {
			aq = i
		}
		if sp[i] == 0 {
			continue
		}
		neumaier(&s, &c, float64(sp[i])*((float64(p[i])-lp)-(float64(q[i])-lq)))
	}
	return max(0, s+c), ap == aq, lp, lq
}
