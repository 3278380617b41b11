package convert

import (
	"slices"
	"strings"
	"testing"

	"github.com/gemmatool/gemmatool/format"
)

// TestLinearNames checks that the tensor table's per-layer matrices are format's list of
// linear weights, in order: the one list quantize's policy reads.
func TestLinearNames(t *testing.T) {
	for _, c := range []struct {
		p    part
		pre  string
		want []string
	}{{partText, "text.blk.{i}.", format.TextLinear}, {partVision, "vision.blk.{i}.", format.VisionLinear}} {
		var got []string
		for _, r := range tensorTable {
			if r.part == c.p && r.perLayer && len(r.shape) == 2 && strings.HasPrefix(r.name, c.pre) {
				got = append(got, strings.TrimPrefix(r.name, c.pre))
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: the table's matrices are %v, format lists %v", c.pre, got, c.want)
		}
	}
}
