package verify

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// Saved references (.kldref). A saved reference stores, for every scored position of a KL
// run, the reference's most likely tokens with their exact float32 logits, the exact float64
// log-sum-exp of the whole row (so their log-probabilities are exactly those of the full
// row), the probability mass of all other tokens (the tail), and the logit of the actual next
// token (so the reference's perplexity stays exact). A row keeps the fewest top tokens whose
// tail mass is at most [RefOptions.TailMass], at most [RefOptions.KMax] of them.
//
// Everything but the KL is then exact: the top token, Δp, same-top, both perplexities and
// the NLL correlation. For the tail T (the tokens not kept, of mass r = P(T)) a row also keeps
// its exact negative entropy H_T = Σ_{i∈T} P(i)·log P(i) and a histogram of its logits: bins of
// 1/32 nat below the smallest kept logit (the last bin, 64 nats down, takes everything lower),
// each with its count and its largest logit. The KL is computed over the kept tokens plus the
// tail as one bucket,
//
//	KL̃ = Σ_{i∈S} P(i)·log(P(i)/Q(i)) + r·log(r/Q(T)),
//
// which by the log-sum inequality is at most the true KL; the difference is
//
//	KL − KL̃ = H_T + Σ_{i∈T} P(i)·aᵢ − r·log(r/Q(T)),   aᵢ = −log Q(i),
//
// where only the middle sum is unknown. It is at most G, the largest value of Σ P(i)·aᵢ over
// every way of giving the tail's tokens probabilities that respect the histogram (in each bin,
// at most the probability of its largest logit) and sum to r: filling the tokens of largest aᵢ
// first with the largest allowed probabilities (the aᵢ are rounded up to a grid of
// 2⁻¹² nat). So
//
//	0 ≤ KL − KL̃ ≤ B = H_T + G − r·log(r/Q(T)),
//
// computed per token from the test model's full row ([TokenKL.Bound]); the mean of B is
// reported with every KL from a saved reference. B is small when the tail's mass is small or
// when its tokens move together (for example rows of the embedding that are identical, which
// stay identical after quantization: they fall into one bin and one aᵢ, where G is exact).
//
// File layout: the 8-byte magic "GMTKLDR1", a little-endian uint32 header length, the JSON
// [RefHeader], then one zstd stream of window records (little-endian):
//
//	u32 n; n × i32 ids (BOS + the window's text tokens); u32 from
//	then per position p in [from, n−1):
//	  u32 k; f64 lse; f64 tail mass; f64 tail negative entropy; f32 next-token logit
//	  k × uvarint id deltas (ids increasing, the first delta from 0); k × f32 logits
//	  u32 bins; bins × (uvarint bin-index delta, uvarint count, f32 largest logit)

// RefMagic starts every saved reference.
const RefMagic = "GMTKLDR1"

// Limits on a saved reference's header and records, checked before any allocation.
const (
	maxRefHeader = 1 << 20
	maxRefCtx    = 1 << 20
	maxRefVocab  = 1 << 24
)

// ErrRef is returned (wrapped) for a saved reference that is malformed or does not match the
// run it is used for.
var ErrRef = errors.New("verify: saved reference")

// RefOptions decides how much of each reference row is saved.
type RefOptions struct {
	// TailMass is the largest probability left in the tail (default 1e-6).
	TailMass float64
	// KMax caps the kept tokens per row (default 4096: at most 4096 × (4 + ≤3) bytes before
	// compression against 4 × 262,144 bytes of the full row, under 3 %).
	KMax int
	// Exec gives the threads that select the rows' tokens (the zero value: all cores).
	Exec kernel.Exec
}

func (o RefOptions) withDefaults() RefOptions {
	if o.TailMass <= 0 {
		o.TailMass = 1e-6
	}
	if o.KMax <= 0 {
		o.KMax = 4096
	}
	return o
}

// RefHeader describes a saved reference: the window plan it was made with, the text's
// token hash, the truncation and the reference model.
type RefHeader struct {
	Version    int     `json:"version"`
	Vocab      int     `json:"vocab"`
	Ctx        int     `json:"ctx"`
	Stride     int     `json:"stride"`
	Chunks     int     `json:"chunks"`
	BOS        int32   `json:"bos"`
	TextTokens int     `json:"text_tokens"`
	TextSHA256 string  `json:"text_sha256"`
	Windows    int     `json:"windows"`
	TailMass   float64 `json:"tail_mass"`
	KMax       int     `json:"k_max"`
	// Reference describes the model the distributions came from (a path and its source).
	Reference string `json:"reference"`
}

