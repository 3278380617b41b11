package kernel

import (
	"fmt"
	"math"
	"unsafe"
)

// Attention computes bidirectional multi-head attention over n tokens (the vision encoder's):
//
//	out[t, h·hd+d] = Σ_s p_ts·v[s, h·hd+d],  p_ts = softmax_s(scale·Σ_j q[t, h·hd+j]·k[s, h·hd+j])
//
// for every head h < heads; q, k, v and out are [n, heads·hd] row-major. It is fused: per head,
// tiles of queries meet blocks of keys, the softmax runs on the fly (a running maximum and
// sum per query, the partial outputs rescaled when the maximum grows), and no n×n score
// matrix is written out. The scores and the weighted sums are float32 multiply-add chains
// through the MatMul microkernel; the result differs from scores → softmax → P·V only by
// float32 rounding. It panics if a slice is shorter than n·heads·hd.
func (e Exec) Attention(out, q, k, v []float32, n, heads, hd int, scale float32) {
	size := n * heads * hd
	if n < 0 || heads < 0 || hd < 0 || len(out) < size || len(q) < size || len(k) < size || len(v) < size {
		panic(fmt.Sprintf("kernel: Attention: n = %d, heads = %d, hd = %d, len(out, q, k, v) = %d, %d, %d, %d, want ≥ %d",
			n, heads, hd, len(out), len(q), len(k), len(v), size))
	}
	if size == 0 {
		return
	}
	e = e.resolved()
	if e.Mode == ModeBF16 {
		if mr, nr, kern, ok := bf16Kernel(); ok {
			attentionTiled(e, out, q, k, v, n, heads, hd, scale, attnOps[uint16]{mr, nr, 2, kern, bf16Round})
			return
		}
	}
	mr, nr, kern := attnKernel()
	attentionTiled(e, out, q, k, v, n, heads, hd, scale, attnOps[float32]{mr, nr, 1, kern, func(x float32) float32 { return x }})
}

// attnKeyBlock is the number of keys a query tile meets at once: a multiple of every
// microkernel's panel width, small enough that the block's packed keys and values (n·(hd +
// hd rounded up to the panel width)·4 bytes, 170 KB at hd = 72) stay in L2 while a chunk of
// query tiles passes over them, and large enough that the rescaling per block is noise.
const attnKeyBlock = 256

// attnTilesPerChunk is the number of query tiles that share one pass over the keys.
const attnTilesPerChunk = 8

// attnOps is the element type Attention multiplies in: float32 (pair 1) or bf16 (pair 2:
// the microkernel takes columns in pairs, packed panels hold [column/2][row][column%2]).
type attnOps[T float32 | uint16] struct {
	mr, nr, pair int
	kern         func(w *T, ldw int, xp *T, k int, tile *float32)
	conv         func(float32) T
}

// at returns the index of element (row i, column j) in a packed panel of nr rows.
func (o attnOps[T]) at(i, j int) int { return (j/o.pair)*o.nr*o.pair + i*o.pair + j%o.pair }

// attentionTiled is Attention with an mr×nr microkernel (mr queries by nr keys for the scores,
// mr queries by nr output dimensions for the weighted sums).
func attentionTiled[T float32 | uint16](e Exec, out, q, k, v []float32, n, heads, hd int, scale float32, o attnOps[T]) {
	mr, nr := o.mr, o.nr
	stride := heads * hd
	tiles := (n + mr - 1) / mr
	kpan := (n + nr - 1) / nr
	dpan := (hd + nr - 1) / nr
	hdp := (hd + o.pair - 1) / o.pair * o.pair  // query and key width, padded to whole pairs
	np := (n + o.pair - 1) / o.pair * o.pair    // value rows, padded to whole pairs
	qs := make([]T, max(tiles*mr, kpan*nr)*hdp) // the head's queries ·scale, zero rows past n
	kp := make([]T, kpan*nr*hdp)                // key panels: kp[p][at(i, j)] = k[p·nr+i, j]
	vp := make([]T, dpan*np*nr)                 // value panels: vp[dp][at(i, s)] = v[s, dp·nr+i]
	for h := range heads {
		off := h * hd
		e.ParallelFor(kpan, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				dst := kp[p*nr*hdp : (p+1)*nr*hdp]
				clear(dst)
				for t := p * nr; t < (p+1)*nr; t++ {
					qt := qs[t*hdp : (t+1)*hdp]
					clear(qt)
					if t >= n {
						continue
					}
					for j, x := range k[t*stride+off : t*stride+off+hd] {
						dst[o.at(t-p*nr, j)] = o.conv(x)
					}
					for j, x := range q[t*stride+off : t*stride+off+hd] {
						qt[j] = o.conv(x * scale)
					}
					for d := range dpan {
						vd := vp[d*np*nr : (d+1)*np*nr]
						for i := range nr {
							var x float32
							if j := d*nr + i; j < hd {
								x = v[t*stride+off+j]
							}
							vd[o.at(i, t)] = o.conv(x)
						}
					}
				}
			}
		})
		for d := range dpan {
			for t := n; t < np; t++ {
				for i := range nr {
					vp[d*np*nr+o.at(i, t)] = 0
				}
			}
		}
		for t := kpan * nr; t < tiles*mr; t++ {
			clear(qs[t*hdp : (t+1)*hdp])
		}
		chunks := (tiles + attnTilesPerChunk - 1) / attnTilesPerChunk
		e.ParallelFor(chunks, func(lo, hi int) {
			a := newAttnScratch[T](mr, nr, dpan)
			for c := lo; c < hi; c++ {
				t0 := c * attnTilesPerChunk
				a.chunk(out[off:], qs, kp, vp, n, np, stride, hd, hdp, t0, min(tiles, t0+attnTilesPerChunk), dpan, o)
			}
		})
	}
}

