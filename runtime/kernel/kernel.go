// Package kernel holds the numeric kernels of the runtime: matrix-vector and matrix-matrix
// products that read quantized weights in place from the file mapping, row dequantization, and
// the vector helpers of the decoder's hot loops (dot, axpy, sum of squares, softmax, GELU).
//
// Every kernel has an always-compiled Go reference (the *Generic functions). The CPU features
// the assembly uses (AVX2+FMA+F16C, AVX-512, VNNI, VBMI) are detected once, in one registry
// (features.go; the build tag purego turns assembly off), and the kernel table (table.go)
// lists, per stored type, its implementations best first: exact ones (a matrix–vector row
// routine with its tail and scales, row dequantization, the matrix–matrix product) and, for
// the types [ModeInt8] applies to, int8 ones. [NewMatrix] picks one of each, once, from the
// type, the column count and the enabled features; every product then calls through the
// matrix's entry. Weights keep the payload layout of [format.LayoutOf]: the kernels never
// repack a file. They read the weights where they are: in the file mapping, or in a copy in
// huge-page memory ([Resident], [WeightMemory]), which streams faster.
//
// Adding a stored type:
//  1. Define it in format (DType value, LayoutOf, reference decoder in format.DecodeRow).
//  2. Add its cases to the Go references (dequantRowGeneric in dequant_generic.go,
//     dotRowUnscaled in matvec_generic.go) and list it in registerGeneric (table.go): the type
//     now works everywhere, at reference speed.
//  3. For speed, one generator call per loop shape in _asm: an elemLoader (rows.go, the row
//     loop of element-wise types, both instruction sets), a blockLoader (blocks.go, the row
//     loop over blocks), a dqElemLoader (dequant.go) or a nibLoader (nib.go, the
//     permuted-activation loop); go generate writes the routines and their Go declarations.
//  4. One table entry in registerArch (table_amd64.go): the element list binds a row kernel per
//     instruction set, the dequantization and the one-code decoder of the tails; set rowScaled
//     (and the entry then needs finite row scales: exactImpl.infScale) if the kernels return
//     unscaled sums.
//  5. If ModeInt8 should apply, give it an int8Ops value (int8rows_generic.go: its reference
//     row sum, activation layout (actquant.go), row scale, prefill expansion) and its int8
//     entries in registerArch; a row kernel of an existing loader is one rowsInt8 call in
//     _asm/int8rows.go.
//
// TestEveryImplementationRuns then runs every registered entry the CPU supports against the
// references, and fails for one no configuration reaches.
//
// Numerics: activations and accumulators are float32. The default activation mode ([ModeExact])
// multiplies the exactly decoded weight by the float32 activation; apart from the summation
// order, the only difference from a sequential float32 loop is where a scale is applied (the
// AVX-512 Q4_0/Q8_0 kernels multiply a block's partial sum by its scale, the I4/FP8/SFP8 ones
// the row sum by the row or tensor scale), so results agree with a float64 reference within
// (n+1)·ε₃₂·Σ|wᵢxᵢ|.
//
// Decode calls [MatVec] per weight, or [MatVecMulti] for weights sharing one input (q/k/v,
// gate/up: one parallel loop, one activation quantization).
//
// The package keeps no settings. Every product is a method of an [Exec], a plain value the
// caller owns (a runtime session holds one) that names the activation mode and the thread
// count of its calls; two sessions with different modes or thread counts can run interleaved
// in one process. Parallel kernels run on one persistent worker pool, which grows to the
// largest thread count asked for; they create no goroutines and allocate nothing per call.
package kernel

import (
	"fmt"
	"math"
	goruntime "runtime"

	"github.com/gemmatool/gemmatool/format"
)

// Matrix is a weight read in place from the file mapping: Rows × Cols elements (Cols is the
// "in" axis of an HF [out, in] weight) in the payload layout of [format.LayoutOf].
type Matrix struct {
	DType  format.DType
	Layout format.Layout
	Data   []byte
	// Scale is the per-tensor scale (1 when unused; SFP8 always has one): every decoded value
	// is multiplied by it, as format.DecodeRow does.
	Scale float32

	k *kernels // the kernel table entry chosen by NewMatrix (table.go)
}

// maxDim bounds Rows and Cols so that row offsets fit an int on every platform we build for
// and the asm kernels can use 32-bit loop counters for a row.
const maxDim = 1 << 31

