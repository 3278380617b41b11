package verify

import (
	"fmt"
	"math"
	"time"

	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// LogitsWindow computes the logits of one window: ids is BOS followed by the window's text
// tokens, evaluated from an empty context; for every position p in [from, len(ids)−1) it calls
// emit(p, logits) in increasing p (logits is only valid during the call).
type LogitsWindow interface {
	WindowLogits(ids []int32, from int, emit func(p int, logits []float32)) error
}

// BlockLogits is implemented by a [LogitsWindow] that produces its rows in blocks: fn(p,
// logits, n) gets the n rows of positions p … p+n−1, back to back. [Compare] then compares
// the rows of a block in parallel.
type BlockLogits interface {
	WindowLogitBlocks(ids []int32, from int, fn func(p int, logits []float32, n int)) error
}

// Reference gives the reference's distributions of one window: emit(p, row) for every
// position p in [from, len(ids)−1), in increasing p. row is valid until the next window.
// [FullReference] wraps a model; [RefReader] reads a saved reference.
type Reference interface {
	ReferenceWindow(k int, ids []int32, from int, emit func(p int, row RefRow)) error
}

// RefRow is the reference's distribution at one position: the full logits, or the
// truncated row of a saved reference.
type RefRow struct {
	Logits []float32 // every logit; nil for a saved row
	Saved  *SavedRow
}

// FullReference is the [Reference] of a model: the window's rows are copied (ctx × vocabulary
// floats) while the test model runs.
type FullReference struct {
	M    LogitsWindow
	rows [][]float32
}

// ReferenceWindow implements [Reference].
func (f *FullReference) ReferenceWindow(_ int, ids []int32, from int, emit func(int, RefRow)) error {
	i := 0
	var rows [][]float32
	err := f.M.WindowLogits(ids, from, func(p int, logits []float32) {
		if i == len(f.rows) {
			f.rows = append(f.rows, make([]float32, len(logits)))
		}
		f.rows[i] = append(f.rows[i][:0], logits...)
		rows = append(rows, f.rows[i])
		i++
	})
	if err != nil {
		return err
	}
	for j, r := range rows {
		emit(from+j, RefRow{Logits: r})
	}
	return nil
}

// WindowReport is the running state after one window, as llama-perplexity prints it per
// chunk: the window's own perplexities and mean KL, and the running means over every token so
// far.
type WindowReport struct {
	Index   int     `json:"window"`
	Tokens  int     `json:"tokens"`
	PPLRef  float64 `json:"ppl_ref"`
	PPLTest float64 `json:"ppl_test"`
	KLDMean float64 `json:"kld_mean"`
	// Running values over all tokens scored so far.
	RunPPLTest   float64 `json:"run_ppl_test"`
	RunLnRatio   float64 `json:"run_ln_ratio"`
	RunKLDMean   float64 `json:"run_kld_mean"`
	RunKLDStderr float64 `json:"run_kld_stderr"`
	RunDeltaPRMS float64 `json:"run_delta_p_rms"`
	RunSameTop   float64 `json:"run_same_top"`
}

// KLDOptions configures [Compare].
type KLDOptions struct {
	PerplexityOptions
	// Window, when set, is called after each window.
	Window func(WindowReport)
	// Exec gives the threads that compare rows (the zero value: all cores).
	Exec kernel.Exec
}

// KLDResult is the outcome of [Compare]: the statistics, one report per window, and every
// scored token's comparison (for histograms; not in the JSON).
type KLDResult struct {
	KLDStats
	Windows []WindowReport `json:"windows"`
	// Histogram bins the per-token KL (see klHistogram).
	Histogram []HistBin `json:"histogram"`
	Seconds   float64   `json:"seconds"`
	Per       []TokenKL `json:"-"`
}

// KLD compares test against the reference model ref over the windows of [Windows] (the
// convenience form of [Compare] with a [FullReference]).
func KLD(ref, test LogitsWindow, text []int32, o PerplexityOptions) (*KLDResult, error) {
	return Compare(&FullReference{M: ref}, test, text, KLDOptions{PerplexityOptions: o})
}

// Compare runs the windows of [Windows] through ref and test and compares their next-token
// distributions at every scored position (see [TokenKL] and [KLDStats]).
func Compare(ref Reference, test LogitsWindow, text []int32, o KLDOptions) (*KLDResult, error) {
	ws, err := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	res := &KLDResult{}
	var run struct{ kl, nllT, diff, dp2 Moments }
	same := 0
	ids := make([]int32, 0, o.Ctx)
	var refRows []RefRow
	scr := newScratchPool()
	for k, w := range ws {
		ids = append(ids[:0], o.BOS)
		ids = append(ids, text[w.Start:w.End]...)
		from := w.ScoreFrom - w.Start
		refRows = refRows[:0]
		err := ref.ReferenceWindow(k, ids, from, func(p int, r RefRow) {
			refRows = append(refRows, r)
		})
		if err != nil {
			return nil, fmt.Errorf("verify: kld: reference, window %d: %w", k, err)
		}
		if len(refRows) != len(ids)-1-from {
			return nil, fmt.Errorf("verify: kld: reference, window %d: %d rows, want %d", k, len(refRows), len(ids)-1-from)
		}
		toks := make([]TokenKL, len(refRows))
		var bad error
		block := func(p int, logits []float32, n int) {
			v := len(logits) / n
			errs := make([]error, n)
			o.Exec.ParallelFor(n, func(lo, hi int) {
				s := scr.get()
				defer scr.put(s)
				for r := lo; r < hi; r++ {
					toks[p+r-from], errs[r] = compareRow(refRows[p+r-from], logits[r*v:(r+1)*v], ids[p+r+1], s)
				}
			})
			for _, e := range errs {
				if e != nil && bad == nil {
					bad = e
				}
			}
		}
		if b, ok := test.(BlockLogits); ok {
			err = b.WindowLogitBlocks(ids, from, block)
		} else {
			err = test.WindowLogits(ids, from, func(p int, q []float32) { block(p, q, 1) })
		}
		if err == nil {
			err = bad
		}
		if err != nil {
			return nil, fmt.Errorf("verify: kld: test, window %d: %w", k, err)
		}
		var wr, wt, wk Moments
		for _, t := range toks {
			wr.Add(t.NLLRef)
			wt.Add(t.NLLTest)
			wk.Add(t.KL)
			run.kl.Add(t.KL)
			run.nllT.Add(t.NLLTest)
			run.diff.Add(t.NLLTest - t.NLLRef)
			run.dp2.Add(t.DeltaP * t.DeltaP)
			if t.Same {
				same++
			}
		}
		res.Per = append(res.Per, toks...)
		rep := WindowReport{Index: k, Tokens: len(toks), PPLRef: math.Exp(wr.Mean()), PPLTest: math.Exp(wt.Mean()), KLDMean: wk.Mean(),
			RunPPLTest: math.Exp(run.nllT.Mean()), RunLnRatio: run.diff.Mean(), RunKLDMean: run.kl.Mean(),
			RunKLDStderr: math.Sqrt(run.kl.Variance() / run.kl.N), RunDeltaPRMS: math.Sqrt(run.dp2.Mean()),
			RunSameTop: float64(same) / run.kl.N}
		res.Windows = append(res.Windows, rep)
		if o.Window != nil {
			o.Window(rep)
		}
		if o.Progress != nil {
			o.Progress(k+1, len(ws))
		}
	}
	st := Summarize(res.Per)
	if st == nil {
		return nil, fmt.Errorf("verify: kld: no positions to compare")
	}
	res.KLDStats = *st
	res.Histogram = klHistogram(res.Per)
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// rowScratch is the float64 working space of one row comparison.
type rowScratch struct {
	e    []float64 // exp(z − max) of the reference row
	t    []float64 // tail probabilities of the test row (saved references)
	mark []bool    // ids kept in a saved row
	bins []TailBin // tail histogram under construction
	cnt  []uint32  // tail tokens per bucket of −log Q
}

// scratchPool hands out row scratch to parallel workers.
type scratchPool struct{ ch chan *rowScratch }

func newScratchPool() *scratchPool { return &scratchPool{ch: make(chan *rowScratch, 64)} }

func (s *scratchPool) get() *rowScratch {
	select {
	case r := <-s.ch:
		return r
	default:
		return &rowScratch{}
	}
}

func (s *scratchPool) put(r *rowScratch) {
	select {
	case s.ch <- r:
	default:
	}
}

func growF64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// rowLSE returns log Σ exp(z), the index of the first maximum, and (when e is not nil)
// fills e with exp(z − max z), all in float64.
func rowLSE(z []float32, e []float64) (lse float64, arg int) {
	for i, v := range z {
		if v > z[arg] {
			arg = i
		}
	}
	m := float64(z[arg])
	var s float64
	if e != nil {
		for i, v := range z {
			x := math.Exp(float64(v) - m)
			e[i] = x
			s += x
		}
	} else {
		for _, v := range z {
			s += math.Exp(float64(v) - m)
		}
	}
	return m + math.Log(s), arg
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// compareRow compares the reference row r with the test logits q at a position whose next
// token is target, in float64.
func compareRow(r RefRow, q []float32, target int32, s *rowScratch) (TokenKL, error) {
	if r.Saved != nil {
		return compareSaved(r.Saved, q, target, s)
	}
	p := r.Logits
	if len(p) != len(q) {
		return TokenKL{}, fmt.Errorf("%d reference logits, %d test logits", len(p), len(q))
	}
	if int(target) < 0 || int(target) >= len(p) {
		return TokenKL{}, fmt.Errorf("next token %d beyond %d logits", target, len(p))
	}
	s.e = growF64(s.e, len(p))
	lp, ap := rowLSE(p, s.e)
	lq, aq := rowLSE(q, nil)
	if !finite(lp) || !finite(lq) {
		return TokenKL{}, fmt.Errorf("non-finite logits (log-sum-exp %v reference, %v test)", lp, lq)
	}
	norm := math.Exp(float64(p[ap]) - lp) // e[i]·norm = P(i)
	d := lp - lq
	var kl float64
	for i, x := range s.e {
		if x == 0 {
			continue
		}
		kl += x * norm * ((float64(p[i]) - float64(q[i])) - d)
	}
	return TokenKL{
		KL:      kl,
		DeltaP:  math.Exp(float64(q[ap])-lq) - math.Exp(float64(p[ap])-lp),
		NLLRef:  lp - float64(p[target]),
		NLLTest: lq - float64(q[target]),
		Same:    ap == aq,
	}, nil
}
