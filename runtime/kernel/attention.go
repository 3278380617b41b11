package kernel

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// Attention computes bidirectional multi-head attention over n tokens (the vision encoder's):
//
//	out[t, h·hd+d] = Σ_s p_ts·v[s, h·hd+d],  p_ts = softmax_s(scale·Σ_j q[t, h·hd+j]·k[s, h·hd+j])
//
// for every head h < heads; q, k, v and out are [n, heads·hd] row-major: [Exec.AttentionHeads]
// with one dense head per attention head. It panics if a slice is shorter than n·heads·hd.
func (e Exec) Attention(out, q, k, v []float32, n, heads, hd int, scale float32) {
	size := n * heads * hd
	if n < 0 || heads < 0 || hd < 0 || len(out) < size || len(q) < size || len(k) < size || len(v) < size {
		panic(fmt.Sprintf("kernel: Attention: n = %d, heads = %d, hd = %d, len(out, q, k, v) = %d, %d, %d, %d, want ≥ %d",
			n, heads, hd, len(out), len(q), len(k), len(v), size))
	}
	if size == 0 {
		return
	}
	hs := denseHeads(out, q, k, v, n, heads, hd)
	if e.Mode == ModeBF16 {
		if _, _, _, ok := bf16Kernel(); ok {
			// Round q, k and v once, all heads together; the heads' operands are packed from
			// these rows.
			buf := attnDenseBuf.get(3 * size)
			defer attnDenseBuf.put()
			d := &denseBF16{q: buf[:size], k: buf[size : 2*size], v: buf[2*size:], stride: heads * hd}
			src := [3][]float32{q, k, v}
			e.ParallelFor(3*n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					m, t := i/n, i%n
					roundBF16(buf[m*size+t*d.stride:m*size+(t+1)*d.stride], src[m][t*d.stride:(t+1)*d.stride])
				}
			})
			for h := range hs {
				dh := *d
				dh.off = h * hd
				hs[h].dense = &dh
			}
		}
	}
	e.AttentionHeads(hs, scale)
}

// denseBF16 is a dense head's operands rounded to bf16 ([Exec.Attention] in ModeBF16): row t
// of the head's queries, keys and values starts at t·stride+off of q, k and v.
type denseBF16 struct {
	q, k, v     []uint16
	stride, off int
}

var attnDenseBuf scratchBuf[uint16]

// packQueries packs query rows [r0, r0+mr) (zero past rows) into qt, hdp elements per row.
func (d *denseBF16) packQueries(qt []uint16, r0, mr, rows, hd, hdp int) {
	for r := r0; r < r0+mr; r++ {
		dst := qt[(r-r0)*hdp : (r-r0+1)*hdp]
		if r >= rows {
			clear(dst)
			continue
		}
		clear(dst[copy(dst, d.q[r*d.stride+d.off:r*d.stride+d.off+hd]):])
	}
}

// packKeysValues packs keys [u0, u1) into the key panel kp (pairs: at(i, j) = (j/2)·2nr + 2i
// + j%2 for key u0+i, already zero) and their values into the value panels vp (dpan panels of
// np rows: vp[d·np·nr + at(i, u)] = V(u)[d·nr+i], zero past hd).
func (d *denseBF16) packKeysValues(kp, vp []uint16, u0, u1, nr, hd, dpan, np int) {
	// Whole pairs move as words when every row's pairs start at an even index (the buffers are
	// word-aligned: they come from make).
	words := hd%2 == 0 && d.stride%2 == 0 && d.off%2 == 0
	var kp32 []uint32
	if words {
		kp32 = unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(kp))), len(kp)/2)
	}
	for u := u0; u < u1; u++ {
		ku := d.k[u*d.stride+d.off : u*d.stride+d.off+hd]
		at := 2 * (u - u0)
		if words {
			k32 := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(ku))), hd/2)
			for c, x := range k32 {
				kp32[c*nr+at/2] = x
			}
		} else {
			for j := 0; j+1 < hd; j += 2 {
				kp[j*nr+at], kp[j*nr+at+1] = ku[j], ku[j+1]
			}
			if hd%2 != 0 {
				kp[(hd-1)*nr+at] = ku[hd-1]
			}
		}
		vu := d.v[u*d.stride+d.off : u*d.stride+d.off+hd]
		base := (u/2)*2*nr + u%2
		for dp := range dpan {
			vd := vp[dp*np*nr+base : dp*np*nr+base+2*nr-1]
			src := vu[dp*nr : min(hd, (dp+1)*nr)]
			for i, x := range src {
				vd[2*i] = x
			}
			for i := len(src); i < nr; i++ {
				vd[2*i] = 0
			}
		}
	}
}

