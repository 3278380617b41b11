package quantize

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gemmatool/gemmatool/format"
)

// The pipeline of [Run]: a dispatcher cuts every tensor to convert into pieces of whole rows
// (chunkElems values), workers read, encode and measure the pieces in parallel, and Run's
// goroutine writes them in order as they complete. Reading, encoding and writing overlap
// across tensors; at most cap(out)+1 pieces are in flight, which bounds the memory.

// pipeTensor is one planned tensor as the pipeline carries it out.
type pipeTensor struct {
	spec TensorSpec
	t    format.DType
	// scale is the tensor scale: the raw tensor's, or SFP8's, set by the dispatcher before it
	// sends the tensor's first piece.
	scale float32
	// raw, when not nil, is the payload copied unchanged (the pipeline skips the tensor).
	raw []byte
	// gptq is set by the writer when the tensor's pieces were encoded with GPTQ.
	gptq bool
}

// piece is rows [r0, r0+k) of a tensor, encoded into a payload of their own.
type piece struct {
	pt     *pipeTensor
	r0, k  int
	last   bool
	layout format.Layout // of the piece's payload (quantized types)
	// payload holds the piece's codes plane then its scales plane (quantized types), or the
	// plain values.
	payload []byte
	stats   ErrorStats
	gptq    bool // encoded with GPTQ error feedback
	err     error
	done    chan struct{}
}

type pipeline struct {
	out  chan *piece // every piece, in output order
	work chan *piece
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// free holds written pieces' payloads for reuse: a run allocates a few buffers, not
	// one per piece (which would keep the garbage collector busy).
	free chan []byte
	// gptq caches the GPTQ factor of each input's second moments (gptq.go).
	gptqMu sync.Mutex
	gptq   map[*Moments]*gptqOnce
	// gptqLeft counts, per input, the tensors still to be written that use its factor; the
	// factor (n² float64) is dropped when it reaches 0.
	gptqLeft map[*Moments]int
}

// gptqOnce is one input's GPTQ factor, computed once by the first piece that needs it.
type gptqOnce struct {
	once sync.Once
	f    *gptqFactor
	err  error
}

// gptqMoments returns the second moments GPTQ encodes pt with, or nil.
func (job *Job) gptqMoments(pt *pipeTensor) *Moments {
	if pt.raw != nil || (pt.t != format.Q4_0 && pt.t != format.I4) || job.NoGPTQ {
		return nil
	}
	return job.Imatrix.SecondMoments(pt.spec.Name)
}

// gptqWritten releases the factor of pt's input once every tensor using it is written.
func (p *pipeline) gptqWritten(job Job, pt *pipeTensor) {
	g := job.gptqMoments(pt)
	if g == nil {
		return
	}
	p.gptqMu.Lock()
	defer p.gptqMu.Unlock()
	if p.gptqLeft[g]--; p.gptqLeft[g] <= 0 {
		delete(p.gptq, g)
	}
}

// gptqFactor returns the factor of g, computing it on first use.
func (p *pipeline) gptqFactor(g *Moments, damp float64) (*gptqFactor, error) {
	p.gptqMu.Lock()
	if p.gptq == nil {
		p.gptq = map[*Moments]*gptqOnce{}
	}
	o := p.gptq[g]
	if o == nil {
		o = &gptqOnce{}
		p.gptq[g] = o
	}
	p.gptqMu.Unlock()
	o.once.Do(func() { o.f, o.err = newGPTQFactor(g, damp) })
	return o.f, o.err
}

// buffer returns a zeroed payload buffer of n bytes.
func (p *pipeline) buffer(n int) []byte {
	select {
	case b := <-p.free:
		if cap(b) >= n {
			b = b[:n]
			clear(b)
			return b
		}
	default:
	}
	return make([]byte, n)
}

// recycle offers a written payload for reuse.
func (p *pipeline) recycle(b []byte) {
	select {
	case p.free <- b:
	default:
	}
}

func startPipeline(job Job, tensors []pipeTensor, workers int) *pipeline {
	p := &pipeline{
		out:  make(chan *piece, 2*workers+2),
		work: make(chan *piece),
		quit: make(chan struct{}),
		free: make(chan []byte, 2*workers+4),
	}
	p.gptqLeft = map[*Moments]int{}
	for i := range tensors {
		if g := job.gptqMoments(&tensors[i]); g != nil {
			p.gptqLeft[g]++
		}
	}
	for range workers {
		p.wg.Go(func() { p.worker(job) })
	}
	p.wg.Go(func() { p.dispatch(job, tensors) })
	return p
}

// stop ends the pipeline and waits until no goroutine reads the source any more.
func (p *pipeline) stop() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}

// send queues pc for writing and for a worker; false once the pipeline is stopped.
func (p *pipeline) send(pc *piece) bool {
	select {
	case p.out <- pc:
	case <-p.quit:
		return false
	}
	select {
	case p.work <- pc:
		return true
	case <-p.quit:
		return false
	}
}

