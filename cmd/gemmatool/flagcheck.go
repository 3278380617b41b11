package main

import (
	"math"
	"strconv"

	"github.com/urfave/cli/v2"
)

// maxCtx caps every --ctx: 16 Mi positions, far above Gemma 3's 131,072 (the model's own
// maximum is checked once the file is open), and low enough that sizes computed from it cannot
// overflow.
const maxCtx = 1 << 24

// maxThreads caps --threads: more goroutines than this only add scheduling and memory (each
// worker has its scratch) on any CPU gemmatool targets.
const maxThreads = 256

// numericRange is the accepted range of a numeric flag, by flag name, for every verb that has
// it. lo/hi bound the value; openLo excludes lo. Every value must also be finite.
type numericRange struct {
	lo, hi float64
	openLo bool
}

var numericFlags = map[string]numericRange{
	"threads":        {lo: 1, hi: maxThreads},
	"ctx":            {lo: 1, hi: maxCtx},
	"temp":           {lo: 0, hi: 1e6},
	"top-p":          {lo: 0, hi: 1, openLo: true},
	"min-p":          {lo: 0, hi: 1},
	"top-k":          {lo: 0, hi: math.MaxInt32},
	"repeat-penalty": {lo: 0, hi: 1e6, openLo: true},
	"max-tokens":     {lo: 0, hi: maxCtx},
	"chunks":         {lo: 0, hi: math.MaxInt32},
	"stride":         {lo: 0, hi: maxCtx},
	"repetitions":    {lo: 1, hi: 1e6},
}

func (r numericRange) String() string {
	lo := "["
	if r.openLo {
		lo = "("
	}
	return lo + strconv.FormatFloat(r.lo, 'f', -1, 64) + ", " + strconv.FormatFloat(r.hi, 'f', -1, 64) + "]"
}

func (r numericRange) contains(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) || v > r.hi || v < r.lo {
		return false
	}
	return !(r.openLo && v == r.lo)
}

// checkNumericFlags validates every set numeric flag of the command against numericFlags and
// returns a usage error naming the flag, its value and the range.
func checkNumericFlags(c *cli.Context) error {
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		r, ok := numericFlags[name]
		if !ok || !c.IsSet(name) {
			continue
		}
		var v float64
		var shown string
		switch f.(type) {
		case *cli.IntFlag:
			v, shown = float64(c.Int(name)), strconv.Itoa(c.Int(name))
		case *cli.Int64Flag:
			v, shown = float64(c.Int64(name)), strconv.FormatInt(c.Int64(name), 10)
		case *cli.UintFlag:
			v, shown = float64(c.Uint(name)), strconv.FormatUint(uint64(c.Uint(name)), 10)
		case *cli.Float64Flag:
			v, shown = c.Float64(name), strconv.FormatFloat(c.Float64(name), 'g', -1, 64)
		default:
			continue
		}
		if !r.contains(v) {
			return usageError("--%s %s is out of range: want a value in %s", name, shown, r)
		}
	}
	return nil
}