// denseHeads describes multi-head attention over [n, heads·hd] rows as one AttnHead per head.
func denseHeads(out, q, k, v []float32, n, heads, hd int) []AttnHead {
	stride := heads * hd
	hs := make([]AttnHead, heads)
	for h := range hs {
		off := h * hd
		row := func(x []float32, t int) []float32 { return x[t*stride+off : t*stride+off+hd] }
		hs[h] = AttnHead{Rows: n, Keys: n, HD: hd,
			Query: func(t int) []float32 { return row(q, t) },
			Out:   func(t int) []float32 { return row(out, t) },
			Key:   func(s int, dst []float32) { copy(dst, row(k, s)) },
			Value: func(s int, dst []float32) { copy(dst, row(v, s)) },
		}
	}
	return hs
}

// AttnHead is one attention problem of [Exec.AttentionHeads]: Rows query rows against Keys
// key and value rows, all HD wide. Query row r attends the keys Span(r) = [lo, hi) (every key
// when Span is nil): a causal or windowed mask, an image's bidirectional span, or a group of
// query heads sharing one key/value head (rows r = query·group + head) are all spans. Key and
// Value write row u into dst (HD values; called once per row and call, from several
// goroutines); Query returns row r (read only) and Out the HD values its result goes to.
type AttnHead struct {
	Rows, Keys, HD int
	Query          func(r int) []float32
	Out            func(r int) []float32
	Key, Value     func(u int, dst []float32)
	Span           func(r int) (lo, hi int)

	dense *denseBF16 // the operands already rounded (Exec.Attention in ModeBF16), or nil
}

// AttentionHeads computes, for every head and query row r with span [lo, hi),
//
//	Out(r)[d] = Σ_{lo≤u<hi} p_u·V(u)[d],  p_u = softmax_u(scale·Σ_j Query(r)[j]·K(u)[j])
//
// fused, as flash attention is: per head the keys and values are packed once into the
// microkernel's panels, tiles of query rows meet blocks of keys, the softmax runs on the fly (a
// running maximum and sum per row, the partial outputs rescaled when the maximum grows), and
// blocks outside a tile's spans are skipped; no score matrix is written out. The scores and the
// weighted sums are float32 multiply-add chains through the MatMul microkernel; the result
// differs from scores → softmax → P·V only by float32 rounding. In ModeBF16 (where the CPU has
// AVX-512 BF16) queries, keys, values and weights are rounded to bf16 first. A span must be
// non-empty and within [0, Keys).
func (e Exec) AttentionHeads(heads []AttnHead, scale float32) {
	e = e.resolved()
	if e.Mode == ModeBF16 {
		if mr, nr, kern, ok := bf16Kernel(); ok {
			store, narrow, _ := bf16StoreKernel()
			attentionTiled(e, heads, scale, attnOps[uint16]{mr, nr, 2, kern, bf16Round, store, narrow})
			return
		}
	}
	mr, nr, kern := attnKernel()
	attentionTiled(e, heads, scale, attnOps[float32]{mr, nr, 1, kern, func(x float32) float32 { return x }, nil, nil})
}

// attnKeyBlock is the number of keys a query tile meets at once: a multiple of every
// microkernel's panel width, small enough that the block's packed keys and values (n·(hd +
// hd rounded up to the panel width)·4 bytes, 170 KB at hd = 72) stay in L2 while a chunk of
// query tiles passes over them, and large enough that the rescaling per block is noise (a
// variable so that tests can put block edges inside small cases).
var attnKeyBlock = 256