// TokensSHA256 is the hex SHA-256 of token ids as little-endian int32, which a saved
// reference records to recognise its text.
func TokensSHA256(ids []int32) string {
	h := sha256.New()
	b := make([]byte, 4)
	for _, x := range ids {
		binary.LittleEndian.PutUint32(b, uint32(x))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SavedRow is one position of a saved reference.
type SavedRow struct {
	IDs    []int32   // kept token ids, increasing
	Logits []float32 // their logits
	LSE    float64   // log Σ exp over the full row
	Tail   float64   // P of the tokens not kept
	TailH  float64   // Σ P·log P over the tokens not kept
	Target float32   // the next token's logit
	Bins   []TailBin // histogram of the tail's logits, most likely first
}

// TailBin is one bin of a saved row's tail histogram: Count logits of which the largest is Max.
type TailBin struct {
	Index uint32 // bin: ⌊(smallest kept logit − logit)·tailBinsPerNat⌋, capped at tailBins−1
	Count uint32
	Max   float32
}

// Tail histogram: bins of 1/32 nat over 64 nats below the smallest kept logit (a token 64 nats
// below it has a probability under e⁻⁶⁴ of the kept ones'); the last bin takes the rest.
const (
	tailBinsPerNat = 32
	tailBins       = 64*tailBinsPerNat + 1
)

// truncate keeps the most likely tokens of the row z (see [RefOptions]).
func truncate(z []float32, target int32, o RefOptions, s *rowScratch) SavedRow {
	s.e = growF64(s.e, len(z))
	lse, arg := rowLSE(z, s.e)
	norm := math.Exp(float64(z[arg]) - lse)
	// The KMax-th largest logit, then the candidates at or above it (ties up to KMax).
	cand := make([]int32, 0, min(o.KMax, len(z)))
	if len(z) <= o.KMax {
		for i := range z {
			cand = append(cand, int32(i))
		}
	} else {
		s.t = growF64(s.t, len(z))
		for i, v := range z {
			s.t[i] = -float64(v)
		}
		selectSmallest(s.t, o.KMax)
		thr := float32(-slices.Max(s.t[:o.KMax]))
		for i, v := range z {
			if v > thr {
				cand = append(cand, int32(i))
			}
		}
		for i, v := range z {
			if v == thr && len(cand) < o.KMax {
				cand = append(cand, int32(i))
			}
		}
	}
	slices.SortFunc(cand, func(a, b int32) int {
		if z[a] != z[b] {
			if z[a] > z[b] {
				return -1
			}
			return 1
		}
		return int(a - b)
	})
	k, cum := 0, 0.0
	for k < len(cand) {
		cum += s.e[cand[k]] * norm
		k++
		if 1-cum <= o.TailMass {
			break
		}
	}
	keep := slices.Clone(cand[:k])
	slices.Sort(keep)
	s.mark = growBool(s.mark, len(z))
	for _, i := range keep {
		s.mark[i] = true
	}
	zmin := z[cand[k-1]]
	var tail, tailH float64
	if cap(s.bins) < tailBins {
		s.bins = make([]TailBin, tailBins)
	}
	bins := s.bins[:tailBins]
	clear(bins)
	for i, x := range s.e {
		if s.mark[i] {
			continue
		}
		p := x * norm
		tail += p
		if p > 0 {
			tailH += p * (float64(z[i]) - lse)
		}
		u := min((float64(zmin)-float64(z[i]))*tailBinsPerNat, tailBins-1)
		b := &bins[int(u)]
		if b.Count == 0 || z[i] > b.Max {
			b.Max = z[i]
		}
		b.Count++
	}
	row := SavedRow{IDs: keep, Logits: make([]float32, len(keep)), LSE: lse, Tail: tail, TailH: tailH, Target: z[target]}
	for j, i := range keep {
		row.Logits[j] = z[i]
		s.mark[i] = false
	}
	for j, b := range bins {
		if b.Count > 0 {
			b.Index = uint32(j)
			row.Bins = append(row.Bins, b)
		}
	}
	return row
}

func growBool(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	return b[:n]
}

// selectSmallest reorders x so that x[:k] holds its k smallest values (in no order).
func selectSmallest(x []float64, k int) {
	lo, hi := 0, len(x)-1
	for lo < hi {
		// Median of three as the pivot, Hoare partition.
		mid := lo + (hi-lo)/2
		a, b, c := x[lo], x[mid], x[hi]
		p := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi
		for i <= j {
			for x[i] < p {
				i++
			}
			for x[j] > p {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// compareSaved compares a saved reference row with the test logits q (see the file comment
// for the KL over the kept tokens and the tail, and its bound).
func compareSaved(r *SavedRow, q []float32, target int32, s *rowScratch) (TokenKL, error) {
	if int(target) < 0 || int(target) >= len(q) {
		return TokenKL{}, fmt.Errorf("next token %d beyond %d logits", target, len(q))
	}
	s.e = growF64(s.e, len(q))
	lq, aq := rowLSE(q, s.e)
	if !finite(lq) || !finite(r.LSE) {
		return TokenKL{}, fmt.Errorf("non-finite logits (log-sum-exp %v reference, %v test)", r.LSE, lq)
	}
	norm := math.Exp(float64(q[aq]) - lq) // e[i]·norm = Q(i)
	s.mark = growBool(s.mark, len(q))
	var kl float64
	ap := -1
	for j, i := range r.IDs {
		if int(i) >= len(q) {
			return TokenKL{}, fmt.Errorf("%w: token %d beyond the test model's %d logits", ErrRef, i, len(q))
		}
		s.mark[i] = true
		lp := float64(r.Logits[j]) - r.LSE
		p := math.Exp(lp)
		kl += p * (lp - (float64(q[i]) - lq))
		if ap < 0 || r.Logits[j] > r.Logits[ap] {
			ap = j
		}
	}
	var binned uint64
	for _, b := range r.Bins {
		binned += uint64(b.Count)
	}
	if binned != uint64(len(q)-len(r.IDs)) {
		return TokenKL{}, fmt.Errorf("%w: the row's tail histogram holds %d tokens, the test model's tail %d", ErrRef, binned, len(q)-len(r.IDs))
	}
	var qt float64
	amin, amax := math.Inf(1), math.Inf(-1)
	for i, x := range s.e {
		if s.mark[i] {
			continue
		}
		v := x * norm
		qt += v
		a := lq - float64(q[i])
		amin, amax = min(amin, a), max(amax, a)
	}
	var bound float64
	if r.Tail > 0 && qt > 0 {
		kl += r.Tail * (math.Log(r.Tail) - math.Log(qt))
		bound = r.TailH + tailCross(r, q, lq, amin, amax, s) - r.Tail*math.Log(r.Tail/qt)
		bound = max(bound, 0)
	}
	for _, i := range r.IDs {
		s.mark[i] = false
	}
	top := r.IDs[ap]
	return TokenKL{
		KL:      kl,
		DeltaP:  math.Exp(float64(q[top])-lq) - math.Exp(float64(r.Logits[ap])-r.LSE),
		NLLRef:  r.LSE - float64(r.Target),
		NLLTest: lq - float64(q[target]),
		Same:    int(top) == aq,
		Bound:   bound,
	}, nil
}

// RefWriter writes a saved reference: [CreateRef], one [RefWriter.Window] per window in
// order, then [RefWriter.Commit] (the file appears only then).
type RefWriter struct {
	f       *format.Output
	zw      *zstd.Encoder
	bw      *bufio.Writer
	h       RefHeader
	windows int
	buf     []byte
}

// CreateRef starts a saved reference at path with header h, written through a
// [format.Output] (path may be none of inputs; once ctx is done writes fail).
func CreateRef(ctx context.Context, path string, h RefHeader, inputs ...string) (*RefWriter, error) {
	h.Version = 1
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	f, err := format.CreateOutput(ctx, path, inputs...)
	if err != nil {
		return nil, err
	}
	w := &RefWriter{f: f, h: h}
	head := append([]byte(RefMagic), binary.LittleEndian.AppendUint32(nil, uint32(len(hj)))...)
	if _, err := f.Write(append(head, hj...)); err != nil {
		w.Abort()
		return nil, err
	}
	w.zw, err = zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		w.Abort()
		return nil, err
	}
	w.bw = bufio.NewWriterSize(w.zw, 1<<20)
	return w, nil
}

// Window appends the rows of the next window (ids as run, scored from position from).
func (w *RefWriter) Window(ids []int32, from int, rows []SavedRow) error {
	b := w.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
	for _, x := range ids {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(from))
	for _, r := range rows {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.IDs)))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.LSE))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Tail))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.TailH))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r.Target))
		prev := int32(0)
		for _, i := range r.IDs {
			b = binary.AppendUvarint(b, uint64(i-prev))
			prev = i
		}
		for _, v := range r.Logits {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Bins)))
		prevBin := uint32(0)
		for _, x := range r.Bins {
			b = binary.AppendUvarint(b, uint64(x.Index-prevBin))
			b = binary.AppendUvarint(b, uint64(x.Count))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x.Max))
			prevBin = x.Index
		}
	}
	w.buf = b
	w.windows++
	_, err := w.bw.Write(b)
	return err
}

