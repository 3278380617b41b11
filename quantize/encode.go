package quantize

import (
	"encoding/binary"
	"fmt"
	"math"
	goruntime "runtime"
	"sync"

	"github.com/gemmatool/gemmatool/format"
)

// I4Scale selects how the I4 encoder chooses each row's scale.
type I4Scale uint8

const (
	// I4Search (the default) picks, per row, the scale with the smallest squared error
	// Σ(w − ŵ)² among the clipping ratios α = k/100, k = 100, 99, …, 50:
	// s_k = float32(float32(amax/7) · float32(k/100)), codes q = clamp(rne(float32(w/s_k)), −8, 7)
	// (so −8 can occur), decoded ŵ = float32(q·s_k); the error is summed in float64 in element
	// order, and a tie keeps the larger α. α = 1 is exactly the I4AbsMax scale, so the search
	// is never worse than absmax on the row's squared error.
	I4Search I4Scale = iota
	// I4AbsMax is the spec's rule: s = amax/7, codes in [−7, 7].
	I4AbsMax
)

// String returns "search" or "absmax" (the names recorded in the file's metadata).
func (r I4Scale) String() string {
	switch r {
	case I4Search:
		return "search"
	case I4AbsMax:
		return "absmax"
	}
	return fmt.Sprintf("I4Scale(%d)", uint8(r))
}

// Options control the encoders. The zero value is ready to use.
type Options struct {
	// Name is the tensor name put in error messages ("" for none).
	Name string
	// I4Scale is the I4 scale rule; default [I4Search].
	I4Scale I4Scale
	// Importance, when set, holds one non-negative weight per column (the imatrix's mean x² of
	// the tensor's input channels): Q4_0, I4, the k-quants (Q2_K…Q6_K) and IQ4_NL then minimise
	// the importance-weighted error (see weighted.go, kquant.go). Other types ignore it. Without it the bytes are the unweighted ones.
	Importance []float32
	// Workers is the number of goroutines [Encode] splits the rows over; 0 means
	// runtime.GOMAXPROCS(0). EncodeRows always runs on the calling goroutine.
	Workers int
}

func (o Options) wrap(t format.DType, err error) error {
	if o.Name != "" {
		return fmt.Errorf("quantize %s (%v): %w", o.Name, t, err)
	}
	return fmt.Errorf("quantize %v: %w", t, err)
}

// Encode encodes src, a row-major tensor of type t and shape, into a new payload laid out as
// [format.LayoutOf] says, and returns it with the tensor's per-tensor scale (the SFP8 scale
// from [SFP8Scale]; 1 for every other type). Rows are encoded independently, split over
// opt.Workers goroutines; the bytes do not depend on the split. Any NaN or ±Inf in src fails
// with [ErrNonFinite]; a scale that does not fit its storage type fails with
// [ErrScaleOverflow]. Errors name the tensor (opt.Name), the row and the column.
func Encode(t format.DType, shape []int64, src []float32, opt Options) (payload []byte, tensorScale float32, err error) {
	l, err := format.LayoutOf(t, shape)
	if err != nil {
		return nil, 0, opt.wrap(t, err)
	}
	if int64(len(src)) != l.Rows*l.Cols {
		return nil, 0, opt.wrap(t, fmt.Errorf("shape %v has %d elements, got %d values", shape, l.Rows*l.Cols, len(src)))
	}
	tensorScale = 1
	if t == format.SFP8 {
		if i := firstNonFinite(src); i >= 0 {
			return nil, 0, opt.wrap(t, nonFinite(i/int(l.Cols), i%int(l.Cols), src[i]))
		}
		tensorScale = SFP8Scale(MaxAbs(src))
	}
	payload = make([]byte, l.Size)
	rows, cols := int(l.Rows), int(l.Cols)
	w := opt.Workers
	if w <= 0 {
		w = goruntime.GOMAXPROCS(0)
	}
	w = min(w, rows)
	if w <= 1 {
		if err := EncodeRows(l, payload, 0, src, tensorScale, opt); err != nil {
			return nil, 0, err
		}
		return payload, tensorScale, nil
	}
	errs := make([]error, w)
	var wg sync.WaitGroup
	for i := range w {
		r0, r1 := rows*i/w, rows*(i+1)/w
		wg.Go(func() {
			errs[i] = EncodeRows(l, payload, r0, src[r0*cols:r1*cols], tensorScale, opt)
		})
	}
	wg.Wait()
	for _, err := range errs { // the error of the lowest failing row range
		if err != nil {
			return nil, 0, err
		}
	}
	return payload, tensorScale, nil
}

