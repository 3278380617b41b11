// Package verify measures how well a model file reproduces its reference: perplexity over a
// text (this file), and error statistics between tensors.
//
// Perplexity. The text is tokenized once, as one string, without BOS. It is cut into windows of
// at most Ctx tokens: BOS followed by up to Ctx−1 text tokens. Windows start every Stride text
// tokens (default Ctx−1, non-overlapping). In each window the model predicts every text token
// from the tokens before it in the window (the first from BOS alone); only the text tokens that
// no earlier window scored are counted, so with a stride below Ctx−1 the later windows score
// only their tail, which then has at least Ctx−1−Stride tokens of context. Each scored token
// contributes its negative log-likelihood in nats, NLL = log Σ_v exp(z_v) − z_target over the
// full logits row z (every embedding row), computed in float64. The report is
//
//	nll_mean   = (1/n) Σ NLL                          (nats per token)
//	ppl        = exp(nll_mean)
//	ppl_stderr = ppl · s/√n, s² = Σ(NLL − nll_mean)²/(n−1)   (delta method)
//
// Sums are float64 with Neumaier compensation, and partial sums merge.
package verify

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// Window is one perplexity window over the text tokens: text tokens [Start, End) preceded by
// BOS, of which [ScoreFrom, End) are scored.
type Window struct {
	Start, End, ScoreFrom int
}

// Windows plans the perplexity windows over n text tokens: windows of BOS + up to ctx−1
// tokens, starting every stride tokens (stride 0: ctx−1), at most chunks of them (0: all),
// each scoring the tokens no earlier window scored. Windows that would score nothing are
// not produced; the last window ends at the text's end.
func Windows(n, ctx, stride, chunks int) ([]Window, error) {
	if n < 1 {
		return nil, errors.New("verify: perplexity: the text has no tokens")
	}
	if ctx < 2 {
		return nil, fmt.Errorf("verify: perplexity: context %d, want at least 2 (BOS and one token)", ctx)
	}
	if stride == 0 {
		stride = ctx - 1
	}
	if stride < 1 || stride > ctx-1 {
		return nil, fmt.Errorf("verify: perplexity: stride %d, want 1..%d (context − 1)", stride, ctx-1)
	}
	if chunks < 0 {
		return nil, fmt.Errorf("verify: perplexity: chunks %d, want ≥ 0", chunks)
	}
	var ws []Window
	scored := 0
	for start := 0; start < n; start += stride {
		if chunks > 0 && len(ws) == chunks {
			break
		}
		end := min(n, start+ctx-1)
		if from := max(start, scored); from < end {
			ws = append(ws, Window{Start: start, End: end, ScoreFrom: from})
			scored = end
		}
		if end == n {
			break
		}
	}
	return ws, nil
}

// Scorer computes negative log-likelihoods for one window. ids is BOS followed by the window's
// text tokens, evaluated from an empty context; for every position p in [from, len(ids)−1) the
// scorer calls emit(p, −log P(ids[p+1] | ids[:p+1])) in nats, in increasing p.
type Scorer interface {
	ScoreWindow(ids []int32, from int, emit func(p int, nll float64)) error
}

// PerplexityOptions configures [Perplexity].
type PerplexityOptions struct {
	Ctx    int   // window size including BOS (required)
	Stride int   // text tokens between window starts (0: Ctx−1)
	Chunks int   // stop after this many windows (0: all)
	BOS    int32 // the id put in front of every window
	// Progress, when set, is called after each window with the windows done and planned.
	Progress func(done, total int)
	// Running, when set, is called after each window of [Perplexity] with the result so far
	// (as llama-perplexity prints its running estimate).
	Running func(done, total int, sofar *PerplexityResult)
	// Stop, when set and closed, ends [Perplexity] after the current window: the result then
	// covers the windows done and has Interrupted set.
	Stop <-chan struct{}
}

// PerplexityResult is the outcome of [Perplexity]. The JSON names are those of
// `gemmatool verify perplexity --json`.
type PerplexityResult struct {
	PPL       float64 `json:"ppl"`
	PPLStderr float64 `json:"ppl_stderr"`
	NLLMean   float64 `json:"nll_mean"`
	// Tokens is the number of scored tokens.
	Tokens int `json:"tokens"`
	// TokS is the evaluated tokens per second: every position the model ran over (BOS
	// included), divided by the wall time.
	TokS float64 `json:"tok_s"`

	// Interrupted is set when [PerplexityOptions.Stop] ended the run early.
	Interrupted bool `json:"interrupted,omitempty"`

	Windows   int           `json:"-"`
	Evaluated int           `json:"-"` // positions run through the model
	Elapsed   time.Duration `json:"-"`
}