// Commit finishes the file and moves it into place.
func (w *RefWriter) Commit() error {
	if w.windows != w.h.Windows {
		w.Abort()
		return fmt.Errorf("verify: save reference: %d windows written, %d planned", w.windows, w.h.Windows)
	}
	err := w.bw.Flush()
	if err == nil {
		err = w.zw.Close()
	}
	if err == nil {
		return w.f.Commit()
	}
	w.f.Abort()
	return err
}

// Abort removes the unfinished file.
func (w *RefWriter) Abort() {
	if w.zw != nil {
		w.zw.Close()
	}
	w.f.Abort()
}

// SaveReference runs the windows of [Windows] through ref and writes its truncated rows to
// w. It returns the reference's perplexity over the scored tokens.
func SaveReference(ref LogitsWindow, text []int32, o PerplexityOptions, ro RefOptions, w *RefWriter) (*PerplexityResult, error) {
	ro = ro.withDefaults()
	ws, err := Windows(len(text), o.Ctx, o.Stride, o.Chunks)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	var acc Moments
	ids := make([]int32, 0, o.Ctx)
	scr := newScratchPool()
	res := &PerplexityResult{}
	for k, win := range ws {
		ids = append(ids[:0], o.BOS)
		ids = append(ids, text[win.Start:win.End]...)
		from := win.ScoreFrom - win.Start
		rows := make([]SavedRow, len(ids)-1-from)
		block := func(p int, logits []float32, n int) {
			v := len(logits) / n
			ro.Exec.ParallelFor(n, func(lo, hi int) {
				s := scr.get()
				defer scr.put(s)
				for r := lo; r < hi; r++ {
					rows[p+r-from] = truncate(logits[r*v:(r+1)*v], ids[p+r+1], ro, s)
				}
			})
		}
		if b, ok := ref.(BlockLogits); ok {
			err = b.WindowLogitBlocks(ids, from, block)
		} else {
			err = ref.WindowLogits(ids, from, func(p int, q []float32) { block(p, q, 1) })
		}
		if err != nil {
			return nil, fmt.Errorf("verify: save reference: window %d: %w", k, err)
		}
		for _, r := range rows {
			nll := r.LSE - float64(r.Target)
			if !finite(nll) {
				return nil, fmt.Errorf("verify: save reference: window %d: non-finite NLL", k)
			}
			acc.Add(nll)
		}
		if err := w.Window(ids, from, rows); err != nil {
			return nil, err
		}
		res.Evaluated += len(ids)
		if o.Progress != nil {
			o.Progress(k+1, len(ws))
		}
	}
	res.Elapsed = time.Since(t0)
	res.Windows, res.Tokens, res.NLLMean = len(ws), int(acc.N), acc.Mean()
	res.PPL = math.Exp(res.NLLMean)
	if acc.N > 1 {
		res.PPLStderr = res.PPL * math.Sqrt(acc.Variance()/acc.N)
	}
	if sec := res.Elapsed.Seconds(); sec > 0 {
		res.TokS = float64(res.Evaluated) / sec
	}
	return res, nil
}