// EncodeRows encodes len(rows)/l.Cols consecutive rows, the first being row rowStart, into
// their places in payload (the whole tensor's payload, len(payload) = l.Size). Distinct row
// ranges touch distinct bytes, so goroutines may encode disjoint ranges of one payload at the
// same time, and a huge tensor can be encoded chunk by chunk into preallocated (for example
// memory-mapped) storage. Padding bytes between planes are not written (they are zero in a
// fresh allocation). tensorScale must be 1 except for SFP8, where it must be
// [SFP8Scale] of the whole tensor's [MaxAbs]; a row value beyond that range is an error.
func EncodeRows(l format.Layout, payload []byte, rowStart int, rows []float32, tensorScale float32, opt Options) error {
	t := l.DType
	if !t.Known() {
		return opt.wrap(t, fmt.Errorf("unknown tensor type: %w", format.ErrUnsupported))
	}
	if int64(len(payload)) != l.Size {
		return opt.wrap(t, fmt.Errorf("payload is %d bytes, layout needs %d", len(payload), l.Size))
	}
	cols := int(l.Cols)
	n := 0
	if cols > 0 {
		if len(rows)%cols != 0 {
			return opt.wrap(t, fmt.Errorf("%d values are not whole rows of %d", len(rows), cols))
		}
		n = len(rows) / cols
	} else if len(rows) != 0 {
		return opt.wrap(t, fmt.Errorf("%d values for rows of length 0", len(rows)))
	}
	if opt.Importance != nil && len(opt.Importance) != cols {
		return opt.wrap(t, fmt.Errorf("importance has %d columns, the tensor %d", len(opt.Importance), cols))
	}
	if rowStart < 0 || int64(rowStart)+int64(n) > l.Rows {
		return opt.wrap(t, fmt.Errorf("rows [%d, %d) outside [0, %d)", rowStart, rowStart+n, l.Rows))
	}
	if t == format.SFP8 {
		if !(tensorScale > 0) || math.IsInf(float64(tensorScale), 0) {
			return opt.wrap(t, fmt.Errorf("tensor scale %v is not finite and positive", tensorScale))
		}
	} else if tensorScale != 1 {
		return opt.wrap(t, fmt.Errorf("tensor scale %v, this type takes none (1)", tensorScale))
	}
	for i := range n {
		r := rowStart + i
		x := rows[i*cols : (i+1)*cols]
		if j := firstNonFinite(x); j >= 0 {
			return opt.wrap(t, nonFinite(r, j, x[j]))
		}
		if err := encodeRow(l, payload, r, x, tensorScale, opt); err != nil {
			return opt.wrap(t, fmt.Errorf("row %d %w", r, err))
		}
	}
	return nil
}

func nonFinite(row, col int, v float32) error {
	return fmt.Errorf("row %d col %d is %v: %w", row, col, v, ErrNonFinite)
}

// encodeRow encodes one finite row x as row r. Errors start with the column ("col 3: ...").
func encodeRow(l format.Layout, payload []byte, r int, x []float32, tensorScale float32, opt Options) error {
	r64 := int64(r)
	codes := payload[l.CodesOff+r64*l.RowStride : l.CodesOff+(r64+1)*l.RowStride]
	switch l.DType {
	case format.F32:
		for i, v := range x {
			binary.LittleEndian.PutUint32(codes[4*i:], math.Float32bits(v))
		}
	case format.F16, format.BF16:
		conv := format.Float32ToF16
		if l.DType == format.BF16 {
			conv = format.Float32ToBF16
		}
		for i, v := range x {
			h := conv(v)
			if h&0x7FFF == 0x7C00 && l.DType == format.F16 || h&0x7FFF == 0x7F80 && l.DType == format.BF16 {
				return fmt.Errorf("col %d: %v overflows %v: %w", i, v, l.DType, ErrScaleOverflow)
			}
			binary.LittleEndian.PutUint16(codes[2*i:], h)
		}
	case format.Q8_0, format.Q4_0:
		nb := int(l.Blocks())
		scales := payload[l.ScalesOff+2*r64*int64(nb) : l.ScalesOff+2*(r64+1)*int64(nb)]
		weighted := l.DType == format.Q4_0 && opt.Importance != nil
		var sigma2 float32
		var ws wsScratch
		if weighted {
			sigma2 = rowSigma2(x)
		}
		for b := range nb {
			var h uint16
			var err error
			if l.DType == format.Q8_0 {
				h, err = q8Block(codes[b*bs:], x[b*bs:])
			} else if weighted {
				h, err = q4BlockWeighted(codes[b*bs/2:], x[b*bs:], opt.Importance[b*bs:], sigma2, &ws)
			} else {
				h, err = q4Block(codes[b*bs/2:], x[b*bs:])
			}
			if err != nil {
				return fmt.Errorf("col %d: %w", b*bs, err)
			}
			binary.LittleEndian.PutUint16(scales[2*b:], h)
		}
	case format.I4:
		s := i4Row(codes, x, opt.I4Scale, opt.Importance)
		binary.LittleEndian.PutUint32(payload[l.ScalesOff+4*r64:], math.Float32bits(s))
	case format.FP8:
		s := fp8Row(codes, x)
		binary.LittleEndian.PutUint32(payload[l.ScalesOff+4*r64:], math.Float32bits(s))
	case format.SFP8:
		return sfp8Row(codes, x, tensorScale)
	case format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_NL:
		return encodeKRow(l, payload, r, x, opt.Importance)
	default:
		return fmt.Errorf("col 0: no encoder for %v: %w", l.DType, format.ErrUnsupported)
	}
	return nil
}