// attnTilesPerChunk is the largest number of query tiles that share one pass over the keys.
const attnTilesPerChunk = 8

// attnOps is the element type Attention multiplies in: float32 (pair 1) or bf16 (pair 2:
// the microkernel takes columns in pairs, packed panels hold [column/2][row][column%2]).
type attnOps[T float32 | uint16] struct {
	mr, nr, pair int
	kern         func(w *T, ldw int, xp *T, k int, tile *float32)
	conv         func(float32) T
	// store, if not nil (bf16 only), is kern's shape storing its tile in place: the scores go
	// straight into their rows, the weighted values are added to the outputs; narrow (with
	// store) does it for the first nr/2 columns, for a last value panel of at most nr/2 dimensions.
	store, narrow storeKernelBF16
}

// negZeros is a bias of −0 for store (v + (−0) = v): the tile is stored unchanged.
var negZeros = func() (b [64]float32) {
	for i := range b {
		b[i] = negZero
	}
	return b
}()

// bf16Ptr is p as the bf16 pointer of store (T is uint16 whenever store is set).
func bf16Ptr[T float32 | uint16](p *T) *uint16 { return (*uint16)(unsafe.Pointer(p)) }

// at returns the index of element (row i, column j) in a packed panel of nr rows.
func (o attnOps[T]) at(i, j int) int { return (j/o.pair)*o.nr*o.pair + i*o.pair + j%o.pair }

// attnBuf holds the packed operands of one AttentionHeads call (a concurrent call allocates
// its own), so that long prompts do not allocate megabytes per layer.
var attnBuf struct {
	sync.Mutex
	f32 []float32
	b16 []uint16
}

// attnPacked returns n zeroed-on-demand elements of the shared buffer (locked: release
// unlocks) or of a new one.
func attnPacked[T float32 | uint16](n int) (buf []T, release func()) {
	if !attnBuf.TryLock() {
		return make([]T, n), func() {}
	}
	var b any
	switch any(buf).(type) {
	case []float32:
		if cap(attnBuf.f32) < n {
			attnBuf.f32 = make([]float32, n)
		}
		b = attnBuf.f32[:n]
	default:
		if cap(attnBuf.b16) < n {
			attnBuf.b16 = make([]uint16, n)
		}
		b = attnBuf.b16[:n]
	}
	return b.([]T), attnBuf.Unlock
}

// attentionTiled is AttentionHeads with an mr×nr microkernel (mr query rows by nr keys for the
// scores, mr query rows by nr output dimensions for the weighted sums), one head after another.
func attentionTiled[T float32 | uint16](e Exec, heads []AttnHead, scale float32, o attnOps[T]) {
	mr, nr := o.mr, o.nr
	g := make([]attnGeom, 0, len(heads))
	for hi := range heads {
		h := &heads[hi]
		if h.Rows <= 0 {
			continue
		}
		var a attnGeom
		a.h = h
		a.tiles = (h.Rows + mr - 1) / mr
		a.kpan = (h.Keys + nr - 1) / nr
		a.dpan = (h.HD + nr - 1) / nr
		a.hdp = (h.HD + o.pair - 1) / o.pair * o.pair  // query and key width, padded to whole pairs
		a.np = (h.Keys + o.pair - 1) / o.pair * o.pair // value rows, padded to whole pairs
		a.size = a.tiles*mr*a.hdp + a.kpan*nr*a.hdp + a.dpan*a.np*nr
		// Chunks of tiles, at least four per thread where there are enough tiles.
		a.tpc = max(1, min(attnTilesPerChunk, a.tiles/(4*e.NumThreads())))
		a.chunks = (a.tiles + a.tpc - 1) / a.tpc
		g = append(g, a)
	}
	// Heads go in groups whose packed operands fit attnGroupElems (at least one head per
	// group): a group's heads are packed in one parallel loop and computed in another.
	for len(g) > 0 {
		n, size := 1, g[0].size
		for n < len(g) && size+g[n].size <= attnGroupElems {
			size += g[n].size
			n++
		}
		attentionGroup(e, g[:n], size, scale, o)
		g = g[n:]
	}
}