// RefReader reads a saved reference window by window; it is a [Reference].
type RefReader struct {
	Header RefHeader
	f      *os.File
	dec    *zstd.Decoder
	r      *bufio.Reader
	path   string
	next   int
	rows   []SavedRow
}

// OpenRef opens a saved reference and reads its header.
func OpenRef(path string) (*RefReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rr := &RefReader{f: f, path: path}
	fail := func(format string, args ...any) (*RefReader, error) {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %s", ErrRef, path, fmt.Sprintf(format, args...))
	}
	var head [12]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[:8]) != RefMagic {
		return fail("not a saved reference (magic %q)", head[:8])
	}
	n := binary.LittleEndian.Uint32(head[8:])
	if n > maxRefHeader {
		return fail("header of %d bytes exceeds %d", n, maxRefHeader)
	}
	hj := make([]byte, n)
	if _, err := io.ReadFull(f, hj); err != nil {
		return fail("header: %v", err)
	}
	if err := json.Unmarshal(hj, &rr.Header); err != nil {
		return fail("header: %v", err)
	}
	h := rr.Header
	if h.Version != 1 {
		return fail("version %d, this program reads 1", h.Version)
	}
	if h.Vocab < 1 || h.Vocab > maxRefVocab || h.Ctx < 2 || h.Ctx > maxRefCtx || h.KMax < 1 || h.KMax > h.Vocab || h.Windows < 0 {
		return fail("header out of range: vocab %d, ctx %d, k_max %d, windows %d", h.Vocab, h.Ctx, h.KMax, h.Windows)
	}
	rr.dec, err = zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return fail("%v", err)
	}
	rr.r = bufio.NewReaderSize(rr.dec, 1<<20)
	return rr, nil
}