// NewMatrix describes the payload data of a tensor of type t and shape as a [Matrix]. It checks
// that data holds at least Layout.Size bytes. The data is not copied. The matrix's kernels are
// chosen here, once, from the type, the shape, the CPU and (for the entries that need finite
// scales) the scales; a Matrix must come from NewMatrix
// (a copy of one keeps its kernels).
func NewMatrix(t format.DType, shape []int64, data []byte, scale float32) (*Matrix, error) {
	l, err := format.LayoutOf(t, shape)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	if l.Rows > maxDim || l.Cols > maxDim {
		return nil, fmt.Errorf("kernel: %v matrix %d×%d: dimension above %d", t, l.Rows, l.Cols, int64(maxDim))
	}
	if int64(len(data)) < l.Size {
		return nil, fmt.Errorf("kernel: %v matrix %d×%d: payload is %d bytes, want %d", t, l.Rows, l.Cols, len(data), l.Size)
	}
	if math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) {
		return nil, fmt.Errorf("kernel: %v matrix: tensor scale is %v", t, scale)
	}
	w := &Matrix{DType: t, Layout: l, Data: data[:l.Size], Scale: scale}
	if w.k, err = chooseKernels(w); err != nil {
		return nil, err
	}
	return w, nil
}

// Rows returns the number of rows (output features).
func (w *Matrix) Rows() int { return int(w.Layout.Rows) }

// Cols returns the number of columns (input features).
func (w *Matrix) Cols() int { return int(w.Layout.Cols) }

// WeightBytes returns the payload bytes a full product reads (codes and scales).
func (w *Matrix) WeightBytes() int64 { return w.Layout.Size }

// Exec says how the products of one caller run. The zero value computes exactly ([ModeExact])
// on GOMAXPROCS threads.
type Exec struct {
	// Mode is the activation mode of MatVec, MatMul, MatVecMulti and MatVecGLU.
	Mode ActivationMode
	// Threads is the number of threads a parallel loop uses, the calling goroutine included;
	// below 1 means GOMAXPROCS.
	Threads int
}

// NumThreads returns the number of threads e's parallel loops use.
func (e Exec) NumThreads() int {
	if e.Threads < 1 {
		return goruntime.GOMAXPROCS(0)
	}
	return e.Threads
}

// resolved returns e with Threads set to NumThreads.
func (e Exec) resolved() Exec {
	e.Threads = e.NumThreads()
	return e
}

// ActivationMode selects how MatVec and MatMul treat activations.
type ActivationMode int32

const (
	// ModeExact (the default) uses float32 activations and float32 accumulation.
	ModeExact ActivationMode = iota
	// ModeInt8 quantizes the activations of each call to int8 per block of 32 (scale
	// max|x|/127, as llama.cpp's Q8_0 activations) and takes exact integer dot products with
	// Q4_0, Q8_0 and I4 weights (AVX-512 VNNI where available), scaled in float32; other
	// weight types, and activations holding NaN or ±Inf, are computed exactly. The error
	// against ModeExact is at most Σ_b (d_b/2)·Σ_{j∈b}|w_j| plus float32 rounding, d_b the
	// block's activation scale (see int8rows.go).
	ModeInt8
	// ModeBF16 rounds the activations and weights of MatMul and Attention to bfloat16 (round
	// to nearest even) and multiplies them with AVX-512 BF16 dot products (VDPBF16PS: the
	// products of two bf16 values are exact in float32), accumulating in float32; MatVec and
	// the other products compute exactly. Without AVX-512 BF16 (and in purego builds) it is
	// ModeExact. Opt-in for the vision tower (`--vision-act bf16`); see bf16.go.
	ModeBF16
)

// MatVec computes y[r] = Σ_c W[r,c]·x[c] for r in [0, Rows). It panics if len(y) < Rows or
// len(x) < Cols. The work is split across e's threads.
func (e Exec) MatVec(y []float32, w *Matrix, x []float32) {
	rows, cols := w.Rows(), w.Cols()
	if len(y) < rows || len(x) < cols {
		panic(fmt.Sprintf("kernel: MatVec: len(y) = %d, len(x) = %d, want ≥ %d, %d", len(y), len(x), rows, cols))
	}
	matVec(e.resolved(), y[:rows], w, x[:cols])
}

// MatMul computes Y[i*Rows+r] = Σ_c W[r,c]·X[i*Cols+c] for i in [0, n), r in [0, Rows): n
// activation rows at once (prefill, vision tower). It panics if y or x are too short.
func (e Exec) MatMul(y []float32, w *Matrix, x []float32, n int) {
	rows, cols := w.Rows(), w.Cols()
	if n < 0 || len(y) < n*rows || len(x) < n*cols {
		panic(fmt.Sprintf("kernel: MatMul: n = %d, len(y) = %d, len(x) = %d, want ≥ %d, %d", n, len(y), len(x), n*rows, n*cols))
	}
	if n == 0 || rows == 0 {
		return
	}
	if n == 1 {
		matVec(e.resolved(), y[:rows], w, x[:cols])
		return
	}
	matMul(e.resolved(), y[:n*rows], w, x[:n*cols], n)
}