// attnGroupElems bounds the packed operands of one group of heads (elements): four of the
// vision tower's heads (4096 patches, hd 72), 8 MB in bf16.
const attnGroupElems = 4 << 20

// attnGeom is the packing geometry of one head of attentionTiled.
type attnGeom struct {
	h                      *AttnHead
	tiles, kpan, dpan, hdp int
	np, size, tpc, chunks  int
	qs, kp, vp             int // offsets of the head's queries, key panels, value panels
}

// attentionGroup packs and computes a group of heads whose packed operands take size elements.
func attentionGroup[T float32 | uint16](e Exec, g []attnGeom, size int, scale float32, o attnOps[T]) {
	mr, nr := o.mr, o.nr
	buf, release := attnPacked[T](size)
	defer release()
	items, chunks := make([]int, len(g)+1), make([]int, len(g)+1) // prefix sums over the heads
	off := 0
	for i := range g {
		a := &g[i]
		a.qs = off
		a.kp = a.qs + a.tiles*mr*a.hdp
		a.vp = a.kp + a.kpan*nr*a.hdp
		off = a.vp + a.dpan*a.np*nr
		items[i+1] = items[i] + a.kpan + a.tiles
		chunks[i+1] = chunks[i] + a.chunks
	}
	parallel(e.NumThreads(), items[len(g)], max(1, items[len(g)]/(8*e.NumThreads())), args{fn: func(lo, hi int) {
		for i := range g {
			if l, h := max(lo, items[i]), min(hi, items[i+1]); l < h {
				a := &g[i]
				packHead(a, buf[a.qs:a.kp], buf[a.kp:a.vp], buf[a.vp:a.vp+a.dpan*a.np*nr], l-items[i], h-items[i], o)
			}
		}
	}}, func(j *job, _, lo, hi int) { j.fn(lo, hi) })
	// Chunks of all heads, one claim each, the last of a head (under a causal mask the
	// longest) first.
	parallel(e.NumThreads(), chunks[len(g)], 1, args{fn: func(lo, hi int) {
		for c := lo; c < hi; c++ {
			i := 0
			for c >= chunks[i+1] {
				i++
			}
			a := &g[i]
			s := getAttnScratch[T](mr, nr, a.dpan)
			k := a.chunks - 1 - (c - chunks[i])
			t0 := k * a.tpc
			s.chunk(a.h, buf[a.qs:a.kp], buf[a.kp:a.vp], buf[a.vp:a.vp+a.dpan*a.np*nr], a.np, a.hdp, t0, min(a.tiles, t0+a.tpc), a.dpan, scale, o)
			putAttnScratch(s)
		}
	}}, func(j *job, _, lo, hi int) { j.fn(lo, hi) })
}