func (p *pipeline) dispatch(job Job, tensors []pipeTensor) {
	defer close(p.work)
	for i := range tensors {
		pt := &tensors[i]
		if pt.raw != nil {
			continue
		}
		if pt.t == format.SFP8 {
			// The tensor scale goes in the directory entry, written with the payload:
			// compute it first in one streaming pass.
			m, err := maxAbsOf(job.Src, pt.spec)
			if err != nil {
				p.fail(pt, err)
				return
			}
			pt.scale = SFP8Scale(m)
		}
		if v, ok := job.Src.(verifier); ok {
			// One checksum pass per tensor, ahead of its parallel reads.
			if err := v.Verify(pt.spec.Name); err != nil {
				p.fail(pt, err)
				return
			}
		}
		rows, cols := rowsCols(pt.spec.Shape)
		per := max(1, chunkElems/max(cols, 1))
		for r := 0; r < rows || r == 0; r += per {
			k := min(per, rows-r)
			if !p.send(&piece{pt: pt, r0: r, k: k, last: r+k >= rows, done: make(chan struct{})}) {
				return
			}
		}
	}
}

// verifier is a [Source] that checks a tensor's payload before it is read.
type verifier interface {
	Verify(name string) error
}

// fail hands the writer a finished piece of pt carrying err.
func (p *pipeline) fail(pt *pipeTensor, err error) {
	pc := &piece{pt: pt, last: true, err: err, done: make(chan struct{})}
	close(pc.done)
	select {
	case p.out <- pc:
	case <-p.quit:
	}
}

func (p *pipeline) worker(job Job) {
	var buf, dec []float32
	for {
		select {
		case <-p.quit:
			return
		case pc, ok := <-p.work:
			if !ok {
				return
			}
			pc.err = pc.encode(p, job, &buf, &dec)
			close(pc.done)
		}
	}
}

// encode reads the piece's rows and encodes them, measuring the error.
func (pc *piece) encode(p *pipeline, job Job, buf, dec *[]float32) error {
	s, t := pc.pt.spec, pc.pt.t
	_, cols := rowsCols(s.Shape)
	n := pc.k * cols
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	b := (*buf)[:n]
	if err := job.Src.ReadRows(s.Name, pc.r0, b); err != nil {
		return err
	}
	if !t.Quantized() {
		pc.payload = p.buffer(n * t.ElemSize())
		if cap(*dec) < n {
			*dec = make([]float32, n)
		}
		return plainBytes(pc.payload, (*dec)[:n], t, b, &pc.stats)
	}
	l, err := format.LayoutOf(t, []int64{int64(pc.k), int64(cols)})
	if err != nil {
		return err
	}
	pc.layout = l
	pc.payload = p.buffer(int(l.Size))
	opts := job.Opts
	opts.Name = s.Name
	if imp := job.Imatrix.Weights(s.Name); imp != nil {
		if len(imp) != cols {
			return fmt.Errorf("quantize %s: the imatrix has %d columns for it, the tensor %d", s.Name, len(imp), cols)
		}
		opts.Importance = imp
	}
	if cap(*dec) < cols {
		*dec = make([]float32, cols)
	}
	if g := job.gptqMoments(pc.pt); g != nil {
		if g.Dim != cols {
			return fmt.Errorf("quantize %s: the imatrix's second moments have dimension %d, the tensor %d columns", s.Name, g.Dim, cols)
		}
		f, err := p.gptqFactor(g, job.GPTQDamp)
		if err == nil {
			pc.gptq = true
			if err := encodeGPTQStats(f, l, pc.payload, b, 0, opts, job.GPTQScale, &pc.stats, (*dec)[:cols]); err != nil {
				return fmt.Errorf("%w (row %d of the tensor)", err, pc.r0)
			}
			return nil
		}
		if !errors.Is(err, errNoActivity) {
			return fmt.Errorf("quantize %s: gptq: %w", s.Name, err)
		}
	}
	if err := encodeRowsStats(l, pc.payload, 0, b, pc.pt.scale, opts, &pc.stats, (*dec)[:cols]); err != nil {
		return fmt.Errorf("%w (row %d of the tensor)", err, pc.r0)
	}
	return nil
}

// writeTensor writes the pieces of one tensor in order, first being its first piece (already
// done): the codes planes as they come, then the scales planes gathered on the way. It
// merges the pieces' errors into stats.
func (p *pipeline) writeTensor(wr io.Writer, pt *pipeTensor, first *piece, stats *ErrorStats) error {
	full, err := format.LayoutOf(pt.t, pt.spec.Shape)
	if err != nil {
		return err
	}
	var scales []byte
	for pc := first; ; {
		if pc.err != nil {
			return pc.err
		}
		if pc.pt != pt {
			return fmt.Errorf("quantize: internal error: piece of %s while writing %s", pc.pt.spec.Name, pt.spec.Name)
		}
		stats.Merge(pc.stats)
		pt.gptq = pt.gptq || pc.gptq
		if !pt.t.Quantized() {
			if _, err := wr.Write(pc.payload); err != nil {
				return err
			}
		} else {
			l := pc.layout
			if _, err := wr.Write(pc.payload[:l.CodesLen]); err != nil {
				return err
			}
			if l.ScalesLen > 0 {
				if scales == nil {
					scales = make([]byte, 0, full.ScalesLen)
				}
				scales = append(scales, pc.payload[l.ScalesOff:l.ScalesOff+l.ScalesLen]...)
			}
		}
		p.recycle(pc.payload)
		pc.payload = nil
		if pc.last {
			break
		}
		pc = <-p.out
		<-pc.done
	}
	if full.ScalesLen > 0 {
		if _, err := wr.Write(make([]byte, full.ScalesOff-full.CodesLen)); err != nil {
			return err
		}
		if _, err := wr.Write(scales); err != nil {
			return err
		}
	}
	return nil
}
