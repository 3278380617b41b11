package kernel

import "unsafe"

// multiStep is the bytes of one step (128 columns) of multiActs packed activation rows.
const multiStep = multiActs * (128 + 64 + 64)

// packMulti packs the assembly layout (xa, corr, dl) of activation rows [0, 4·⌊n/4⌋) of qa,
// by groups of multiActs rows, per step into qa.xm for the multi-row kernel (_asm/int8multi.go):
// step k of group g at xm[(g·steps+k)·multiStep:], row a of the group 256·a bytes into it,
// its 128 bytes of xa, then 16 int32 of corr and 16 float32 of dl. Only the 16-lane layout
// (Q4_0) has a multi-row kernel.
func (qa *qact) packMulti(n int) {
	steps := qa.colsA / 128
	groups := n / multiActs
	size := groups * steps * multiStep
	if cap(qa.xm) < size {
		qa.xm = make([]byte, size)
	}
	qa.xm = qa.xm[:size]
	for i := range groups * multiActs {
		g, a := i/multiActs, i%multiActs
		xa := unsafe.Slice((*byte)(unsafe.Pointer(&qa.xa[i*qa.colsA])), qa.colsA)
		corr := unsafe.Slice((*byte)(unsafe.Pointer(&qa.corr[i*qa.lanes])), 4*qa.lanes)
		dl := unsafe.Slice((*byte)(unsafe.Pointer(&qa.dl[i*qa.lanes])), 4*qa.lanes)
		for k := range steps {
			p := qa.xm[(g*steps+k)*multiStep+256*a:]
			copy(p[:128], xa[128*k:])
			copy(p[128:192], corr[64*k:])
			copy(p[192:256], dl[64*k:])
		}
	}
	qa.groups = groups
}