// packHead packs items [lo, hi) of head a: key panels (with their values) below a.kpan, then
// query tiles. The value rows past Keys (padding to whole pairs) are zeroed with the last
// key panel.
func packHead[T float32 | uint16](a *attnGeom, qs, kp, vp []T, lo, hi int, o attnOps[T]) {
	h := a.h
	mr, nr := o.mr, o.nr
	kpan, dpan, hdp, np := a.kpan, a.dpan, a.hdp, a.np
	defer func() {
		if lo < kpan && hi >= kpan {
			for d := range dpan {
				for u := h.Keys; u < np; u++ {
					for i := range nr {
						vp[d*np*nr+o.at(i, u)] = 0
					}
				}
			}
		}
	}()
	if d := h.dense; d != nil {
		qb, kb, vb := any(qs).([]uint16), any(kp).([]uint16), any(vp).([]uint16)
		for item := lo; item < hi; item++ {
			if item >= kpan {
				d.packQueries(qb[(item-kpan)*mr*hdp:], (item-kpan)*mr, mr, h.Rows, h.HD, hdp)
				continue
			}
			dst := kb[item*nr*hdp : (item+1)*nr*hdp]
			clear(dst)
			d.packKeysValues(dst, vb, item*nr, min(h.Keys, (item+1)*nr), nr, h.HD, dpan, np)
		}
		return
	}
	row := make([]float32, h.HD)
	for item := lo; item < hi; item++ {
		if item >= kpan { // a tile of queries
			for r := (item - kpan) * mr; r < (item-kpan+1)*mr; r++ {
				qt := qs[r*hdp : (r+1)*hdp]
				clear(qt)
				if qf, ok := any(qt).([]float32); ok && r < h.Rows {
					copy(qf, h.Query(r)[:h.HD])
				} else if r < h.Rows {
					for j, x := range h.Query(r)[:h.HD] {
						qt[j] = o.conv(x)
					}
				}
			}
			continue
		}
		p := item
		dst := kp[p*nr*hdp : (p+1)*nr*hdp]
		clear(dst)
		kf, _ := any(dst).([]float32)
		vf, _ := any(vp).([]float32)
		for u := p * nr; u < min(h.Keys, (p+1)*nr); u++ {
			h.Key(u, row)
			if kf != nil { // float32: at(i, j) = j·nr + i
				for j, x := range row {
					kf[j*nr+u-p*nr] = x
				}
			} else { // pairs: at(i, j) = (j/2)·2nr + 2i + j%2
				at := 2 * (u - p*nr)
				for j := 0; j+1 < len(row); j += 2 {
					dst[j*nr+at], dst[j*nr+at+1] = o.conv(row[j]), o.conv(row[j+1])
				}
				if len(row)%2 != 0 {
					j := len(row) - 1 // even
					dst[j*nr+at] = o.conv(row[j])
				}
			}
			h.Value(u, row)
			for d := range dpan {
				if vf != nil { // float32: the panel's row u is row[d·nr : d·nr+nr], zero-padded
					vd := vf[d*np*nr+u*nr : d*np*nr+(u+1)*nr]
					clear(vd[copy(vd, row[d*nr:min(h.HD, (d+1)*nr)]):])
					continue
				}
				vd := vp[d*np*nr+o.at(0, u):] // pairs: at(i, u) = at(0, u) + 2i
				for i := range nr {
					var x float32
					if j := d*nr + i; j < h.HD {
						x = row[j]
					}
					vd[2*i] = o.conv(x)
				}
			}
		}
	}
}

// attnScratch is one thread's state for a chunk of query tiles: the scores of one tile
// against one key block and their exponentials as the microkernel's operand, the
// microkernel's tile, and per query row its span, running maximum, sum and unnormalised output.
type attnScratch[T float32 | uint16] struct {
	s, tile []float32
	p       []T
	o       []float32 // [attnTilesPerChunk·mr][dpan·nr]
	m       []float32
	l       []float64
	lo, hi  []int // the rows' spans; per tile, their union in tlo, thi
	tlo     []int
	thi     []int
	// the shape the buffers were made for
	mr, nr, dpan, bk int
}

// attnScratchPool keeps attnScratch values between calls (fresh ones cost page faults).
var attnScratchPool [2]sync.Pool // float32, bf16

// getAttnScratch returns a pooled or new attnScratch for an mr×nr microkernel and dpan value
// panels; putAttnScratch returns it.
func getAttnScratch[T float32 | uint16](mr, nr, dpan int) *attnScratch[T] {
	p := &attnScratchPool[unsafe.Sizeof(T(0))/2-1]
	if a, ok := p.Get().(*attnScratch[T]); ok && a.mr == mr && a.nr == nr && a.dpan == dpan && a.bk == attnKeyBlock {
		return a
	}
	return newAttnScratch[T](mr, nr, dpan)
}

func putAttnScratch[T float32 | uint16](a *attnScratch[T]) {
	attnScratchPool[unsafe.Sizeof(T(0))/2-1].Put(a)
}

