package kernel

import (
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// job is one parallel loop over [0, total) in chunks. The pool reuses a single job value, so
// starting a loop allocates nothing; body is a static function and the arguments of the
// package's own kernels travel in the fields below instead of a closure.
//
// Chunks are claimed from state, which holds the loop's generation (high 32 bits) and the next
// unclaimed index (low 32 bits); a claim is a compare-and-swap that fails once the loop is
// finished or replaced, so a helper that wakes late never runs a stale or foreign chunk. The
// caller waits for done to reach total (every claimed chunk finished), not for the helpers
// themselves: a helper the OS has not scheduled yet costs nothing.
type job struct {
	body  func(j *job, worker, lo, hi int)
	total atomic.Int64
	chunk atomic.Int64
	state atomic.Uint64
	done  atomic.Int64
	// fault holds the first memory fault a chunk hit (a mapped weight file truncated while in
	// use), re-raised on the calling goroutine when the loop ends.
	fault atomic.Pointer[faultValue]
	// threads is the loop's thread count: workers with an index at or above it stay out.
	threads atomic.Int64

	args
}

// faultValue is a recovered memory-fault panic value.
type faultValue struct{ v any }

// args are the operands of one parallel loop.
type args struct {
	fn   func(lo, hi int) // ParallelFor
	y, x []float32        // matVec, matMul
	xp   []float32        // matVec: x permuted for the nibble kernels (nibble.go)
	w    *Matrix
	n    int

	packed []float32 // matMulTiled: packed activation panels
	mr, nr int
	kern   microKernel

	qa *qact // ModeInt8: quantized activations

	mv multi // MatVecMulti
}

// noClaims is the index part of a state that admits no claims.
const noClaims = 1<<32 - 1

// maxTotal bounds the range of one pooled loop so that indices fit the low half of state.
const maxTotal = 1 << 31

func (j *job) run(worker int, gen uint32) {
	for {
		v := j.state.Load()
		if uint32(v>>32) != gen {
			return
		}
		lo, total, chunk := int(uint32(v)), int(j.total.Load()), int(j.chunk.Load())
		if lo >= total {
			return
		}
		hi := min(lo+chunk, total)
		if !j.state.CompareAndSwap(v, v+uint64(hi-lo)) {
			continue
		}
		j.chunkBody(worker, lo, hi)
		j.done.Add(int64(hi - lo))
	}
}

// chunkBody runs one chunk. A memory fault in it (turned into a panic by
// debug.SetPanicOnFault, which every helper sets and a guarded caller sets) is recorded for
// the caller instead of killing the process on a helper goroutine; other panics propagate.
func (j *job) chunkBody(worker, lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			j.fault.CompareAndSwap(nil, &faultValue{r})
		}
	}()
	j.body(j, worker, lo, hi)
}

// raiseFault re-panics, on the calling goroutine, a fault a chunk of j recorded.
func (j *job) raiseFault() {
	if f := j.fault.Swap(nil); f != nil {
		panic(f.v)
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
	gen     atomic.Uint32 // generation of the current loop; helpers wait for it to change
	job     job
	scratch [][]float32 // per-worker buffers, grown on demand under mu
}

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

// spinWait is how long an idle worker polls for the next loop before parking.
const spinWait = 200 * time.Microsecond

// thePool is the process's one worker pool. It is a resource, not a setting: it grows to the
// largest thread count a caller has asked for, and each loop uses as many of its workers as
// that loop's [Exec] says.
var thePool struct {
	once sync.Once
	p    *pool
}

func getPool() *pool {
	thePool.once.Do(func() { thePool.p = newPool(goruntime.GOMAXPROCS(0)) })
	return thePool.p
}

func newPool(n int) *pool {
	p := &pool{threads: 1, scratch: make([][]float32, 1)}
	p.grow(n)
	return p
}

// grow adds workers until the pool runs n threads; the caller holds mu (or owns p alone).
func (p *pool) grow(n int) {
	for i := p.threads; i < n; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.scratch = append(p.scratch, nil)
		go p.loop(w, i)
	}
	p.threads = max(p.threads, n)
}

// loop is worker i's life: wait for the next generation (spinning, then parked), take part
// in its loop.
func (p *pool) loop(w *worker, i int) {
	debug.SetPanicOnFault(true) // see job.chunkBody
	var last uint32
	for {
		if !w.await(&p.gen, last) {
			return
		}
		last = p.gen.Load()
		if int64(i) < p.job.threads.Load() {
			p.job.run(i, last)
		}
	}
}

// await returns when gen differs from last (false if the wake channel was closed).
func (w *worker) await(gen *atomic.Uint32, last uint32) bool {
	start := time.Now()
	for n := 0; gen.Load() == last; n++ {
		if n&255 != 255 || time.Since(start) < spinWait {
			continue
		}
		w.sleeping.Store(true)
		if gen.Load() != last {
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

// wakeUp wakes worker w if it parked.
func (w *worker) wakeUp() {
	if w.sleeping.CompareAndSwap(true, false) {
		w.wake <- struct{}{}
	}
}

// parallel runs body over [0, total) in chunks of chunk on threads threads of the pool (the
// calling goroutine included). If the pool is busy (a
// nested call from inside a parallel loop, or a concurrent caller) the loop runs on the calling
// goroutine alone, with freshly allocated scratch.
func parallel(threads, total, chunk int, a args, body func(j *job, worker, lo, hi int)) {
	if total <= 0 {
		return
	}
	chunk = max(chunk, 1)
	p := getPool()
	if total >= maxTotal || !p.mu.TryLock() {
		j := &job{body: body, args: a}
		j.total.Store(int64(total))
		j.chunk.Store(int64(chunk))
		j.run(-1, 0)
		j.raiseFault()
		return
	}
	if threads > p.threads {
		p.grow(threads)
	}
	j := &p.job
	gen := p.gen.Load() + 1
	// Close the previous loop to claims before its fields change (a late helper of it then
	// fails its compare-and-swap), then publish the new loop.
	j.state.Store(uint64(gen)<<32 | noClaims)
	j.body, j.args = body, a
	j.total.Store(int64(total))
	j.chunk.Store(int64(chunk))
	j.done.Store(0)
	j.fault.Store(nil)
	j.threads.Store(int64(threads))
	j.state.Store(uint64(gen) << 32)
	p.gen.Store(gen)
	helpers := min(threads, (total+chunk-1)/chunk) - 1
	for _, w := range p.workers[:helpers] {
		w.wakeUp()
	}
	j.run(0, gen)
	for n := 0; j.done.Load() != int64(total); n++ {
		if n&1023 == 1023 {
			goruntime.Gosched()
		}
	}
	f := j.fault.Swap(nil)
	j.body, j.args = nil, args{}
	p.mu.Unlock()
	if f != nil {
		panic(f.v)
	}
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

// ParallelFor calls fn(lo, hi) for disjoint ranges covering [0, n) on e's threads and
// returns when all calls have returned. Ranges are handed out dynamically, about four per
// thread. Calls from inside fn (nesting) run serially on the calling goroutine.
func (e Exec) ParallelFor(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := e.NumThreads()
	if t == 1 || n == 1 {
		fn(0, n)
		return
	}
	chunk := (n + 4*t - 1) / (4 * t)
	parallel(t, n, chunk, args{fn: fn}, func(j *job, _, lo, hi int) { j.fn(lo, hi) })
}
