package kernel

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// job is one parallel loop over [0, total) in chunks. The pool reuses a single job value, so
// starting a loop allocates nothing; body is a static function and the arguments of the
// package's own kernels travel in the fields below instead of a closure.
type job struct {
	body  func(j *job, worker, lo, hi int)
	total int
	chunk int
	next  atomic.Int64

	args
}

// args are the operands of one parallel loop.
type args struct {
	fn   func(lo, hi int) // ParallelFor
	y, x []float32        // matVec, matMul
	w    *Matrix
	n    int

	packed []float32 // matMulTiled: packed activation panels
	mr, nr int
	kern   microKernel

	qa *qact // ModeInt8: quantized activations
}

func (j *job) run(worker int) {
	for {
		lo := int(j.next.Add(int64(j.chunk))) - j.chunk
		if lo >= j.total {
			return
		}
		j.body(j, worker, lo, min(lo+j.chunk, j.total))
	}
}

// pool is the persistent worker pool: threads-1 goroutines plus the calling goroutine.
//
// Decode issues hundreds of short parallel loops per token (a 1B model's q/k/v projections
// take tens of microseconds), so waking a parked goroutine for each (a futex round trip,
// often 10–50 µs in a VM) would cost as much as the work. Workers therefore spin on their
// sequence number for up to spinWait after finishing a loop and only then park on their
// channel; the caller spins on the pending count while the helpers finish.
type pool struct {
	mu      sync.Mutex // held for the duration of one parallel loop
	threads int
	workers []*worker
	pending atomic.Int32 // helpers still running the current loop
	stopped atomic.Bool
	job     job
	scratch [][]float32 // per-worker buffers, grown on demand under mu
}

type worker struct {
	seq      atomic.Uint64 // incremented once per loop handed to this worker
	job      atomic.Pointer[job]
	sleeping atomic.Bool
	wake     chan struct{}
}

// spinWait is how long an idle worker polls for the next loop before parking.
const spinWait = 200 * time.Microsecond

var thePool struct {
	once sync.Once
	p    *pool
	cfg  sync.Mutex // serializes SetThreads
}

func getPool() *pool {
	thePool.once.Do(func() { thePool.p = newPool(goruntime.GOMAXPROCS(0)) })
	return thePool.p
}

func newPool(n int) *pool {
	if n < 1 {
		n = 1
	}
	p := &pool{threads: n, scratch: make([][]float32, n)}
	for i := 1; i < n; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.loop(w, i)
	}
	return p
}

// loop is worker i's life: wait for the next sequence number (spinning, then parked), run
// the job, report.
func (p *pool) loop(w *worker, i int) {
	var last uint64
	for {
		if !w.await(last) || p.stopped.Load() {
			return
		}
		last = w.seq.Load()
		w.job.Load().run(i)
		p.pending.Add(-1)
	}
}

// await returns when w.seq differs from last (false if the wake channel was closed).
func (w *worker) await(last uint64) bool {
	start := time.Now()
	for n := 0; w.seq.Load() == last; n++ {
		if n&255 != 255 || time.Since(start) < spinWait {
			continue
		}
		w.sleeping.Store(true)
		if w.seq.Load() != last {
			if w.sleeping.CompareAndSwap(true, false) {
				return true
			}
			// The dispatcher cleared the flag and sends a token: take it.
		}
		if _, ok := <-w.wake; !ok {
			return false
		}
		start = time.Now()
	}
	return true
}

// handOut gives j to worker w and wakes it if it parked.
func (w *worker) handOut(j *job) {
	w.job.Store(j)
	w.seq.Add(1)
	if w.sleeping.CompareAndSwap(true, false) {
		w.wake <- struct{}{}
	}
}

func (p *pool) stop() {
	p.stopped.Store(true)
	for _, w := range p.workers {
		w.seq.Add(1)
		close(w.wake)
	}
}

// SetThreads sets the number of threads parallel kernels use (the caller's goroutine counts as
// one). n < 1 means GOMAXPROCS. The default is GOMAXPROCS at first use. It must not be called
// while a kernel is running.
func SetThreads(n int) {
	if n < 1 {
		n = goruntime.GOMAXPROCS(0)
	}
	thePool.cfg.Lock()
	defer thePool.cfg.Unlock()
	old := getPool()
	if old.threads == n {
		return
	}
	old.mu.Lock()
	np := newPool(n)
	thePool.p = np
	old.stop()
	old.mu.Unlock()
}

// Threads returns the number of threads parallel kernels use.
func Threads() int { return getPool().threads }

// parallel runs body over [0, total) in chunks of chunk on the pool. If the pool is busy (a
// nested call from inside a parallel loop, or a concurrent caller) the loop runs on the calling
// goroutine alone, with freshly allocated scratch.
func parallel(total, chunk int, a args, body func(j *job, worker, lo, hi int)) {
	if total <= 0 {
		return
	}
	chunk = max(chunk, 1)
	p := getPool()
	if !p.mu.TryLock() {
		j := &job{body: body, total: total, chunk: chunk, args: a}
		j.run(-1)
		return
	}
	j := &p.job
	j.body, j.total, j.chunk = body, total, chunk
	j.next.Store(0)
	j.args = a
	helpers := min(p.threads, (total+chunk-1)/chunk) - 1
	p.pending.Store(int32(helpers))
	for _, w := range p.workers[:helpers] {
		w.handOut(j)
	}
	j.run(0)
	for n := 0; p.pending.Load() != 0; n++ {
		if n&1023 == 1023 {
			goruntime.Gosched()
		}
	}
	*j = job{}
	p.mu.Unlock()
}

// workerScratch returns a float32 buffer of length n private to worker (-1: a fresh buffer).
func workerScratch(worker, n int) []float32 {
	if worker < 0 {
		return make([]float32, n)
	}
	p := thePool.p
	if cap(p.scratch[worker]) < n {
		p.scratch[worker] = make([]float32, n)
	}
	return p.scratch[worker][:n]
}

// ParallelFor calls fn(lo, hi) for disjoint ranges covering [0, n) on the worker pool and
// returns when all calls have returned. Ranges are handed out dynamically, about four per
// thread. Calls from inside fn (nesting) run serially on the calling goroutine.
func ParallelFor(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := Threads()
	if t == 1 || n == 1 {
		fn(0, n)
		return
	}
	chunk := (n + 4*t - 1) / (4 * t)
	parallel(n, chunk, args{fn: fn}, func(j *job, _, lo, hi int) { j.fn(lo, hi) })
}
