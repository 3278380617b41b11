package kernel

import (
	"sync"

	"github.com/gemmatool/gemmatool/format"
)

// The exact AVX-512 kernels for the nibble types (Q4_0, I4) read 64 code bytes per step as 16
// dwords and take nibble t (t < 8) of every dword with one shift, so step s, shift t, lane k
// holds the code of column nibCol(s, t, k); the activations are permuted once per call into
// that order, xp[128s+16t+k] = x[nibCol(s, t, k)], so that the kernels need no byte
// unpacking. For Q4_0 (blocks of 16 bytes: low nibbles are columns 0–15, high nibbles 16–31)
// lane k of a step belongs to block 4s+k/4; for I4 (byte c/2, low nibble first) to no block.

// useNib enables the nibble kernels where the CPU has them (tests flip it).
var useNib = true

// nibCol returns the column of step s, shift t, lane k for weights of type t (Q4_0 or I4).
func nibCol(typ format.DType, s, t, k int) int {
	if typ == format.I4 {
		return 128*s + 8*k + t
	}
	return 128*s + 32*(k/4) + 4*(k%4) + t/2 + 16*(t%2)
}

// nibPermGeneric writes xp (a multiple of 128 values) from x: the reference of the permutation.
func nibPermGeneric(xp, x []float32, typ format.DType) {
	for s := range len(xp) / 128 {
		for t := range 8 {
			for k := range 16 {
				xp[128*s+16*t+k] = x[nibCol(typ, s, t, k)]
			}
		}
	}
}

// nibPerm is nibPermGeneric with the inner loops unrolled per type.
func nibPerm(xp, x []float32, typ format.DType) {
	steps := len(xp) / 128
	if typ == format.I4 {
		for s := range steps {
			src, dst := x[128*s:128*s+128], xp[128*s:128*s+128]
			for k := range 16 {
				for t := range 8 {
					dst[16*t+k] = src[8*k+t]
				}
			}
		}
		return
	}
	for s := range steps {
		src, dst := x[128*s:128*s+128], xp[128*s:128*s+128]
		for k := range 16 {
			base := 32*(k/4) + 4*(k%4)
			for t := range 8 {
				dst[16*t+k] = src[base+t/2+16*(t%2)]
			}
		}
	}
}

// xperm holds one call's activations permuted for the Q4_0 and/or the I4 kernels.
type xperm struct {
	q4, i4, q8, b8 []float32 // nil when not prepared (b8: FP8 and SFP8, bytefloat.go)
	bq, bi, b2, bb []float32 // backing buffers
}

var xpermBuf struct {
	sync.Mutex
	xp xperm
}

// getXperm returns x permuted for those of the types ts the nibble or 8-bit float kernels
// run for (nil if none); the caller passes the result to putXperm.
func getXperm(x []float32, ts ...format.DType) *xperm {
	var p *xperm
	n := len(x) &^ 127
	for _, t := range ts {
		if !nibKernels(t, len(x)) {
			continue
		}
		if p == nil {
			p = &xpermBuf.xp
			if !xpermBuf.TryLock() {
				p = new(xperm)
			}
			p.q4, p.i4, p.q8, p.b8 = nil, nil, nil, nil
		}
		dst, buf := &p.q4, &p.bq
		switch t {
		case format.I4:
			dst, buf = &p.i4, &p.bi
		case format.Q8_0:
			dst, buf = &p.q8, &p.b2
		case format.FP8, format.SFP8:
			dst, buf = &p.b8, &p.bb
		}
		if *dst != nil {
			continue
		}
		if cap(*buf) < n {
			*buf = make([]float32, n)
		}
		*dst = (*buf)[:n]
		switch dst {
		case &p.b8:
			b8Perm(*dst, x)
		case &p.q8:
			q8Perm(*dst, x)
		default:
			nibPerm(*dst, x, t)
		}
	}
	return p
}

func putXperm(p *xperm) {
	if p == &xpermBuf.xp {
		xpermBuf.Unlock()
	}
}

// permFor returns p's permuted activations for weights of type t, or nil.
func (p *xperm) permFor(t format.DType) []float32 {
	switch {
	case p == nil:
		return nil
	case t == format.Q4_0:
		return p.q4
	case t == format.I4:
		return p.i4
	case t == format.Q8_0:
		return p.q8
	case t == format.FP8 || t == format.SFP8:
		return p.b8
	}
	return nil
}

// q8Perm writes xp (a multiple of 64 values) for the Q8_0 kernel: step s, byte t of dword k
// is column 64s+4k+t, xp[64s+16t+k] = x[64s+4k+t].
func q8Perm(xp, x []float32) {
	for s := range len(xp) / 64 {
		src, dst := x[64*s:64*s+64], xp[64*s:64*s+64]
		for k := range 16 {
			for t := range 4 {
				dst[16*t+k] = src[4*k+t]
			}
		}
	}
}
