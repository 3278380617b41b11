package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gemmatool/gemmatool/format"
	"github.com/gemmatool/gemmatool/runtime/kernel"
)

// encodeRowsStats is [EncodeRows] that also adds the error of every encoded value to st. Q4_0
// and Q8_0 rows are encoded and measured in one pass (the vector encoders of package kernel
// where the machine has them, the scalar block encoders for the rest); other types are
// encoded, decoded back and compared (dec, l.Cols values, is scratch for that). With
// importance weights (opt.Importance) every type takes that path, recording the weighted
// error too.
func encodeRowsStats(l format.Layout, payload []byte, rowStart int, rows []float32, tensorScale float32, opt Options, st *ErrorStats, dec []float32) error {
	t := l.DType
	if opt.Importance != nil {
		return encodeDecodeStats(l, payload, rowStart, rows, tensorScale, opt, st, dec)
	}
	if t == format.FP8 && tensorScale == 1 && int64(len(payload)) == l.Size && l.Cols > 0 {
		return encodeFP8Stats(l, payload, rowStart, rows, opt, st, dec)
	}
	if t == format.SFP8 && tensorScale > 0 && !math.IsInf(float64(tensorScale), 0) && int64(len(payload)) == l.Size && l.Cols > 0 {
		return encodeSFP8Stats(l, payload, rowStart, rows, tensorScale, opt, st, dec)
	}
	if (t != format.Q4_0 && t != format.Q8_0) || tensorScale != 1 || int64(len(payload)) != l.Size || l.Cols == 0 {
		return encodeDecodeStats(l, payload, rowStart, rows, tensorScale, opt, st, dec)
	}
	cols := int(l.Cols)
	if len(rows)%cols != 0 || rowStart < 0 || int64(rowStart+len(rows)/cols) > l.Rows {
		return EncodeRows(l, payload, rowStart, rows, tensorScale, opt) // reports the misuse
	}
	nb := cols / bs
	cb := bs / 2 // code bytes per block
	if t == format.Q8_0 {
		cb = bs
	}
	for i := range len(rows) / cols {
		r := int64(rowStart + i)
		x := rows[i*cols : (i+1)*cols]
		codes := payload[l.CodesOff+r*l.RowStride : l.CodesOff+(r+1)*l.RowStride]
		scales := payload[l.ScalesOff+2*r*int64(nb) : l.ScalesOff+2*(r+1)*int64(nb)]
		var s kernel.EncodeSums
		for b := 0; b < nb; {
			if t == format.Q4_0 {
				b += kernel.EncodeQ4_0(codes[b*cb:], scales[2*b:], x[b*bs:], &s)
			} else {
				b += kernel.EncodeQ8_0(codes[b*cb:], scales[2*b:], x[b*bs:], &s)
			}
			if b == nb {
				break
			}
			// The scalar encoder takes this block (and reports what is wrong with the row,
			// in EncodeRows' words).
			if j := firstNonFinite(x); j >= 0 {
				return opt.wrap(t, nonFinite(int(r), j, x[j]))
			}
			xb := x[b*bs : (b+1)*bs]
			var h uint16
			var err error
			if t == format.Q4_0 {
				h, err = q4Block(codes[b*cb:], xb)
			} else {
				h, err = q8Block(codes[b*cb:], xb)
			}
			if err != nil {
				return opt.wrap(t, fmt.Errorf("row %d col %d: %w", r, b*bs, err))
			}
			binary.LittleEndian.PutUint16(scales[2*b:], h)
			blockSums(t, codes[b*cb:(b+1)*cb], format.F16ToFloat32(h), xb, &s)
			b++
		}
		st.addSums(s.N, s.Signal, s.Noise, s.MaxAbs)
	}
	return nil
}

// blockSums adds the error of one encoded Q4_0 or Q8_0 block (codes, scale d) to s.
func blockSums(t format.DType, codes []byte, d float32, x []float32, s *kernel.EncodeSums) {
	for j, w := range x[:bs] {
		var q int
		if t == format.Q4_0 {
			c := codes[j%(bs/2)]
			if j >= bs/2 {
				c >>= 4
			}
			q = int(c&15) - 8
		} else {
			q = int(int8(codes[j]))
		}
		wf := float64(w)
		e := wf - float64(float32(q)*d)
		s.Signal += wf * wf
		s.Noise += e * e
		s.MaxAbs = max(s.MaxAbs, math.Abs(e))
	}
	s.N += bs
}

