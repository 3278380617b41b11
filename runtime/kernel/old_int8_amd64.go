//go:build !purego

package kernel

// Temporary: the hand-written int8 kernels, renamed, for the differential test against the
// generated ones (old_int8_test.go). Removed once the port is checked.

//go:noescape
func mvQ4VNNIOld(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvQ4VNNI2Old(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, pairs, steps int)

//go:noescape
func mvQ8VNNIOld(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvI4VNNIOld(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvQ4AVX2i8Old(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvQ8AVX2i8Old(y *float32, codes *byte, stride int, scales *byte, nb int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func mvI4AVX2i8Old(y *float32, codes *byte, stride int, xa *int8, corr *int32, dl *float32, rows, steps int)

//go:noescape
func gemm6x32VNNIOld(y *float32, ldy, m, mask0, mask1 int, scale float32, w *int8, ldw int, wd *float32, corr *int32, xp *byte, xd *float32, nb int)

//go:noescape
func quantRowsAVX512Old(q *int8, d *float32, x *float32, nb int) bool

//go:noescape
func expandQ4AVX512Old(dst *int8, corr *int32, cstride int, codes *byte, nb int)

//go:noescape
func expandQ8AVX512Old(dst *int8, corr *int32, cstride int, codes *byte, nb int)
