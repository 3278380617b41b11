package kernel

import (
	"encoding/binary"
	"math"

	"github.com/gemmatool/gemmatool/format"
)

// f16ToF32 is format's exact binary16 widening (the reference decoders' own).
func f16ToF32(h uint16) float32 { return format.F16ToFloat32(h) }

// e4m3Table decodes OCP FP8 E4M3FN codes and sfpTable gemma.cpp SFP8 codes (0x80, reserved,
// as NaN): copies of format's reference decoders as arrays, which the kernels index directly.
var e4m3Table, sfpTable = func() (e, s [256]float32) {
	for c := range 256 {
		e[c], s[c] = format.E4M3ToFloat32(byte(c)), format.SFP8ToFloat32(byte(c))
	}
	return
}()

func le16(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
func lef32(b []byte, i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
}

// rowCodes returns the codes of row r.
func (w *Matrix) rowCodes(r int) []byte {
	l := &w.Layout
	off := int(l.CodesOff) + r*int(l.RowStride)
	return w.Data[off : off+int(l.RowStride)]
}

// rowScales returns the scale bytes of row r (f16 per block or one f32), nil for types
// without a scale plane.
func (w *Matrix) rowScales(r int) []byte {
	l := &w.Layout
	switch w.DType {
	case format.Q8_0, format.Q4_0, format.IQ4_NL:
		nb := int(l.Cols) / format.BlockSize
		off := int(l.ScalesOff) + r*nb*2
		return w.Data[off : off+nb*2]
	case format.I4, format.FP8:
		off := int(l.ScalesOff) + r*4
		return w.Data[off : off+4]
	}
	return nil
}
