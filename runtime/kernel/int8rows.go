package kernel

// In [ModeInt8], MatVec and MatMul quantize the activations of a call once, per block of 32
// columns (the last block of an I4 row may be shorter):
//
//	d_b = max_{j∈b} |x_j| / 127,  q_j = roundToEven(float32(x_j · (1/d_b)))  (q_j = 0 when d_b = 0)
//
// and takes exact integer dot products with the weight codes, scaled in float32:
//
//	Q8_0, Q4_0: y[r] = Σ_b float32(Σ_{j∈b} w_j·q_j) · (f16(d_w,b)·d_b)      (w_j the signed code)
//	I4:         y[r] = s_r · Σ_b float32(Σ_{j∈b} (nibble_j − 8)·q_j) · d_b
//
// then the per-tensor scale. A block whose max |x| is below 2⁻⁶⁴ quantizes to zero.
//
// Files: actquant*.go quantize the activations (and lay them out for the kernels),
// int8rows*.go take the row products (int8rows_generic.go: one reference per type, and the
// type's int8Ops), int8gemm*.go the prefill. The assembly (generated from _asm/actquant.go,
// int8rows.go, int8gemm.go) computes the same integer sums and only rounds and adds the
// float32 terms in another order (lane partial sums of four or eight codes each; the prefill
// kernel multiplies the I4 row scale into each block's scale). Other weight types, and any
// call whose activations hold NaN or ±Inf, are computed exactly.

// matVecInt8 is MatVec in ModeInt8; false if the activations are not finite (the caller then
// computes exactly).
func matVecInt8(e Exec, y []float32, w *Matrix, x []float32) bool {
	qa := getQact()
	defer putQact(qa)
	if !qa.quantize(w.k.layout, x, 1, len(x), w.k.int8.fill) {
		return false
	}
	rows, cols := len(y), len(x)
	if rows*cols < parallelMinWork || e.Threads == 1 {
		w.k.int8.rows(y, w, qa, 0, 0, rows)
		return true
	}
	chunk := max(16, (rows/(2*e.Threads)+15)&^15)
	parallel(e.Threads, rows, chunk, args{y: y, w: w, qa: qa}, func(j *job, _, lo, hi int) {
		j.w.k.int8.rows(j.y, j.w, j.qa, 0, lo, hi)
	})
	return true
}

// int8Tile is the most weight rows a MatMul task keeps hot in cache while it runs through a
// group of int8Acts activation rows; int8TileBytes bounds their bytes (int8TileOf), so that
// long rows (ffn_down) and the activations they meet stay in L2 together.
const (
	int8Tile      = 64
	int8TileBytes = 128 << 10
	int8Acts      = 32
	// multiActs is the activation rows of a multi-row kernel call (int8Impl.multi).
	multiActs = 4
)

// int8TileOf returns the weight rows of w's MatMul tiles: int8Tile, or fewer (an even number,
// at least 8) when they would hold more than int8TileBytes.
func int8TileOf(w *Matrix) int {
	return max(8, min(int8Tile, int8TileBytes/max(1, int(w.Layout.RowStride)))&^1)
}

// matMulInt8 is MatMul in ModeInt8; false if the activations are not finite.
func matMulInt8(e Exec, y []float32, w *Matrix, x []float32, n int) bool {
	if w.k.int8.useGemm(n) {
		return matMulInt8Gemm(e, y, w, x, n)
	}
	qa := getQact()
	defer putQact(qa)
	// The multi-row kernel reads the per-lane corr and dl (packMulti) that the one-row VNNI
	// kernels derive themselves.
	fill, multi := w.k.int8.fill, w.k.int8.multi != nil && n >= multiActs
	if multi {
		fill = fillAll
	}
	if !qa.quantize(w.k.layout, x, n, w.Cols(), fill) {
		return false
	}
	if multi && qa.colsA > 0 {
		qa.packMulti(n)
	}
	rows, tile := w.Rows(), int8TileOf(w)
	tiles := (rows + tile - 1) / tile
	chunk := max(1, tiles/(4*e.Threads))
	if rows*w.Cols()*n < parallelMinWork {
		chunk = tiles
	}
	parallel(e.Threads, tiles, chunk, args{y: y, w: w, qa: qa, n: n}, func(j *job, _, lo, hi int) {
		rows, tile := j.w.Rows(), int8TileOf(j.w)
		r0, r1 := lo*tile, min(hi*tile, rows)
		multi := j.qa.groups > 0 // the rows of whole groups were packed for the multi-row kernel
		for a0 := 0; a0 < j.n; a0 += int8Acts {
			for r := r0; r < r1; r += tile {
				end, i := min(a0+int8Acts, j.n), a0
				for ; multi && i+multiActs <= end; i += multiActs {
					j.w.k.int8.multi(j.y, j.w, j.qa, i, r, min(r+tile, r1))
				}
				for ; i < end; i++ {
					j.w.k.int8.rows(j.y[i*rows:(i+1)*rows], j.w, j.qa, i, r, min(r+tile, r1))
				}
			}
		}
	})
	return true
}