func newAttnScratch[T float32 | uint16](mr, nr, dpan int) *attnScratch[T] {
	rows := attnTilesPerChunk * mr
	a := &attnScratch[T]{mr: mr, nr: nr, dpan: dpan, bk: attnKeyBlock,
		s: make([]float32, mr*attnKeyBlock), tile: make([]float32, mr*nr),
		o: make([]float32, rows*dpan*nr), m: make([]float32, rows), l: make([]float64, rows),
		lo: make([]int, rows), hi: make([]int, rows), tlo: make([]int, attnTilesPerChunk), thi: make([]int, attnTilesPerChunk),
	}
	if p, ok := any(a.s).([]T); ok {
		a.p = p // float32: the exponentials stay where the scores were
	} else {
		a.p = make([]T, mr*attnKeyBlock)
	}
	return a
}

// chunk computes query tiles [t0, t1) of head h into h.Out.
func (a *attnScratch[T]) chunk(h *AttnHead, qs, kp, vp []T, np, hdp, t0, t1, dpan int, sc float32, o attnOps[T]) {
	mr, nr, bk := o.mr, o.nr, attnKeyBlock
	pb, _ := any(a.p).([]uint16) // bf16: the weights go there; float32 multiplies the scores' buffer itself
	w := dpan * nr
	rows := (t1 - t0) * mr
	clear(a.o[:rows*w])
	clear(a.l[:rows])
	clo, chi := h.Keys, 0 // the chunk's keys
	for t := range t1 - t0 {
		a.tlo[t], a.thi[t] = h.Keys, 0
		for r := t * mr; r < (t+1)*mr; r++ {
			a.m[r] = float32(math.Inf(-1))
			lo, hi := 0, 0
			if gr := t0*mr + r; gr < h.Rows {
				lo, hi = 0, h.Keys
				if h.Span != nil {
					lo, hi = h.Span(gr)
					lo, hi = max(lo, 0), min(hi, h.Keys)
				}
			}
			a.lo[r], a.hi[r] = lo, hi
			if lo < hi {
				a.tlo[t], a.thi[t] = min(a.tlo[t], lo), max(a.thi[t], hi)
			}
		}
		clo, chi = min(clo, a.tlo[t]), max(chi, a.thi[t])
	}
	for s0 := clo / bk * bk; s0 < chi; s0 += bk {
		bl := min(bk, h.Keys-s0)
		for t := range t1 - t0 {
			// The tile's keys in this block, widened to whole panels: [kb, ke) from s0.
			kb, ke := max(a.tlo[t], s0)-s0, min(a.thi[t], s0+bl)-s0
			if kb >= ke {
				continue
			}
			kb, ke = kb/nr*nr, min(bl, (ke+nr-1)/nr*nr)
			base := t * mr
			qt := &qs[(t0+t)*mr*hdp]
			// Scores of the tile's mr rows against the block's keys, nr at a time.
			for p := kb / nr; p*nr < ke; p++ {
				if o.store != nil {
					o.store(bf16Ptr(qt), hdp, bf16Ptr(&kp[(s0/nr+p)*nr*hdp]), hdp/o.pair, &a.s[p*nr], bk, &negZeros[0], 0)
					continue
				}
				o.kern(qt, hdp, &kp[(s0/nr+p)*nr*hdp], hdp/o.pair, &a.tile[0])
				for r := range mr {
					copy(a.s[r*bk+p*nr:r*bk+(p+1)*nr], a.tile[r*nr:(r+1)*nr])
				}
			}
			// Online softmax over each row's span: shift by the running maximum, rescale what
			// came before; weights outside the span are zero.
			for r := range mr {
				row := a.s[r*bk+kb : r*bk+ke]
				var pr []uint16
				if pb != nil {
					pr = pb[r*bk+kb : r*bk+bk]
				}
				lo, hi := max(a.lo[base+r]-s0, kb), min(a.hi[base+r]-s0, ke)
				switch {
				case lo >= hi && pr != nil:
					clear(pr[:ke-kb])
				case lo >= hi:
					clear(row)
				default:
					mOld := a.m[base+r]
					var mNew float32
					var sum float64
					if pr != nil { // the scale, maximum, exp and rounding in one pass (softmaxRowBF16)
						clear(pr[:lo-kb])
						clear(pr[hi-kb : ke-kb])
						mNew, sum = softmaxRowBF16(pr[lo-kb:hi-kb], row[lo-kb:hi-kb], sc, mOld)
					} else {
						clear(row[:lo-kb])
						clear(row[hi-kb:])
						span := row[lo-kb : hi-kb]
						scale(span, sc) // the dot products, then the scale, as the reference rounds them
						mNew = max(mOld, rowMax(span))
						sum = expSumShift(span, mNew)
					}
					if mNew != mOld {
						alpha := float32(0)
						if !math.IsInf(float64(mOld), -1) {
							alpha = expf32(mOld - mNew)
						}
						a.l[base+r] *= float64(alpha)
						scale(a.o[(base+r)*w:(base+r+1)*w], alpha)
						a.m[base+r] = mNew
					}
					a.l[base+r] += sum
				}
				if pr != nil && (ke-kb)%2 != 0 {
					pr[ke-kb] = 0
				}
			}
			// Weighted values: o[tile rows][dims] += P·V over the block's keys [kb, ke), nr
			// dimensions at a time.
			for d := range dpan {
				if st := o.store; st != nil {
					if h.HD-d*nr <= nr/2 && o.narrow != nil {
						st = o.narrow
					}
					st(bf16Ptr(&a.p[kb]), bk, bf16Ptr(&vp[d*np*nr+(s0+kb)*nr]), (ke-kb+o.pair-1)/o.pair, &a.o[base*w+d*nr], w, &negZeros[0], 1)
					continue
				}
				o.kern(&a.p[kb], bk, &vp[d*np*nr+(s0+kb)*nr], (ke-kb+o.pair-1)/o.pair, &a.tile[0])
				for r := range mr {
					add(a.o[(base+r)*w+d*nr:(base+r)*w+(d+1)*nr], a.tile[r*nr:(r+1)*nr])
				}
			}
		}
	}
	for r := range rows {
		gr := t0*mr + r
		if gr >= h.Rows {
			break
		}
		inv := float32(1 / a.l[r])
		for j, dst := 0, h.Out(gr)[:h.HD]; j < len(dst); j++ {
			dst[j] = a.o[r*w+j] * inv
		}
	}
}