// Perplexity runs the windows of [Windows] over the text tokens with s and reports the
// perplexity of the scored tokens.
func Perplexity(s Scorer, text []int32, o PerplexityOptions) (*PerplexityResult, error) {
	ws, err := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	var acc Moments
	res := &PerplexityResult{}
	ids := make([]int32, 0, o.Ctx)
	for k, w := range ws {
		ids = append(ids[:0], o.BOS)
		ids = append(ids, text[w.Start:w.End]...)
		from := w.ScoreFrom - w.Start // logits position predicting text[ScoreFrom]
		want := from
		var bad error
		err := s.ScoreWindow(ids, from, func(p int, nll float64) {
			if p != want && bad == nil {
				bad = fmt.Errorf("verify: perplexity: scorer emitted position %d, want %d", p, want)
			}
			want++
			if math.IsNaN(nll) || math.IsInf(nll, 0) {
				if bad == nil {
					bad = fmt.Errorf("verify: perplexity: window %d: non-finite NLL %v at position %d", k, nll, p)
				}
				return
			}
			acc.Add(nll)
		})
		if err != nil {
			return nil, fmt.Errorf("verify: perplexity: window %d: %w", k, err)
		}
		if bad != nil {
			return nil, bad
		}
		if want != len(ids)-1 {
			return nil, fmt.Errorf("verify: perplexity: window %d: scorer emitted up to position %d, want %d", k, want, len(ids)-1)
		}
		res.Evaluated += len(ids)
		res.Windows = k + 1
		if o.Progress != nil {
			o.Progress(k+1, len(ws))
		}
		if o.Running != nil {
			res.finish(&acc, t0)
			o.Running(k+1, len(ws), res)
		}
		if o.Stop != nil && k+1 < len(ws) {
			select {
			case <-o.Stop:
				res.Interrupted = true
			default:
			}
			if res.Interrupted {
				break
			}
		}
	}
	res.finish(&acc, t0)
	return res, nil
}

// finish sets the figures of r from the accumulated NLLs.
func (r *PerplexityResult) finish(acc *Moments, t0 time.Time) {
	r.Elapsed = time.Since(t0)
	r.Tokens = int(acc.N)
	r.NLLMean = acc.Mean()
	r.PPL = math.Exp(r.NLLMean)
	r.PPLStderr = 0
	if acc.N > 1 {
		r.PPLStderr = r.PPL * math.Sqrt(acc.Variance()/acc.N)
	}
	if sec := r.Elapsed.Seconds(); sec > 0 {
		r.TokS = float64(r.Evaluated) / sec
	}
}

// Moments accumulates the count, sum and sum of squares of a series in float64 with
// Neumaier-compensated summation. The zero value is empty; partial results [Moments.Merge].
type Moments struct {
	N         float64
	sum, sum2 kernel.Sum
}

// neumaier is one step of the compensated sum (kernel.Neumaier).
func neumaier(sum, c *float64, x float64) { kernel.Neumaier(sum, c, x) }

// Add adds one value.
func (m *Moments) Add(x float64) {
	m.N++
	m.sum.Add(x)
	m.sum2.Add(x * x)
}

// Merge adds the values accumulated in o.
func (m *Moments) Merge(o Moments) {
	m.N += o.N
	m.sum.Merge(o.sum)
	m.sum2.Merge(o.sum2)
}

// Sum returns the compensated sum.
func (m *Moments) Sum() float64 { return m.sum.Value() }

// Mean returns the mean (NaN when empty).
func (m *Moments) Mean() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return m.Sum() / m.N
}

// Variance returns the sample variance Σ(x − mean)²/(N−1) (0 for fewer than two values).
func (m *Moments) Variance() float64 {
	if m.N < 2 {
		return 0
	}
	mean := m.Mean()
	v := (m.sum2.Value() - m.N*mean*mean) / (m.N - 1)
	return max(v, 0)
}