// Close releases the file.
func (rr *RefReader) Close() error {
	rr.dec.Close()
	return rr.f.Close()
}

// Options returns the window options the reference was saved with.
func (rr *RefReader) Options() PerplexityOptions {
	h := rr.Header
	return PerplexityOptions{Ctx: h.Ctx, Stride: h.Stride, Chunks: h.Chunks, BOS: h.BOS}
}

// ReferenceWindow implements [Reference]: it reads window k, which must be the next one in
// the file and must hold the same ids and first scored position.
func (rr *RefReader) ReferenceWindow(k int, ids []int32, from int, emit func(int, RefRow)) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: window %d: %s", ErrRef, rr.path, k, fmt.Sprintf(format, args...))
	}
	if k != rr.next {
		return fail("windows read out of order (next is %d)", rr.next)
	}
	rr.next++
	if k >= rr.Header.Windows {
		return fail("the file holds %d windows", rr.Header.Windows)
	}
	u32 := func() (uint32, error) {
		var b [4]byte
		_, err := io.ReadFull(rr.r, b[:])
		return binary.LittleEndian.Uint32(b[:]), err
	}
	n, err := u32()
	if err != nil {
		return fail("%v", err)
	}
	if int(n) != len(ids) {
		return fail("%d tokens, the run has %d (another text or window plan?)", n, len(ids))
	}
	for i := range ids {
		x, err := u32()
		if err != nil {
			return fail("%v", err)
		}
		if int32(x) != ids[i] {
			return fail("token %d is %d, the run has %d (another text or tokenizer?)", i, int32(x), ids[i])
		}
	}
	f, err := u32()
	if err != nil {
		return fail("%v", err)
	}
	if int(f) != from {
		return fail("scored from %d, the run from %d", f, from)
	}
	rows := len(ids) - 1 - from
	if cap(rr.rows) < rows {
		rr.rows = make([]SavedRow, rows)
	}
	rr.rows = rr.rows[:rows]
	var b [28]byte
	for j := range rr.rows {
		kk, err := u32()
		if err != nil {
			return fail("%v", err)
		}
		if kk < 1 || int(kk) > rr.Header.KMax {
			return fail("row %d keeps %d tokens, want 1 … %d", j, kk, rr.Header.KMax)
		}
		if _, err := io.ReadFull(rr.r, b[:]); err != nil {
			return fail("%v", err)
		}
		r := &rr.rows[j]
		r.LSE = math.Float64frombits(binary.LittleEndian.Uint64(b[0:]))
		r.Tail = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		r.TailH = math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))
		r.Target = math.Float32frombits(binary.LittleEndian.Uint32(b[24:]))
		if !(r.Tail >= 0 && r.Tail <= 1) || !finite(r.LSE) || !(r.TailH <= 0) {
			return fail("row %d: tail %v (negative entropy %v), log-sum-exp %v", j, r.Tail, r.TailH, r.LSE)
		}
		r.IDs = slices.Grow(r.IDs[:0], int(kk))
		r.Logits = slices.Grow(r.Logits[:0], int(kk))
		prev := uint64(0)
		for i := range int(kk) {
			d, err := binary.ReadUvarint(rr.r)
			if err != nil {
				return fail("%v", err)
			}
			if (i > 0 && d == 0) || prev+d >= uint64(rr.Header.Vocab) {
				return fail("row %d: token ids not increasing below %d", j, rr.Header.Vocab)
			}
			prev += d
			r.IDs = append(r.IDs, int32(prev))
		}
		for range int(kk) {
			x, err := u32()
			if err != nil {
				return fail("%v", err)
			}
			r.Logits = append(r.Logits, math.Float32frombits(x))
		}
		nb, err := u32()
		if err != nil {
			return fail("%v", err)
		}
		if nb > tailBins {
			return fail("row %d: %d tail bins, at most %d", j, nb, tailBins)
		}
		r.Bins = slices.Grow(r.Bins[:0], int(nb))
		idx, total := uint64(0), uint64(0)
		for i := range int(nb) {
			d, err := binary.ReadUvarint(rr.r)
			if err != nil {
				return fail("%v", err)
			}
			n, err := binary.ReadUvarint(rr.r)
			if err != nil {
				return fail("%v", err)
			}
			x, err := u32()
			if err != nil {
				return fail("%v", err)
			}
			idx += d
			total += n
			if (i > 0 && d == 0) || idx >= tailBins || n == 0 || total > uint64(rr.Header.Vocab) {
				return fail("row %d: tail bins out of order or over the vocabulary", j)
			}
			r.Bins = append(r.Bins, TailBin{Index: uint32(idx), Count: uint32(n), Max: math.Float32frombits(x)})
		}
		emit(from+j, RefRow{Saved: r})
	}
	return nil
}

