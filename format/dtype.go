package format

import (
	"fmt"
	"math/bits"
)

// DType identifies how a tensor's elements are encoded in the payload. The numeric values
// are stored in the file and never change; new encodings get new values (the enumeration is
// open: a reader that meets a value it does not know reports [ErrUnsupported] for that tensor).
type DType uint16

// The stored tensor types. GGUF twins (for export) are noted where one exists.
const (
	// F32 is IEEE binary32, little-endian (GGUF 0).
	F32 DType = 1
	// F16 is IEEE binary16, little-endian (GGUF 1).
	F16 DType = 2
	// BF16 is bfloat16 (the top 16 bits of a binary32), little-endian (GGUF 30).
	BF16 DType = 3
	// Q8_0 is llama.cpp's Q8_0 (GGUF 8): blocks of 32 int8 codes with an f16 scale, stored
	// in two planes (codes, scales). See the Layout paragraph in doc.go.
	Q8_0 DType = 16
	// Q4_0 is llama.cpp's Q4_0 (GGUF 2): blocks of 32 4-bit codes with an f16 scale, stored
	// in two planes (nibbles, scales).
	Q4_0 DType = 17
	// I4 is per-channel symmetric int4: one float32 scale per row, two codes per byte.
	I4 DType = 18
	// FP8 is OCP FP8 E4M3FN with one float32 scale per row.
	FP8 DType = 19
	// SFP8 is gemma.cpp's switched floating point (one byte per weight) with one per-tensor
	// float32 scale held in the tensor's directory entry.
	SFP8 DType = 20
)

// BlockSize is the number of elements per block of the block types (Q8_0, Q4_0). It is
// llama.cpp's QK8_0 / QK4_0, which the QAT checkpoints were trained for.
const BlockSize = 32

// PlaneAlign is the alignment of every plane inside a tensor payload, relative to the payload
// start (which is itself aligned to [Alignment] in the file). See [Alignment] for why.
const PlaneAlign = 64

var dtypeNames = map[DType]string{
	F32: "f32", F16: "f16", BF16: "bf16", Q8_0: "q8_0", Q4_0: "q4_0", I4: "i4", FP8: "fp8", SFP8: "sfp8",
}

// String returns the lower-case name used on the command line and in reports.
func (t DType) String() string {
	if s, ok := dtypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", uint16(t))
}

// ParseDType maps a name such as "q4_0" or "bf16" to its DType.
func ParseDType(s string) (DType, error) {
	for t, n := range dtypeNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("format: unknown tensor type %q", s)
}

// Known reports whether t is a type this version of the package can lay out.
func (t DType) Known() bool { _, ok := dtypeNames[t]; return ok }

// Quantized reports whether t is a packed type (anything but F32, F16, BF16).
func (t DType) Quantized() bool { return t.Known() && t != F32 && t != F16 && t != BF16 }

// ElemSize returns the byte size of one element of a plain type (F32 4, F16 and BF16 2) and 0
// for packed types.
func (t DType) ElemSize() int {
	switch t {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Layout describes where the planes of one tensor lie inside its payload. Every plane starts
// at a multiple of [PlaneAlign] from the payload start. Plain types have one plane (the
// elements, row-major). Packed types see the tensor as a matrix of Rows × Cols, Rows = shape[0]
// and Cols = the product of the other dimensions (the "in" axis of an [out, in] weight).
type Layout struct {
	DType DType
	Rows  int64 // shape[0] (1 for plain rank-0 tensors)
	Cols  int64 // product of shape[1:]

	// Codes: the element codes (plain types: the elements themselves).
	CodesOff, CodesLen int64
	// RowStride is the byte distance between the codes of consecutive rows in the codes plane.
	RowStride int64
	// Scales: the scale plane (f16 per block for Q8_0/Q4_0, f32 per row for I4/FP8); empty for
	// plain types and SFP8.
	ScalesOff, ScalesLen int64
	// Size is the whole payload length in bytes (the last plane's end, not padded).
	Size int64
}

// Blocks returns the number of 32-element blocks per row (block types only).
func (l Layout) Blocks() int64 { return l.Cols / BlockSize }

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// mul64 multiplies non-negative a and b, reporting overflow past 2^62 (a bound that leaves
// room for the additions done on sizes).
func mul64(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > 1<<62 {
		return 0, false
	}
	return int64(lo), true
}

// MaxElements caps the element count of one tensor (2^40, far above any Gemma 3 tensor: the
// 27B embedding has 1.4e9) so size arithmetic can never overflow.
const MaxElements = 1 << 40

// NumElements returns the product of dims, or an error if a dim is negative or the product
// exceeds [MaxElements].
func NumElements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		var ok bool
		if n, ok = mul64(n, d); !ok || n > MaxElements {
			return 0, fmt.Errorf("shape %v: %w", shape, errTooLarge)
		}
	}
	return n, nil
}

