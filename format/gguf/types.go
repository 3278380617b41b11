package gguf

import (
	"errors"
	"fmt"
)

// Type is a GGML tensor type id.
type Type uint32

// GGML tensor types (ggml.h). Only the ones with an entry in typeTable are readable.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

// TypeInfo is a GGML type's name and block geometry: BlockSize elements take BlockBytes bytes.
type TypeInfo struct {
	Name       string
	BlockSize  int64
	BlockBytes int64
}

// typeTable lists the block geometry of every GGML type (ggml.c's type_traits), so that any
// GGUF's payloads can be placed and bounded even when their type is not decoded.
var typeTable = map[Type]TypeInfo{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2}, F64: {"F64", 1, 8},
	I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4}, I64: {"I64", 1, 8},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34}, Q8_1: {"Q8_1", 32, 36}, IQ4_NL: {"IQ4_NL", 32, 18}, MXFP4: {"MXFP4", 32, 17},
	Q2_K: {"Q2_K", 256, 84}, Q3_K: {"Q3_K", 256, 110}, Q4_K: {"Q4_K", 256, 144}, Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210}, Q8_K: {"Q8_K", 256, 292},
	IQ2_XXS: {"IQ2_XXS", 256, 66}, IQ2_XS: {"IQ2_XS", 256, 74}, IQ3_XXS: {"IQ3_XXS", 256, 98},
	IQ1_S: {"IQ1_S", 256, 50}, IQ3_S: {"IQ3_S", 256, 110}, IQ2_S: {"IQ2_S", 256, 82},
	IQ4_XS: {"IQ4_XS", 256, 136}, IQ1_M: {"IQ1_M", 256, 56}, TQ1_0: {"TQ1_0", 256, 54}, TQ2_0: {"TQ2_0", 256, 66},
}

// Info returns t's geometry; ok is false for an unknown type.
func (t Type) Info() (TypeInfo, bool) {
	i, ok := typeTable[t]
	return i, ok
}

func (t Type) String() string {
	if i, ok := typeTable[t]; ok {
		return i.Name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// ParseType returns the type named s ("Q4_0", case-insensitive).
func ParseType(s string) (Type, bool) {
	for t, i := range typeTable {
		if equalFold(i.Name, s) {
			return t, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 32
		}
		if 'a' <= y && y <= 'z' {
			y -= 32
		}
		if x != y {
			return false
		}
	}
	return true
}

// Size returns the payload bytes of a tensor of type t and dimensions ne (innermost first).
func Size(t Type, ne []uint64) (int64, error) {
	info, ok := typeTable[t]
	if !ok {
		return 0, fmt.Errorf("unknown GGML type %d", uint32(t))
	}
	if len(ne) == 0 || len(ne) > MaxDims {
		return 0, fmt.Errorf("rank %d, want 1..%d", len(ne), MaxDims)
	}
	n := int64(1)
	for _, d := range ne {
		if d == 0 || d > maxElements || n > maxElements/int64(d) {
			return 0, fmt.Errorf("dimensions %v: element count 0 or above %d", ne, int64(maxElements))
		}
		n *= int64(d)
	}
	if int64(ne[0])%info.BlockSize != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %s block size %d", ne[0], info.Name, info.BlockSize)
	}
	return n / info.BlockSize * info.BlockBytes, nil
}

// ValueType is the type of a metadata value.
type ValueType uint32

// Metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("value_type(%d)", uint32(v))
}

// size is the encoded size of a scalar value type (0 for string and array).
func (v ValueType) size() int64 {
	switch v {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// KV is one metadata pair. Value holds, by Type: uint8, int8, uint16, int16, uint32, int32,
// float32, bool, string, uint64, int64, float64, or for TypeArray an [Array].
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// Array is an array value. Values is a slice of the element type's Go type ([]string,
// []float32, []int32, []bool, …).
type Array struct {
	Elem   ValueType
	Values any
}

// Len returns the element count.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	}
	return 0
}

// Convenience constructors for writers.

// String returns a string pair.
func String(k, v string) KV { return KV{k, TypeString, v} }

// Uint32 returns a u32 pair.
func Uint32(k string, v uint32) KV { return KV{k, TypeUint32, v} }

// Float32 returns an f32 pair.
func Float32(k string, v float32) KV { return KV{k, TypeFloat32, v} }

// Bool returns a bool pair.
func Bool(k string, v bool) KV { return KV{k, TypeBool, v} }

// Strings returns a string array pair.
func Strings(k string, v []string) KV { return KV{k, TypeArray, Array{TypeString, v}} }

// Float32s returns an f32 array pair.
func Float32s(k string, v []float32) KV { return KV{k, TypeArray, Array{TypeFloat32, v}} }

// Int32s returns an i32 array pair.
func Int32s(k string, v []int32) KV { return KV{k, TypeArray, Array{TypeInt32, v}} }

// Bools returns a bool array pair.
func Bools(k string, v []bool) KV { return KV{k, TypeArray, Array{TypeBool, v}} }

// TensorInfo describes one tensor: its name, dimensions innermost first, type, and payload
// offset relative to the data section.
type TensorInfo struct {
	Name   string
	Ne     []uint64
	Type   Type
	Offset uint64
	Size   int64 // payload bytes, from Size(Type, Ne)
}

// Constants of the container.
const (
	Magic            = "GGUF"
	Version          = 3
	DefaultAlignment = 32
	// MaxDims is GGML_MAX_DIMS.
	MaxDims = 4
	// maxElements bounds a tensor's element count (2^40, as format.MaxElements), so that
	// byte sizes never overflow int64.
	maxElements = 1 << 40
)

// Sentinel errors; every error of [Open] and [Read] unwraps to one of them or is an I/O error.
var (
	// ErrFormat means the bytes are not a valid GGUF file.
	ErrFormat = errors.New("gguf: invalid file")
	// ErrUnsupported means a valid GGUF file uses something this package does not read.
	ErrUnsupported = errors.New("gguf: unsupported")
)

// Error is a parse failure at a position.
type Error struct {
	Path   string
	Offset int64
	What   string // the key or tensor concerned, "" if none
	Msg    string
	Err    error // ErrFormat or ErrUnsupported
}

func (e *Error) Error() string {
	s := "gguf: " + e.Path + ": "
	if e.What != "" {
		s += e.What + ": "
	}
	return s + fmt.Sprintf("%s (at offset %#x)", e.Msg, e.Offset)
}

func (e *Error) Unwrap() error { return e.Err }
