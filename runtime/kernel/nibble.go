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

// permKind names an order the activations are permuted into for a kernel.
type permKind uint8

const (
	permNone permKind = iota // x as is
	permQ4                   // nibCol order of Q4_0
	permI4                   // nibCol order of I4
	permQ8                   // q8Perm order
	permB8                   // b8Col order (FP8, SFP8)
	numPerms
)

// xperm holds one call's activations permuted for the kernels that want them.
type xperm struct {
	p       [numPerms][]float32 // nil when not prepared
	backing [numPerms][]float32
}

var xpermBuf struct {
	sync.Mutex
	xp xperm
}

// getXperm returns x permuted into each of the orders ks (permNone entries are skipped; nil
// if none remain); the caller passes the result to putXperm.
func getXperm(x []float32, ks ...permKind) *xperm {
	var p *xperm
	n := len(x) &^ 127
	for _, k := range ks {
		if k == permNone {
			continue
		}
		if p == nil {
			p = &xpermBuf.xp
			if !xpermBuf.TryLock() {
				p = new(xperm)
			}
			p.p = [numPerms][]float32{}
		}
		if p.p[k] != nil {
			continue
		}
		if cap(p.backing[k]) < n {
			p.backing[k] = make([]float32, n)
		}
		dst := p.backing[k][:n]
		p.p[k] = dst
		switch k {
		case permB8:
			b8Perm(dst, x)
		case permQ8:
			q8Perm(dst, x)
		case permI4:
			nibPerm(dst, x, format.I4)
		case permQ4:
			nibPerm(dst, x, format.Q4_0)
		}
	}
	return p
}

func putXperm(p *xperm) {
	if p == &xpermBuf.xp {
		xpermBuf.Unlock()
	}
}

// permFor returns p's activations in order k, or nil.
func (p *xperm) permFor(k permKind) []float32 {
	if p == nil {
		return nil
	}
	return p.p[k]
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
