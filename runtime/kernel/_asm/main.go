// Command _asm generates the amd64 assembly of package kernel with avo: one generator per
// loop shape, parameterised by element loader and instruction set, with the shared
// reductions and constants in reduce.go. Each operation's generator is one entry of ops and
// writes one file pair (NAME_amd64.s and its Go declarations); runtime/kernel's generate.go
// runs it once per operation with -op NAME. .ci/run regenerates and fails if the output
// differs from the committed one.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"

	. "github.com/mmcloughlin/avo/build"
)

// ops maps an operation name (-op) to the function that emits its routines.
var ops = map[string]func(){
	"actquant":    genActQuant,    // actquant.go: the int8 activation quantization
	"int8rows":    genInt8Rows,    // int8rows.go: the int8 row products
	"int8gemm":    genInt8Gemm,    // int8gemm.go: the int8 prefill kernel and weight expansion
	"int8multi":   genInt8Multi,   // int8multi.go: the multi-activation Q4_0 row kernel
	"elem":        genElem,        // rows.go: the row loop of the element-wise types
	"block":       genBlock,       // blocks.go: the row loop over blocks (Q4_0, Q8_0)
	"matvec_nib":  genNib,         // nib.go: the permuted-activation loop
	"dequant":     genDequant,     // dequant.go: a row's decoded values
	"gemm":        genGemm,        // gemm.go: the f32 prefill micro-kernels
	"vec":         genVec,         // vec.go: dot, sums of squares, element-wise maps
	"vecmath":     genVecmath,     // vecmath.go: exp, softmax sums, GELU, max
	"encode":      genEncode,      // encode.go: quantize's AVX-512 encoders
	"kquant":      genKquant,      // kquant.go: the k-quant and IQ4_NL kernels
	"bf16":        genBF16,        // bf16.go: the AVX-512 BF16 microkernel of ModeBF16
	"bf16wide":    genBF16Wide,    // bf16wide.go: the bf16 microkernel storing its tile in place
	"softmaxbf16": genSoftmaxBF16, // softmaxbf16.go: the bf16 attention's softmax step
}

var op = flag.String("op", "", "the operation to generate (one of the keys of ops)")

func main() {
	flag.Parse()
	gen, ok := ops[*op]
	if !ok {
		names := make([]string, 0, len(ops))
		for n := range ops {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "_asm: -op %q: want one of %v\n", *op, names)
		os.Exit(2)
	}
	ConstraintExpr("!purego")
	gen()
	Generate()
}

// genElem emits the row-loop kernels of the element-wise types (F32, F16, BF16, FP8, SFP8, I4).
func genElem() {
	for _, l := range elemLoaders {
		for _, in := range l.isas {
			rowsElem(l, in)
		}
	}
}
