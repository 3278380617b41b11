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
	for i, x := range logits {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: logit %v of id %d at position %d", ErrNonFinite, x, i%v, pos0+i/v)
		}
	}
	return nil
}