// minScale replaces a row scale that underflowed to 0 for a nonzero row (|w| below about
// 1e-42): the smallest positive float32, 2⁻¹⁴⁹, which keeps w/s finite.
const minScale = float32(1.401298464324817e-45)

// roundMagic is 1.5·2²³: for |x| ≤ 2²², float32(x + roundMagic) − roundMagic is x rounded to
// an integer with ties to even (the sum lands where the float32 spacing is 1).
const roundMagic = 12582912

// i4Level returns clamp(rne(float32(v/s)), −8, 7) as a float32. Clamping to [−8, 7] before
// rounding gives the same integer as rounding first and keeps the magic rounding exact.
func i4Level(v, s float32) float32 {
	q := v / s
	if q > 7 {
		q = 7
	}
	if q < -8 {
		q = -8
	}
	return float32(q+roundMagic) - roundMagic
}

// i4Code is the I4 code of v for scale s: clamp(rne(float32(v/s)), −8, 7).
func i4Code(v, s float32) int { return int(i4Level(v, s)) }

// i4SqErr returns Σ(x − float32(q·s))² in float64, or a value > limit once the partial sum
// exceeds limit (checked every 64 elements; the sum of non-negative terms never decreases,
// so the candidate cannot win).
func i4SqErr(x []float32, s float32, limit float64) float64 {
	var sum float64
	for len(x) > 0 {
		n := min(64, len(x))
		for _, v := range x[:n] {
			dec := float32(i4Level(v, s) * s)
			d := float64(v) - float64(dec)
			sum += float64(d * d) // the conversion keeps the square rounded: no fused multiply-add
		}
		if sum > limit {
			return sum
		}
		x = x[n:]
	}
	return sum
}

// i4Row writes the I4 codes of row x into codes (ceil(len(x)/2) bytes) and returns its scale
// (searched with importance weights when imp is set, see weighted.go).
func i4Row(codes []byte, x []float32, rule I4Scale, imp []float32) float32 {
	amax := MaxAbs(x)
	s := float32(1)
	if amax != 0 && imp != nil {
		s = i4ScaleWeighted(x, imp)
	} else if amax != 0 {
		s0 := amax / 7
		if s0 == 0 {
			s0 = minScale
		}
		s = s0
		if rule == I4Search {
			s = i4Search(x, s0)
		}
	}
	for i := range codes {
		lo, hi := byte(8), byte(8) // 8 encodes 0; it also pads an odd row
		if amax != 0 {
			lo = byte(i4Code(x[2*i], s) + 8)
			if 2*i+1 < len(x) {
				hi = byte(i4Code(x[2*i+1], s) + 8)
			}
		}
		codes[i] = lo | hi<<4
	}
	return s
}

// fp8Row writes the E4M3 codes of row x and returns its scale s = amax/448 (1 for a zero row).
func fp8Row(codes []byte, x []float32) float32 {
	amax := MaxAbs(x)
	s := float32(1)
	if amax != 0 {
		s = amax / 448
		if s == 0 {
			s = minScale
		}
	}
	for i, v := range x {
		codes[i] = E4M3(v / s) // a division, not a product with 1/s
	}
	return s
}

// sfp8Row writes the SFP8 codes of row x scaled by 1/scale (gemma.cpp's ScaleWeights).
func sfp8Row(codes []byte, x []float32, scale float32) error {
	if scale == 1 {
		for i, v := range x {
			if math.Abs(float64(v)) > sfp8Max {
				return fmt.Errorf("col %d: |%v| > 1.875 with tensor scale 1; compute the scale over the whole tensor", i, v)
			}
			codes[i] = SFP8(v)
		}
		return nil
	}
	inv := float32(1 / float64(scale))
	// |w·inv| may exceed 1.875 by a few ulps for w = maxabs (three float32 roundings); more
	// means w lies outside the range the scale was computed for.
	const limit = sfp8Max * (1 + 1.0/(1<<20))
	for i, v := range x {
		a := float32(math.Abs(float64(float32(v * inv))))
		if a > limit {
			return fmt.Errorf("col %d: |%v| exceeds the range of tensor scale %v", i, v, scale)
		}
		a = min(a, sfp8Max)
		codes[i] = SFP8(float32(math.Copysign(float64(a), float64(v))))
	}
	return nil
}