// attnScratch is one thread's state for a chunk of query tiles: the scores of one tile
// against one key block and their exponentials as the microkernel's operand, the
// microkernel's tile, and per query the running maximum, sum and unnormalised output.
type attnScratch[T float32 | uint16] struct {
	s, tile []float32
	p       []T
	o       []float32 // [attnTilesPerChunk·mr][dpan·nr]
	m       []float32
	l       []float64
}

func newAttnScratch[T float32 | uint16](mr, nr, dpan int) *attnScratch[T] {
	rows := attnTilesPerChunk * mr
	a := &attnScratch[T]{
		s: make([]float32, mr*attnKeyBlock), tile: make([]float32, mr*nr),
		o: make([]float32, rows*dpan*nr), m: make([]float32, rows), l: make([]float64, rows),
	}
	if p, ok := any(a.s).([]T); ok {
		a.p = p // float32: the exponentials stay where the scores were
	} else {
		a.p = make([]T, mr*attnKeyBlock)
	}
	return a
}

// chunk computes query tiles [t0, t1) of one head into out (out[t·stride+d] for t < n).
func (a *attnScratch[T]) chunk(out []float32, qs, kp, vp []T, n, np, stride, hd, hdp, t0, t1, dpan int, o attnOps[T]) {
	mr, nr := o.mr, o.nr
	w := dpan * nr
	rows := (t1 - t0) * mr
	clear(a.o[:rows*w])
	clear(a.l[:rows])
	for i := range a.m[:rows] {
		a.m[i] = float32(math.Inf(-1))
	}
	for s0 := 0; s0 < n; s0 += attnKeyBlock {
		bl := min(attnKeyBlock, n-s0)
		for t := t0; t < t1; t++ {
			base := (t - t0) * mr
			qt := &qs[t*mr*hdp]
			// Scores of the tile's mr queries against the block's keys, nr at a time.
			for p := 0; p*nr < bl; p++ {
				o.kern(qt, hdp, &kp[(s0/nr+p)*nr*hdp], hdp/o.pair, &a.tile[0])
				for r := range mr {
					copy(a.s[r*attnKeyBlock+p*nr:r*attnKeyBlock+(p+1)*nr], a.tile[r*nr:(r+1)*nr])
				}
			}
			// Online softmax: shift each row by its running maximum and rescale what came before.
			for r := range mr {
				row := a.s[r*attnKeyBlock : r*attnKeyBlock+bl]
				mOld := a.m[base+r]
				mNew := max(mOld, rowMax(row))
				sum := expSumShift(row, mNew)
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
				if o.pair == 2 { // bf16: the weights rounded; float32 multiplies the scores' buffer itself
					pr := any(a.p).([]uint16)[r*attnKeyBlock : r*attnKeyBlock+attnKeyBlock]
					roundBF16(pr, row)
					if bl%2 != 0 {
						pr[bl] = 0
					}
				}
			}
			// Weighted values: o[tile rows][dims] += P·V over the block, nr dimensions at a time.
			for d := range dpan {
				o.kern(&a.p[0], attnKeyBlock, &vp[d*np*nr+s0*nr], (bl+o.pair-1)/o.pair, &a.tile[0])
				for r := range mr {
					add(a.o[(base+r)*w+d*nr:(base+r)*w+(d+1)*nr], a.tile[r*nr:(r+1)*nr])
				}
			}
		}
	}
	for t := t0 * mr; t < min(n, t1*mr); t++ {
		r := t - t0*mr
		inv := float32(1 / a.l[r])
		dst := out[t*stride : t*stride+hd]
		for j := range dst {
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