var errTooLarge = fmt.Errorf("element count negative or above %d", int64(MaxElements))

// LayoutOf computes the payload layout of a tensor of type t and shape. It fails for unknown
// types, for packed types on tensors of rank < 2, and for block types whose Cols is not a
// multiple of [BlockSize].
func LayoutOf(t DType, shape []int64) (Layout, error) {
	n, err := NumElements(shape)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{DType: t, Rows: 1, Cols: n}
	if len(shape) > 0 {
		l.Rows = shape[0]
		if l.Rows > 0 {
			l.Cols = n / l.Rows
		} else {
			l.Cols = 0
			for i, d := range shape[1:] {
				if i == 0 {
					l.Cols = d
				} else {
					l.Cols *= d
				}
			}
		}
	}
	if es := t.ElemSize(); es > 0 {
		l.CodesLen = n * int64(es)
		l.RowStride = l.Cols * int64(es)
		l.Size = l.CodesLen
		return l, nil
	}
	if !t.Known() {
		return Layout{}, fmt.Errorf("tensor type %v: %w", t, ErrUnsupported)
	}
	if len(shape) < 2 {
		return Layout{}, fmt.Errorf("type %v needs a matrix (rank >= 2), shape is %v", t, shape)
	}
	if sb, ok := superBlocks[t]; ok {
		return kLayout(l, sb, shape)
	}
	switch t {
	case Q8_0, Q4_0:
		if l.Cols%BlockSize != 0 {
			return Layout{}, fmt.Errorf("type %v needs a row length that is a multiple of %d, shape is %v", t, BlockSize, shape)
		}
		nb := l.Rows * (l.Cols / BlockSize)
		if t == Q8_0 {
			l.RowStride = l.Cols
		} else {
			l.RowStride = l.Cols / 2
		}
		l.CodesLen = l.Rows * l.RowStride
		l.ScalesOff = alignUp(l.CodesLen, PlaneAlign)
		l.ScalesLen = nb * 2
	case I4:
		l.RowStride = (l.Cols + 1) / 2
		l.CodesLen = l.Rows * l.RowStride
		l.ScalesOff = alignUp(l.CodesLen, PlaneAlign)
		l.ScalesLen = l.Rows * 4
	case FP8:
		l.RowStride = l.Cols
		l.CodesLen = n
		l.ScalesOff = alignUp(l.CodesLen, PlaneAlign)
		l.ScalesLen = l.Rows * 4
	case SFP8:
		l.RowStride = l.Cols
		l.CodesLen = n
	}
	l.Size = l.CodesLen
	if l.ScalesLen > 0 {
		l.Size = l.ScalesOff + l.ScalesLen
	}
	return l, nil
}

// GGUFType returns the GGML type id of t's GGUF twin, or -1 when there is none.
func (t DType) GGUFType() int {
	switch t {
	case F32:
		return 0
	case F16:
		return 1
	case BF16:
		return 30
	case Q4_0:
		return 2
	case Q8_0:
		return 8
	}
	if sb, ok := superBlocks[t]; ok {
		return sb.gguf
	}
	return -1
}