// aGrid is the rounding of aᵢ = −log Q(i) in the tail bound: values are rounded up to
// multiples of 2⁻¹² nat (so the bound stays a bound), and at most aBuckets buckets are used
// (a coarser grid for wider ranges).
const (
	aGrid    = 1.0 / 4096
	aBuckets = 1 << 18
)

// tailCross returns G ≥ Σ_{i∈T} P(i)·aᵢ, the largest value over tail probabilities allowed by
// the row's histogram (see the file comment): tail tokens sorted by decreasing aᵢ (bucketed,
// rounded up) receive, in order, the largest allowed probabilities, until the tail mass r is
// spent. Tokens kept by the row are marked in s.mark.
func tailCross(r *SavedRow, q []float32, lq, amin, amax float64, s *rowScratch) float64 {
	if !(amax >= amin) || math.IsInf(amax, 1) {
		return math.Inf(1)
	}
	step := max(aGrid, (amax-amin)/(aBuckets-1))
	nb := int((amax-amin)/step) + 2
	if cap(s.cnt) < nb {
		s.cnt = make([]uint32, nb)
	}
	cnt := s.cnt[:nb]
	clear(cnt)
	for i, v := range q {
		if !s.mark[i] {
			cnt[int(math.Ceil((lq-float64(v)-amin)/step))]++
		}
	}
	var g float64
	left := r.Tail
	bi, used := 0, uint32(0) // histogram bin, tokens of it already given probability
	for j := nb - 1; j >= 0 && left > 0 && bi < len(r.Bins); j-- {
		a := amin + float64(j)*step
		for n := cnt[j]; n > 0 && left > 0 && bi < len(r.Bins); {
			b := r.Bins[bi]
			t := min(n, b.Count-used)
			pmax := math.Exp(float64(b.Max) - r.LSE)
			m := min(float64(t)*pmax, left)
			g += m * a
			left -= m
			n -= t
			used += t
			if used == b.Count {
				bi, used = bi+1, 0
			}
		}
	}
	return g
}
