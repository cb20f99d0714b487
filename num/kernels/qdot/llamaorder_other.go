//go:build !amd64

package qdot

var llamaOrderAsm = false

func expAVX2(dst, src *float32, n int)           { panic("qdot: no assembly") }
func siluMulAVX2(dst, gate, up *float32, n int)  { panic("qdot: no assembly") }
func exp2AVX2(dst, src *float32, n int)          { panic("qdot: no assembly") }
func siluMul2AVX2(dst, gate, up *float32, n int) { panic("qdot: no assembly") }

func f16VecOrder32(w []byte, x []float32, full int, tw *[32]uint16, tx *[32]float32) float32 {
	return f16VecOrder32Go(w, x, full, tw, tx)
}

func f16GemmOrder8(w []byte, x []float32, full int, tw *[8]uint16, tx *[8]float32) float32 {
	return f16GemmOrder8Go(w, x, full, tw, tx)
}

func f16VecOrder(w []byte, x []float32, full int, tw *[64]uint16, tx *[64]float32) float32 {
	return f16VecOrderGo(w, x, full, tw, tx)
}

func f16GemmOrder(w []byte, x []float32, full int, tw *[16]uint16, tx *[16]float32) float32 {
	return f16GemmOrderGo(w, x, full, tw, tx)
}

func dotQ4_0Repack(w, a []byte, nb int) float32 { return dotQ4_0RepackGo(w, a, nb) }

func dotQ4_KGemmOrder(w, a []byte, nb int) float32 { return dotQ4_KGemmOrderGo(w, a, nb) }

func dotQ4_0Repack4(w []byte, stride int, a []byte, nb int, out *[4]float32) {
	for k := range out {
		out[k] = dotQ4_0RepackGo(w[k*stride:], a, nb)
	}
}

func unsafeU16(b []byte) *uint16 { panic("qdot: no assembly") }

func f16VecOrderRowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32) {
	panic("qdot: no assembly")
}
func f16GemmOrderRowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32) {
	panic("qdot: no assembly")
}
func f16VecOrder32RowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32) {
	panic("qdot: no assembly")
}
func f16GemmOrder8RowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32) {
	panic("qdot: no assembly")
}

func f32VecOrder(w, x []float32, n int) float32  { return f32VecOrderGo(w, x, n) }
func f32GemmOrder(w, x []float32, n int) float32 { return f32GemmOrderGo(w, x, n) }
