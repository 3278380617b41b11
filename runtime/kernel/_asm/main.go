// Command _asm generates the amd64 assembly of package kernel with avo: one generator per
// loop shape (rows.go: the row loop of the element-wise types), parameterised by the element
// loader, with the shared reductions and constants in reduce.go. Run `go generate` in
// runtime/kernel; .ci/run regenerates and fails if the output differs from the committed one.
package main

import (
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	ConstraintExpr("!purego")
	for _, l := range elemLoaders {
		for _, in := range l.isas {
			rowsElem(l, in)
		}
	}
	Generate()
}
