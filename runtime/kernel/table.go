package kernel

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gemmatool/gemmatool/format"
)

// The kernel table. Each stored type has a list of implementations of its exact routines
// and, for the types [ModeInt8] applies to, a list of implementations of its int8 routines,
// best first. [NewMatrix] walks both lists once and keeps, in the matrix, the first entry
// whose CPU features are enabled (features.go) and whose column minimum the matrix meets;
// the products then call through that entry, with no dispatch on the type or the CPU.
//
// The generic entries (the Go references) come last in every list and need nothing, so a
// type is supported once it has them; table_amd64.go adds the assembly entries.

// exactImpl is one implementation of a type's exact routines.
type exactImpl struct {
	name    string    // "generic", "avx2", "avx512", "avx512-nib", "avx512-vbmi"
	needs   []feature // CPU features it runs on
	minCols int       // the fewest columns it handles
	nib     bool      // a permuted-activation kernel (nibble.go; tests can switch them off)

	// matVecRows writes y[r] = Σ_c W[r,c]·x[c] for r in [lo, hi): tails, row and tensor
	// scales included. xp is x in the order perm gives (nil for permNone).
	matVecRows func(y []float32, w *Matrix, x, xp []float32, lo, hi int)
	perm       permKind
	// dequantRow writes row r's Cols decoded values, bit-exact with format's decoder.
	dequantRow func(dst []float32, w *Matrix, r int)
	// matMul is MatMul for n ≥ 2 activation rows (e resolved).
	matMul func(e Exec, y []float32, w *Matrix, x []float32, n int)
	// infScale, when set, reports whether the matrix has an infinite scale. Such an entry's
	// kernels factor a scale out of their sums (the row scale of I4 and FP8, the block scales
	// of the permuted-activation Q4_0/Q8_0 kernels): with a finite (or NaN) scale their NaN
	// and ±Inf are the reference's, with an infinite one they are not (0·Inf is NaN per
	// element, not for a sum), so a matrix that has one takes the next entry.
	infScale func(w *Matrix) bool
}

// int8Impl is one implementation of a type's ModeInt8 routines.
type int8Impl struct {
	name  string // "generic", "avx2", "vnni"
	needs []feature
	// fill is what of the assembly activation layout the rows kernel reads (actquant.go).
	fill actFill
	// rows writes the int8-mode products of activation row i of qa for rows [lo, hi).
	rows func(y []float32, w *Matrix, qa *qact, i, lo, hi int)
	// multi, when set, writes those of activation rows [i, i+multiActs) at once (y holds
	// row i's products at y[i·Rows:]), from qa's packed activations (qa.groups > i/multiActs).
	multi func(y []float32, w *Matrix, qa *qact, i, lo, hi int)
	// expand, when set, makes MatMul with at least gemmMin rows (addInt8 makes 0 gemmMinN) use
	// the VNNI prefill kernel (int8gemm.go), with this expansion of the weight rows. Below it
	// the row kernels are faster: the prefill kernel pads the activations to its 32-row tile
	// and expands every weight once per call.
	expand  expandFunc
	gemmMin int
	// ops is the type's int8 operations (references, scales, layout), set by addInt8.
	ops *int8Ops
}

// kernels is a matrix's chosen entry: one exact and (for int8 types) one int8 implementation.
type kernels struct {
	// exact is the exact path's entry ([Matrix.exact]): chosen at creation unless the first
	// entry the CPU features allow needs finite scales (infScale), whose check reads every
	// scale of the matrix; then at the first exact product, from pending in order, so that
	// opening a model whose products all run on the int8 path does not read its scales.
	exact   atomic.Pointer[exactImpl]
	pending []*exactImpl
	once    sync.Once
	int8    *int8Impl // nil: ModeInt8 computes this type exactly
	// layout is the int8 activation layout of the type (valid when int8 != nil).
	layout actLayout
}

var (
	exactImpls = map[format.DType][]*exactImpl{}
	int8Impls  = map[format.DType][]*int8Impl{}
)

func init() {
	registerArch()
	registerGeneric()
}

// addExact and addInt8 register implementations in order of preference (called from init
// functions only).
func addExact(t format.DType, im *exactImpl) { exactImpls[t] = append(exactImpls[t], im) }
func addInt8(t format.DType, im *int8Impl) {
	im.ops = int8OpsOf(t)
	if im.gemmMin == 0 {
		im.gemmMin = gemmMinN
	}
	int8Impls[t] = append(int8Impls[t], im)
}

// generic returns the reference entry of type t.
func genericExact() *exactImpl {
	return &exactImpl{name: "generic", matVecRows: matVecRowsGeneric, dequantRow: dequantRowGeneric, matMul: matMulGeneric}
}

// registerGeneric appends the reference entries of every type, after the assembly ones.
func registerGeneric() {
	for _, t := range []format.DType{format.F32, format.F16, format.BF16, format.Q8_0, format.Q4_0, format.I4, format.FP8, format.SFP8,
		format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_NL} {
		addExact(t, genericExact())
		if o := int8OpsOf(t); o != nil {
			addInt8(t, &int8Impl{name: "generic", rows: int8RowsGeneric(o)})
		}
	}
}

// usable reports whether im can run w under the enabled CPU features, its scales aside.
func (im *exactImpl) usable(w *Matrix) bool {
	return im.minCols <= w.Cols() && allOn(im.needs) && (!im.nib || useNib)
}

// exact returns the exact path's entry of w, choosing it on first use when its choice depends
// on w's scales (kernels.exact).
func (w *Matrix) exact() *exactImpl {
	k := w.k
	if im := k.exact.Load(); im != nil {
		return im
	}
	k.once.Do(func() {
		for _, im := range k.pending {
			if im.infScale == nil || !im.infScale(w) {
				k.exact.Store(im)
				return
			}
		}
	})
	return k.exact.Load()
}

func allOn(fs []feature) bool {
	for _, f := range fs {
		if !f.on() {
			return false
		}
	}
	return true
}

// chooseKernels returns the entry of w (its type, columns and scales) under the enabled CPU
// features.
func chooseKernels(w *Matrix) (*kernels, error) {
	t := w.DType
	k := &kernels{}
	for _, im := range exactImpls[t] {
		if im.usable(w) {
			k.pending = append(k.pending, im)
		}
	}
	if n := len(k.pending); n == 0 || k.pending[n-1].infScale != nil {
		return nil, fmt.Errorf("kernel: no kernels for %v", t)
	}
	if k.pending[0].infScale == nil {
		k.exact.Store(k.pending[0])
		k.pending = nil
	}
	for _, im := range int8Impls[t] {
		if allOn(im.needs) {
			k.int8, k.layout = im, im.ops.layout
			break
		}
	}
	return k, nil
}

// implNames lists, for tests, every registered implementation of type t as "exact/NAME" and
// "int8/NAME".
func implNames(t format.DType) []string {
	var out []string
	for _, im := range exactImpls[t] {
		out = append(out, "exact/"+im.name)
	}
	for _, im := range int8Impls[t] {
		out = append(out, "int8/"+im.name)
	}
	return slices.Compact(out)
}

// useGemm reports whether a ModeInt8 MatMul of n activation rows takes the prefill kernel.
func (im *int8Impl) useGemm(n int) bool { return im.expand != nil && n >= im.gemmMin }
