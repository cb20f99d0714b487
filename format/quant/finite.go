package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/distill-ml/distill/num/f16"
)

// scaleFields lists the F16 fields of a block (byte offset, name) for the
// quantized types; every value of such a block is a small integer (or 6-bit
// scale, int8 scale) times these, so the block holds only finite values
// exactly when its F16 fields are finite.
var scaleFields = map[Type][]struct {
	off  int
	name string
}{
	Q8_0: {{0, "d"}},
	Q4_0: {{0, "d"}},
	Q4_1: {{0, "d"}, {2, "m"}},
	Q5_0: {{0, "d"}},
	Q5_1: {{0, "d"}, {2, "m"}},
	Q2_K: {{80, "d"}, {82, "dmin"}},
	Q3_K: {{108, "d"}},
	Q4_K: {{0, "d"}, {2, "dmin"}},
	Q5_K: {{0, "d"}, {2, "dmin"}},
	Q6_K: {{208, "d"}},
	// IQ4: d times an integer sub-block scale times one of 16 integer levels.
	IQ4_NL: {{0, "d"}},
	IQ4_XS: {{0, "d"}},
}

// CheckFinite returns an error naming the first element (F32, F16) or block
// scale (quantized types) of data, a tensor of type t, that is NaN or ±Inf.
// first is the index of data's first element within the tensor, for the
// message. It reads every element of a plain type but only the F16 scales
// of a quantized one (a few bytes per block): that is a complete check, since
// a quantized value is a finite integer code times those scales.
func CheckFinite(t Type, data []byte, first int) error {
	switch t {
	case F32:
		if len(data)%4 != 0 {
			return fmt.Errorf("F32 data of %d bytes is not a whole number of elements", len(data))
		}
		for i := 0; i+4 <= len(data); i += 4 {
			// 8 bytes at a time: a lane's exponent is all ones exactly when
			// adding one to it carries into the lane's sign bit.
			if i+8 <= len(data) && (binary.LittleEndian.Uint64(data[i:])&0x7f8000007f800000+0x0080000000800000)&0x8000000080000000 == 0 {
				i += 4
				continue
			}
			if b := binary.LittleEndian.Uint32(data[i:]); b&0x7f800000 == 0x7f800000 {
				return fmt.Errorf("element %d is %v", first+i/4, math.Float32frombits(b))
			}
		}
		return nil
	case F16:
		if len(data)%2 != 0 {
			return fmt.Errorf("F16 data of %d bytes is not a whole number of elements", len(data))
		}
		for i := 0; i+2 <= len(data); i += 2 {
			if i+8 <= len(data) && (binary.LittleEndian.Uint64(data[i:])&0x7c007c007c007c00+0x0400040004000400)&0x8000800080008000 == 0 {
				i += 6
				continue
			}
			if h := binary.LittleEndian.Uint16(data[i:]); h&0x7c00 == 0x7c00 {
				return fmt.Errorf("element %d is %v", first+i/2, f16.Float32(h))
			}
		}
		return nil
	}
	fields, ok := scaleFields[t]
	if !ok {
		return fmt.Errorf("type %s: finiteness check not supported", t)
	}
	bs, ts := t.BlockSize(), t.TypeSize()
	if len(data)%ts != 0 {
		return fmt.Errorf("%s data of %d bytes is not a whole number of %d-byte blocks", t, len(data), ts)
	}
	for off := 0; off < len(data); off += ts {
		for _, f := range fields {
			if h := binary.LittleEndian.Uint16(data[off+f.off:]); h&0x7c00 == 0x7c00 {
				e := first + off/ts*bs
				return fmt.Errorf("block %d (elements %d..%d): scale %s is %v", (first/bs)+off/ts, e, e+bs-1, f.name, f16.Float32(h))
			}
		}
	}
	return nil
}
