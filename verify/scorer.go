package verify

import (
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/runtime"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// scoreRows is the number of positions whose logits are held at once (rows × vocabulary
// floats: 128 MiB for Gemma 3's 262,144 ids). The LM head's matrix product expands each
// weight row once per call, so larger batches of rows amortise that over more positions.
const scoreRows = 128

// ModelScorer is the [Scorer] of a runtime model: each window runs as one prefill from an
// empty cache, and the logits of the scored positions are computed scoreRows at a time.
type ModelScorer struct {
	m      *runtime.Model
	ctx    int
	s      *runtime.Session
	logits []float32
	nll    []float64
	rows   int // positions per logits block (0: scoreRows)
}

// SetBlockRows sets how many positions' logits are computed and held at once (default 128:
// 128 MiB for a 262,144-token vocabulary). Fewer rows use less memory and amortise the LM
// head's weight reads over fewer positions.
func (ms *ModelScorer) SetBlockRows(n int) {
	ms.rows = max(n, 1)
	ms.logits, ms.nll = nil, nil
}

// NewModelScorer returns a scorer for windows of up to ctx tokens whose products run as ex
// says: kernel.Exec{} (exact, all cores) for a model's own figures, ModeInt8 to measure the
// int8 path. The choice stays with the scorer's session.
func NewModelScorer(m *runtime.Model, ctx int, ex kernel.Exec) *ModelScorer {
	return NewModelScorerKV(m, ctx, ex, runtime.KVF32)
}

// NewModelScorerKV is NewModelScorer with a KV cache of type kv (KVBF16 to measure its error).
func NewModelScorerKV(m *runtime.Model, ctx int, ex kernel.Exec, kv runtime.KVType) *ModelScorer {
	return &ModelScorer{m: m, ctx: ctx, s: m.NewSession(&runtime.SessionOptions{MaxContext: ctx, Exec: ex, KVType: kv})}
}

// ScoreWindow implements [Scorer].
func (ms *ModelScorer) ScoreWindow(ids []int32, from int, emit func(p int, nll float64)) error {
	return ms.logitBlocks(ids, from, func(p int, logits []float32, n int) {
		v := len(logits) / n
		ms.s.Exec().ParallelFor(n, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := logits[r*v : (r+1)*v]
				target := float64(row[ids[p+r+1]])
				ms.nll[r] = lseInPlace(row) - target
			}
		})
		for r := range n {
			emit(p+r, ms.nll[r])
		}
	})
}

// WindowLogits implements [LogitsWindow].
func (ms *ModelScorer) WindowLogits(ids []int32, from int, emit func(p int, logits []float32)) error {
	return ms.logitBlocks(ids, from, func(p int, logits []float32, n int) {
		v := len(logits) / n
		for r := range n {
			emit(p+r, logits[r*v:(r+1)*v])
		}
	})
}

// logitBlocks runs the window as one prefill from an empty cache (in the session's activation
// mode) and passes the logits of the positions [from, len(ids)−1) to fn in blocks of up to
// scoreRows rows: fn(p, logits, n) gets the n rows of positions p … p+n−1.
func (ms *ModelScorer) logitBlocks(ids []int32, from int, fn func(p int, logits []float32, n int)) error {
	ms.s.Reset()
	if from < 0 || from >= len(ids)-1 {
		return fmt.Errorf("verify: score from position %d of a %d-token window", from, len(ids))
	}
	res, err := ms.s.Forward(&runtime.Batch{Tokens: ids, Logits: runtime.LogitsNone, FinalHidden: true})
	if err != nil {
		return err
	}
	d, v := ms.m.Hidden(), ms.m.VocabRows()
	rows := ms.rows
	if rows == 0 {
		rows = scoreRows
	}
	if ms.logits == nil {
		ms.logits = make([]float32, rows*v)
		ms.nll = make([]float64, rows)
	}
	last := len(ids) - 1 // positions [from, last) predict ids[from+1 … last]
	return ms.m.Guard(func() error {
		for p := from; p < last; p += rows {
			n := min(rows, last-p)
			ms.s.Logits(ms.logits[:n*v], res.FinalHidden[p*d:(p+n)*d], n)
			if err := runtime.CheckFinite(ms.logits[:n*v], v, p); err != nil {
				return err
			}
			fn(p, ms.logits[:n*v], n)
		}
		return nil
	})
}

// LogSumExp returns log Σ exp(x_i) in float64 (−Inf for an empty x, NaN if x holds a NaN).
func LogSumExp(x []float32) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	if math.IsInf(float64(m), 0) || m != m {
		return float64(m)
	}
	mf := float64(m)
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - mf)
	}
	return mf + math.Log(s)
}

// lseInPlace returns log Σᵢ exp(x[i]) like [LogSumExp], through the kernels' vectorised
// softmax, which it leaves in x: with m = max x at index k, softmax(x)[k] = 1/Σ exp(x − m),
// so the log-sum-exp is m − log softmax(x)[k]. The softmax's float32 exp is within 2 ulp and
// its sum is float64, so the result is within about 1e-7 of LogSumExp (tested).
func lseInPlace(x []float32) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	k := 0
	for i, v := range x {
		if v > x[k] || v != v {
			k = i
			if v != v {
				return math.NaN()
			}
		}
	}
	m := float64(x[k])
	if math.IsInf(m, 0) {
		return m
	}
	kernel.Softmax(x)
	return m - math.Log(float64(x[k]))
}

// Exec returns the scorer's execution settings.
func (ms *ModelScorer) Exec() kernel.Exec { return ms.s.Exec() }

// WindowLogitBlocks implements [BlockLogits].
func (ms *ModelScorer) WindowLogitBlocks(ids []int32, from int, fn func(p int, logits []float32, n int)) error {
	return ms.logitBlocks(ids, from, fn)
}
