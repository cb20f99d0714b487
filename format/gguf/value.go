package gguf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ValueType is a GGUF metadata value type (gguf_metadata_value_type).
type ValueType uint32

// The metadata value types of GGUF v3.
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

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// valid reports whether t is one of the 13 defined value types.
func (t ValueType) valid() bool { return t <= TypeFloat64 }

// fixedSize is the encoded size of a scalar of type t (0 for string/array).
func (t ValueType) fixedSize() int {
	switch t {
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

// minSize is the smallest number of bytes one encoded value of type t takes;
// readers use it to bound element counts by the bytes that remain.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return 8 // length prefix
	case TypeArray:
		return 12 // element type + length
	}
	return t.fixedSize()
}

// Value is one metadata value. Scalars hold the matching Go type (uint8, int8,
// uint16, int16, uint32, int32, float32, bool, string, uint64, int64, float64);
// arrays of scalars hold the matching slice ([]uint32, []string, ...); arrays
// of arrays hold []Value whose elements are all arrays. The zero Value is
// invalid.
type Value struct {
	typ  ValueType
	elem ValueType // element type when typ == TypeArray
	v    any
}

// Scalar is the set of Go types a GGUF scalar can hold.
type Scalar interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | float32 | bool | string | uint64 | int64 | float64
}

func scalarType(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return TypeUint8, true
	case int8:
		return TypeInt8, true
	case uint16:
		return TypeUint16, true
	case int16:
		return TypeInt16, true
	case uint32:
		return TypeUint32, true
	case int32:
		return TypeInt32, true
	case float32:
		return TypeFloat32, true
	case bool:
		return TypeBool, true
	case string:
		return TypeString, true
	case uint64:
		return TypeUint64, true
	case int64:
		return TypeInt64, true
	case float64:
		return TypeFloat64, true
	}
	return 0, false
}

// Of makes a scalar value: gguf.Of(uint32(8)), gguf.Of("llama"), gguf.Of(float32(1e-5)).
func Of[T Scalar](v T) Value {
	t, _ := scalarType(any(v))
	return Value{typ: t, v: v}
}

// ArrayOf makes an array of scalars; the slice is kept, not copied.
func ArrayOf[T Scalar](vs []T) Value {
	var zero T
	t, _ := scalarType(any(zero))
	if vs == nil {
		vs = []T{}
	}
	return Value{typ: TypeArray, elem: t, v: vs}
}

// ArrayOfArrays makes an array whose elements are arrays (of any element types).
func ArrayOfArrays(vs []Value) (Value, error) {
	for i, e := range vs {
		if e.typ != TypeArray {
			return Value{}, fmt.Errorf("array of arrays: element %d is %s, not an array", i, e.typ)
		}
	}
	if vs == nil {
		vs = []Value{}
	}
	return Value{typ: TypeArray, elem: TypeArray, v: vs}, nil
}

// Type is the value's type; ElemType the element type of an array.
func (v Value) Type() ValueType     { return v.typ }
func (v Value) ElemType() ValueType { return v.elem }

// Valid reports whether v was built by a constructor or read from a file.
func (v Value) Valid() bool { return v.v != nil }

// Any is the Go value (scalar, slice of scalars, or []Value).
func (v Value) Any() any { return v.v }

// Len is the number of elements of an array (0 for scalars).
func (v Value) Len() int {
	switch s := v.v.(type) {
	case []uint8:
		return len(s)
	case []int8:
		return len(s)
	case []uint16:
		return len(s)
	case []int16:
		return len(s)
	case []uint32:
		return len(s)
	case []int32:
		return len(s)
	case []float32:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	case []uint64:
		return len(s)
	case []int64:
		return len(s)
	case []float64:
		return len(s)
	case []Value:
		return len(s)
	}
	return 0
}

// Uint converts any integer scalar that is ≥ 0 to uint64.
func (v Value) Uint() (uint64, bool) {
	switch x := v.v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// Float converts a float32 or float64 scalar to float64.
func (v Value) Float() (float64, bool) {
	switch x := v.v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// String formats the value for humans; arrays longer than 8 elements are
// abbreviated.
func (v Value) String() string {
	if v.typ == TypeArray {
		n := v.Len()
		var b strings.Builder
		fmt.Fprintf(&b, "[%s × %d]", v.elem, n)
		if n == 0 {
			return b.String()
		}
		b.WriteString(" [")
		for i := 0; i < n && i < 8; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.index(i))
		}
		if n > 8 {
			b.WriteString(", ...")
		}
		b.WriteString("]")
		return b.String()
	}
	return formatScalar(v.v)
}

func (v Value) index(i int) string {
	switch s := v.v.(type) {
	case []uint8:
		return formatScalar(s[i])
	case []int8:
		return formatScalar(s[i])
	case []uint16:
		return formatScalar(s[i])
	case []int16:
		return formatScalar(s[i])
	case []uint32:
		return formatScalar(s[i])
	case []int32:
		return formatScalar(s[i])
	case []float32:
		return formatScalar(s[i])
	case []bool:
		return formatScalar(s[i])
	case []string:
		return formatScalar(s[i])
	case []uint64:
		return formatScalar(s[i])
	case []int64:
		return formatScalar(s[i])
	case []float64:
		return formatScalar(s[i])
	case []Value:
		return s[i].String()
	}
	return "?"
}

func formatScalar(x any) string {
	switch x := x.(type) {
	case string:
		if len(x) > 80 {
			x = x[:80] + "…"
		}
		return strconv.Quote(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Sprint(x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(x)
}

// KV is one metadata key-value pair.
type KV struct {
	Key   string
	Value Value
}