// rowMaxGeneric returns the maximum of x (NaN if x holds one, as the softmax reference).
func rowMaxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	return m
}

// attentionGeneric is the reference of Attention: per head and query, the scores in float64,
// the softmax and the weighted sum in float64.
func attentionGeneric(out, q, k, v []float32, n, heads, hd int, scale float32) {
	stride := heads * hd
	p := make([]float64, n)
	for h := range heads {
		off := h * hd
		for t := range n {
			m := math.Inf(-1)
			for s := range n {
				var dot float64
				for j := range hd {
					dot += float64(q[t*stride+off+j]) * float64(k[s*stride+off+j])
				}
				p[s] = dot * float64(scale)
				m = max(m, p[s])
			}
			var sum float64
			for s := range p {
				p[s] = math.Exp(p[s] - m)
				sum += p[s]
			}
			for j := range hd {
				var acc float64
				for s := range n {
					acc += p[s] * float64(v[s*stride+off+j])
				}
				out[t*stride+off+j] = float32(acc / sum)
			}
		}
	}
}

// gemmTileFunc returns the Go microkernel of shape mr×nr (the builds without assembly):
// gemmTileGeneric (gemm_generic.go) over the tile's slices.
func gemmTileFunc(mr, nr int) microKernel {
	return func(w *float32, ldw int, xp *float32, k int, tile *float32) {
		gemmTileGeneric(unsafe.Slice(w, (mr-1)*ldw+k), ldw, unsafe.Slice(xp, nr*k), k, unsafe.Slice(tile, mr*nr), mr, nr)
	}
}

// expSumShiftGeneric is x[i] = expf32(x[i] − m), returning Σ x[i] (float64).
func expSumShiftGeneric(x []float32, m float32) float64 {
	var sum float64
	for i, v := range x {
		e := expf32(v - m)
		x[i] = e
		sum += float64(e)
	}
	return sum
}