// encodeSFP8Stats is encodeRowsStats for SFP8: the vector encoder takes what it can of each
// row; a row it refuses (a value out of range or not finite) goes through EncodeRows, which
// says what is wrong.
func encodeSFP8Stats(l format.Layout, payload []byte, rowStart int, rows []float32, tensorScale float32, opt Options, st *ErrorStats, dec []float32) error {
	cols := int(l.Cols)
	if len(rows)%cols != 0 || rowStart < 0 || int64(rowStart+len(rows)/cols) > l.Rows {
		return EncodeRows(l, payload, rowStart, rows, tensorScale, opt) // reports the misuse
	}
	inv, limit := float32(1), float32(sfp8Max)
	if tensorScale != 1 {
		inv, limit = float32(1/float64(tensorScale)), sfp8Max*(1+1.0/(1<<20)) // as sfp8Row
	}
	for i := range len(rows) / cols {
		r := int64(rowStart + i)
		x := rows[i*cols : (i+1)*cols]
		codes := payload[l.CodesOff+r*l.RowStride : l.CodesOff+(r+1)*l.RowStride]
		var s kernel.EncodeSums
		n, ok := kernel.EncodeSFP8(codes, x, inv, limit, tensorScale, &s)
		if ok && n < cols && firstNonFinite(x[n:]) < 0 && sfp8Row(codes[n:], x[n:], tensorScale) != nil {
			ok = false
		}
		if !ok || n < cols && firstNonFinite(x[n:]) >= 0 {
			if err := EncodeRows(l, payload, int(r), x, tensorScale, opt); err != nil {
				return err
			}
			n, s = 0, kernel.EncodeSums{}
		}
		if n < cols {
			d := dec[:cols-n]
			for j, c := range codes[n:] {
				d[j] = format.SFP8ToFloat32(c) * tensorScale
			}
			st.Add(x[n:], d)
		}
		st.addSums(s.N, s.Signal, s.Noise, s.MaxAbs)
	}
	return nil
}

// encodeFP8Stats is encodeRowsStats for FP8 (fp8Row's scale and codes, the codes by the
// vector encoder where the machine has it).
func encodeFP8Stats(l format.Layout, payload []byte, rowStart int, rows []float32, opt Options, st *ErrorStats, dec []float32) error {
	cols := int(l.Cols)
	if len(rows)%cols != 0 || rowStart < 0 || int64(rowStart+len(rows)/cols) > l.Rows {
		return EncodeRows(l, payload, rowStart, rows, 1, opt) // reports the misuse
	}
	for i := range len(rows) / cols {
		r := int64(rowStart + i)
		x := rows[i*cols : (i+1)*cols]
		bits := kernel.MaxAbsBits(x)
		if bits >= 0x7f800000 {
			return EncodeRows(l, payload, int(r), x, 1, opt) // names the value
		}
		amax := math.Float32frombits(bits)
		s := float32(1)
		if amax != 0 {
			s = amax / 448
			if s == 0 {
				s = minScale
			}
		}
		codes := payload[l.CodesOff+r*l.RowStride : l.CodesOff+(r+1)*l.RowStride]
		var ks kernel.EncodeSums
		n := kernel.EncodeFP8(codes, x, s, &ks)
		d := dec[:cols-n]
		for j, v := range x[n:] {
			c := E4M3(v / s)
			codes[n+j] = c
			d[j] = format.E4M3ToFloat32(c) * s
		}
		st.Add(x[n:], d)
		st.addSums(ks.N, ks.Signal, ks.Noise, ks.MaxAbs)
		binary.LittleEndian.PutUint32(payload[l.ScalesOff+4*r:], math.Float32bits(s))
	}
	return nil
}

// encodeDecodeStats encodes with EncodeRows, decodes each row back and records its error
// (importance-weighted too when opt.Importance is set).
func encodeDecodeStats(l format.Layout, payload []byte, rowStart int, rows []float32, tensorScale float32, opt Options, st *ErrorStats, dec []float32) error {
	if err := EncodeRows(l, payload, rowStart, rows, tensorScale, opt); err != nil {
		return err
	}
	cols := int(l.Cols)
	dec = dec[:cols]
	for i := 0; i < len(rows)/max(cols, 1); i++ {
		format.DecodeRow(dec, l.DType, l, payload, rowStart+i, tensorScale)
		if opt.Importance != nil {
			st.AddWeighted(rows[i*cols:(i+1)*cols], dec, opt.Importance)
		} else {
			st.Add(rows[i*cols:(i+1)*cols], dec)
		}
	}
	return nil
}
