//go:build amd64

#include "textflag.h"

// Multi-row ggml_vec_dot_f32: several weight rows (anywhere in memory) against
// one activation row, sharing the x loads. Every row keeps its own
// accumulators and gets exactly the per-lane FMA sequence and reduction of
// f32VecOrderAVX2 / f32VecOrder32AVX2, so each result is bit-identical to the
// one-row kernels; only the memory streams are interleaved (several rows far
// apart keep more misses in flight than one sequential stream).

// F32HSUM8 leaves the sum of Y8's 8 floats in X8's lane 0 as HSUM8 in
// llamaorder_amd64.s: ((t0+t4)+(t2+t6)) + ((t1+t5)+(t3+t7)) (clobbers X9).
#define F32HSUM8 \
	VEXTRACTF128 $1, Y8, X9 \
	VADDPS X9, X8, X8 \
	VMOVHLPS X8, X8, X9 \
	VADDPS X9, X8, X8 \
	VMOVSHDUP X8, X9 \
	VADDSS X9, X8, X8

// F32RED16 reduces four 16-lane accumulators a0..a3 (zmm) as f32VecOrderAVX2:
// (a0+a2)+(a1+a3), then low half + high half, then F32HSUM8; stores the
// float at off(DX). Clobbers a0, a1, Z8, Z9 (VEX writes zero the upper bits).
#define F32RED16(a0, a1, a2, a3, y0, off) \
	VADDPS a2, a0, a0 \
	VADDPS a3, a1, a1 \
	VADDPS a1, a0, a0 \
	VEXTRACTF64X4 $1, a0, Y8 \
	VADDPS y0, Y8, Y8 \
	F32HSUM8 \
	VMOVSS X8, off(DX)

// func f32VecOrderRows4AVX512(w0, w1, w2, w3, x *float32, nblk int, out *[4]float32)
// ggml_vec_dot_f32 of the AVX-512 build for four rows over nblk blocks of 64:
// row r's four 16-lane accumulators are Z(4r)..Z(4r+3).
TEXT ·f32VecOrderRows4AVX512(SB), NOSPLIT, $0-56
	MOVQ w0+0(FP), SI
	MOVQ w1+8(FP), R8
	MOVQ w2+16(FP), R9
	MOVQ w3+24(FP), R10
	MOVQ x+32(FP), DI
	MOVQ nblk+40(FP), CX
	MOVQ out+48(FP), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	TESTQ CX, CX
	JLE r4reduce
r4loop:
	VMOVUPS (DI), Z16
	VMOVUPS 64(DI), Z17
	VMOVUPS 128(DI), Z18
	VMOVUPS 192(DI), Z19
	VFMADD231PS (SI), Z16, Z0
	VFMADD231PS 64(SI), Z17, Z1
	VFMADD231PS 128(SI), Z18, Z2
	VFMADD231PS 192(SI), Z19, Z3
	VFMADD231PS (R8), Z16, Z4
	VFMADD231PS 64(R8), Z17, Z5
	VFMADD231PS 128(R8), Z18, Z6
	VFMADD231PS 192(R8), Z19, Z7
	VFMADD231PS (R9), Z16, Z8
	VFMADD231PS 64(R9), Z17, Z9
	VFMADD231PS 128(R9), Z18, Z10
	VFMADD231PS 192(R9), Z19, Z11
	VFMADD231PS (R10), Z16, Z12
	VFMADD231PS 64(R10), Z17, Z13
	VFMADD231PS 128(R10), Z18, Z14
	VFMADD231PS 192(R10), Z19, Z15
	ADDQ $256, SI
	ADDQ $256, R8
	ADDQ $256, R9
	ADDQ $256, R10
	ADDQ $256, DI
	DECQ CX
	JNZ r4loop
r4reduce:
	// Y8/X9 are the reduction's scratch: row 2's first two accumulators
	// move out of Z8, Z9 first.
	VMOVAPS Z8, Z20
	VMOVAPS Z9, Z21
	F32RED16(Z0, Z1, Z2, Z3, Y0, 0)
	F32RED16(Z4, Z5, Z6, Z7, Y4, 4)
	F32RED16(Z20, Z21, Z10, Z11, Y20, 8)
	F32RED16(Z12, Z13, Z14, Z15, Y12, 12)
	VZEROUPPER
	RET

// func f32VecOrder32Rows2AVX2(w0, w1, x *float32, nblk int, out *[2]float32)
// ggml_vec_dot_f32 of the AVX2 build for two rows over nblk blocks of 32:
// row 0's four 8-lane accumulators are Y0..Y3, row 1's Y4..Y7.
TEXT ·f32VecOrder32Rows2AVX2(SB), NOSPLIT, $0-40
	MOVQ w0+0(FP), SI
	MOVQ w1+8(FP), R8
	MOVQ x+16(FP), DI
	MOVQ nblk+24(FP), CX
	MOVQ out+32(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JLE r2reduce
r2loop:
	VMOVUPS (DI), Y8
	VMOVUPS 32(DI), Y9
	VMOVUPS 64(DI), Y10
	VMOVUPS 96(DI), Y11
	VFMADD231PS (SI), Y8, Y0
	VFMADD231PS 32(SI), Y9, Y1
	VFMADD231PS 64(SI), Y10, Y2
	VFMADD231PS 96(SI), Y11, Y3
	VFMADD231PS (R8), Y8, Y4
	VFMADD231PS 32(R8), Y9, Y5
	VFMADD231PS 64(R8), Y10, Y6
	VFMADD231PS 96(R8), Y11, Y7
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, DI
	DECQ CX
	JNZ r2loop
r2reduce:
	// As f32VecOrder32AVX2: (a0+a2)+(a1+a3), lo+hi, two hadds.
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	MOVSS X0, 0(DX)
	VADDPS Y6, Y4, Y4
	VADDPS Y7, Y5, Y5
	VADDPS Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS X5, X4, X4
	VHADDPS X4, X4, X4
	VHADDPS X4, X4, X4
	MOVSS X4, 4(DX)
	VZEROUPPER
	RET

// func f32FMATail4(w0, w1, w2, w3, x *float32, n int, out *[4]float32)
// out[k] = fma(wk[e], x[e], out[k]) for e = 0..n-1 in order: the leftover
// elements of ggml_vec_dot_f32, one correctly rounded float32 FMA at a time
// as FMA32, the four rows' dependency chains interleaved.
TEXT ·f32FMATail4(SB), NOSPLIT, $0-56
	MOVQ w0+0(FP), SI
	MOVQ w1+8(FP), R8
	MOVQ w2+16(FP), R9
	MOVQ w3+24(FP), R10
	MOVQ x+32(FP), DI
	MOVQ n+40(FP), CX
	MOVQ out+48(FP), DX
	VMOVSS 0(DX), X0
	VMOVSS 4(DX), X1
	VMOVSS 8(DX), X2
	VMOVSS 12(DX), X3
	XORQ AX, AX
	TESTQ CX, CX
	JLE tail4done
tail4loop:
	VMOVSS (DI)(AX*4), X4
	VFMADD231SS (SI)(AX*4), X4, X0
	VFMADD231SS (R8)(AX*4), X4, X1
	VFMADD231SS (R9)(AX*4), X4, X2
	VFMADD231SS (R10)(AX*4), X4, X3
	INCQ AX
	CMPQ AX, CX
	JLT tail4loop
tail4done:
	VMOVSS X0, 0(DX)
	VMOVSS X1, 4(DX)
	VMOVSS X2, 8(DX)
	VMOVSS X3, 12(DX)
	RET
