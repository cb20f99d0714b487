package qdot

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/distill-ml/distill/num/f16"
)

// DequantizeRow expands one row of n elements stored as type t in src into
// dst[:n], following ggml's dequantize_row_* definitions.
func DequantizeRow(t Type, dst []float32, src []byte, n int) error {
	rb, err := RowBytes(t, n)
	if err != nil {
		return err
	}
	if len(src) < rb || len(dst) < n {
		return fmt.Errorf("dequantize %s row of %d: have %d bytes, want %d", t, n, len(src), rb)
	}
	if n == 0 {
		return nil
	}
	dst = dst[:n]
	if kernelSet.dequant != nil && kernelSet.dequant(t, dst, src[:rb], n) {
		return nil
	}
	return dequantizeRowGo(t, dst, src, n)
}

// dequantizeRowGo is DequantizeRow's portable code (arguments checked).
// Products and differences are rounded one operation at a time (explicit
// float32 conversions keep the compiler from fusing them) so that the
// assembly versions can match them exactly.
func dequantizeRowGo(t Type, dst []float32, src []byte, n int) error {
	switch t {
	case F32:
		copy(dst, bytesAsFloat32(src, n))
	case F16:
		f16.ToFloat32(dst, unsafe.Slice((*uint16)(unsafe.Pointer(&src[0])), n))
	case Q8_0:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesQ8_0:]
			d := half(b)
			for j := 0; j < QK; j++ {
				dst[i*QK+j] = d * float32(int8(b[2+j]))
			}
		}
	case Q4_0:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesQ4_0:]
			d := half(b)
			for j := 0; j < 16; j++ {
				dst[i*QK+j] = d * float32(int(b[2+j]&15)-8)
				dst[i*QK+16+j] = d * float32(int(b[2+j]>>4)-8)
			}
		}
	case Q5_0:
		for i := 0; i < n/QK; i++ {
			b := src[i*BytesQ5_0:]
			d := half(b)
			qh := binary.LittleEndian.Uint32(b[2:])
			for j := 0; j < 16; j++ {
				lo := int(b[6+j]&15) | int((qh>>j)&1)<<4
				hi := int(b[6+j]>>4) | int((qh>>(j+16))&1)<<4
				dst[i*QK+j] = d * float32(lo-16)
				dst[i*QK+16+j] = d * float32(hi-16)
			}
		}
	case Q4_K:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesQ4_K:]
			d, dmin := half(b), half(b[2:])
			sc, m := scaleMinK4(b[4:16])
			y := dst[i*QKK:]
			for j := 0; j < 4; j++ {
				q := b[16+32*j:]
				d1, m1 := d*float32(sc[2*j]), dmin*float32(m[2*j])
				d2, m2 := d*float32(sc[2*j+1]), dmin*float32(m[2*j+1])
				for l := 0; l < 32; l++ {
					y[64*j+l] = float32(d1*float32(q[l]&15)) - m1
					y[64*j+32+l] = float32(d2*float32(q[l]>>4)) - m2
				}
			}
		}
	case Q5_K:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesQ5_K:]
			d, dmin := half(b), half(b[2:])
			sc, m := scaleMinK4(b[4:16])
			qh := b[16:48]
			y := dst[i*QKK:]
			for j := 0; j < 4; j++ {
				q := b[48+32*j:]
				d1, m1 := d*float32(sc[2*j]), dmin*float32(m[2*j])
				d2, m2 := d*float32(sc[2*j+1]), dmin*float32(m[2*j+1])
				u1, u2 := byte(1)<<(2*j), byte(2)<<(2*j)
				for l := 0; l < 32; l++ {
					lo, hi := int(q[l]&15), int(q[l]>>4)
					if qh[l]&u1 != 0 {
						lo += 16
					}
					if qh[l]&u2 != 0 {
						hi += 16
					}
					y[64*j+l] = float32(d1*float32(lo)) - m1
					y[64*j+32+l] = float32(d2*float32(hi)) - m2
				}
			}
		}
	case Q6_K:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesQ6_K:]
			d := half(b[208:])
			y := dst[i*QKK:]
			for h := 0; h < 2; h++ {
				ql, qh, sc := b[64*h:], b[128+32*h:], b[192+8*h:]
				yy := y[128*h:]
				for l := 0; l < 32; l++ {
					is := l / 16
					q1 := int(ql[l]&15|(qh[l]&3)<<4) - 32
					q2 := int(ql[l+32]&15|((qh[l]>>2)&3)<<4) - 32
					q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
					q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
					yy[l] = d * float32(int8(sc[is])) * float32(q1)
					yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
					yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
					yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
				}
			}
		}
	case Q8_K:
		for i := 0; i < n/QKK; i++ {
			b := src[i*BytesQ8_K:]
			d := math.Float32frombits(binary.LittleEndian.Uint32(b))
			for j := 0; j < QKK; j++ {
				dst[i*QKK+j] = d * float32(int8(b[4+j]))
			}
		}
	default:
		if !dequantizeLowBit(t, dst, src, n) && !dequantizeIQ4(t, dst, src, n) {
			return fmt.Errorf("dequantize: unsupported tensor type %s", t)
		}
	}
	return nil
}

// scaleMinK4 unpacks the 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K
// super-block (ggml's get_scale_min_k4 for j = 0..7).
func scaleMinK4(q []byte) (sc, m [8]uint8) {
	for j := 0; j < 4; j++ {
		sc[j] = q[j] & 63
		m[j] = q[j+4] & 63
	}
	for j := 4; j < 8; j++ {
		sc[j] = q[j+4]&15 | (q[j-4]>>6)<<4
		m[j] = q[j+4]>>4 | (q[j]>>6)<<4
	}
	return
}
