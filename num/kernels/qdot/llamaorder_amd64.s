//go:build amd64

#include "textflag.h"

// F16 dot products in the summation orders of llama.cpp's AVX-512 code, on
// AVX2 + FMA + F16C (see llamaorder_f16.go). x holds values representable
// in F16, so every product is exact and each FMA is one rounded addition:
// 8-lane registers emulate the 16-lane ones exactly.

// HSUM8 leaves the sum of Y8's 8 floats in X8's lane 0 as
// ((t[0]+t[4]) + (t[2]+t[6])) + ((t[1]+t[5]) + (t[3]+t[7])), the tail of
// GCC's _mm512_reduce_add_ps after its first halving (clobbers X9).
#define HSUM8 \
	VEXTRACTF128 $1, Y8, X9 \
	VADDPS X9, X8, X8 \
	VMOVHLPS X8, X8, X9 \
	VADDPS X9, X8, X8 \
	VMOVSHDUP X8, X9 \
	VADDSS X9, X8, X8

// VEC64_BLOCK: Y0..Y7 += half(SI[0:64])·DI[0:64]; lanes 16j+i live in
// Y(2j) (i < 8) and Y(2j+1) (i ≥ 8).
#define VEC64_BLOCK \
	VCVTPH2PS (SI), Y8 \
	VCVTPH2PS 16(SI), Y9 \
	VCVTPH2PS 32(SI), Y10 \
	VCVTPH2PS 48(SI), Y11 \
	VFMADD231PS (DI), Y8, Y0 \
	VFMADD231PS 32(DI), Y9, Y1 \
	VFMADD231PS 64(DI), Y10, Y2 \
	VFMADD231PS 96(DI), Y11, Y3 \
	VCVTPH2PS 64(SI), Y8 \
	VCVTPH2PS 80(SI), Y9 \
	VCVTPH2PS 96(SI), Y10 \
	VCVTPH2PS 112(SI), Y11 \
	VFMADD231PS 128(DI), Y8, Y4 \
	VFMADD231PS 160(DI), Y9, Y5 \
	VFMADD231PS 192(DI), Y10, Y6 \
	VFMADD231PS 224(DI), Y11, Y7

// func f16VecOrderAVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32
// nblk blocks of 64 from (w, x), then one block from (tw, tx) if tw != nil;
// reduced as ggml_vec_dot_f16: (acc0+acc2)+(acc1+acc3), then 16 → 1.
TEXT ·f16VecOrderAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JLE vectail
vecloop:
	VEC64_BLOCK
	ADDQ $128, SI
	ADDQ $256, DI
	DECQ CX
	JNZ vecloop
vectail:
	MOVQ tw+24(FP), SI
	TESTQ SI, SI
	JZ vecreduce
	MOVQ tx+32(FP), DI
	VEC64_BLOCK
vecreduce:
	VADDPS Y4, Y0, Y0  // acc0 + acc2 (low lanes)
	VADDPS Y6, Y2, Y2  // acc1 + acc3
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y1, Y1  // high lanes
	VADDPS Y7, Y3, Y3
	VADDPS Y3, Y1, Y1
	VADDPS Y0, Y1, Y8  // 16 → 8: lane i + lane 8+i
	HSUM8
	VZEROUPPER
	MOVSS X8, ret+40(FP)
	RET

// func f16GemmOrderAVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32
// nblk blocks of 16 (one 16-lane accumulator, as tinyBLAS), then one block
// from (tw, tx) if tw != nil; reduced 16 → 1.
TEXT ·f16GemmOrderAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ CX, CX
	JLE gemmtail
gemmloop:
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ gemmloop
gemmtail:
	MOVQ tw+24(FP), SI
	TESTQ SI, SI
	JZ gemmreduce
	MOVQ tx+32(FP), DI
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
gemmreduce:
	VADDPS Y0, Y1, Y8
	HSUM8
	VZEROUPPER
	MOVSS X8, ret+40(FP)
	RET

DATA lo_ones16<>+0(SB)/8, $0x0001000100010001
DATA lo_ones16<>+8(SB)/8, $0x0001000100010001
DATA lo_ones16<>+16(SB)/8, $0x0001000100010001
DATA lo_ones16<>+24(SB)/8, $0x0001000100010001
GLOBL lo_ones16<>(SB), RODATA|NOPTR, $32
DATA lo_mask0F<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lo_mask0F<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lo_mask0F<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lo_mask0F<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL lo_mask0F<>(SB), RODATA|NOPTR, $32
DATA lo_eight8<>+0(SB)/8, $0x0808080808080808
DATA lo_eight8<>+8(SB)/8, $0x0808080808080808
DATA lo_eight8<>+16(SB)/8, $0x0808080808080808
DATA lo_eight8<>+24(SB)/8, $0x0808080808080808
GLOBL lo_eight8<>(SB), RODATA|NOPTR, $32

// func dotQ4_0RepackAVX2(w, a *byte, nb int) float32
// Q4_0·Q8_0 in the order of ggml's repacked Q4_0 kernels: per block,
// acc = fma(float(Σ q·a), d·da, acc) on one scalar accumulator.
TEXT ·dotQ4_0RepackAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS X8, X8, X8
	VMOVDQU lo_ones16<>(SB), Y15
	VMOVDQU lo_mask0F<>(SB), Y14
	VMOVDQU lo_eight8<>(SB), Y13
	TESTQ CX, CX
	JLE q40rdone
q40rloop:
	// d·da in X4
	MOVWLZX (SI), AX
	MOVWLZX (DI), BX
	VMOVD AX, X4
	VPINSRW $1, BX, X4, X4
	VCVTPH2PS X4, X4
	VMOVSHDUP X4, X5
	VMULSS X5, X4, X4
	// weights q−8 as int8 (low nibbles: elements 0..15, high: 16..31)
	VMOVDQU 2(SI), X0
	VPSRLW $4, X0, X1
	VINSERTI128 $1, X1, Y0, Y0
	VPAND Y14, Y0, Y0
	VPSUBB Y13, Y0, Y0
	VMOVDQU 2(DI), Y1
	VPSIGNB Y0, Y0, Y2
	VPSIGNB Y0, Y1, Y3
	VPMADDUBSW Y3, Y2, Y2
	VPMADDWD Y15, Y2, Y2
	// exact integer sum of the 8 lanes
	VEXTRACTI128 $1, Y2, X3
	VPADDD X3, X2, X2
	VPSHUFD $0x4E, X2, X3
	VPADDD X3, X2, X2
	VPSHUFD $0xB1, X2, X3
	VPADDD X3, X2, X2
	VCVTDQ2PS X2, X2
	VFMADD231SS X4, X2, X8
	ADDQ $18, SI
	ADDQ $34, DI
	DECQ CX
	JNZ q40rloop
q40rdone:
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

DATA lo_expc<>+0(SB)/4, $0x4b400000   // r = 0x1.8p23
DATA lo_expc<>+4(SB)/4, $0x3fb8aa3b   // log2(e) 0x1.715476p+0
DATA lo_expc<>+8(SB)/4, $0x3f317200   // ln2 hi 0x1.62e4p-1
DATA lo_expc<>+12(SB)/4, $0x35bfbe8e  // ln2 lo 0x1.7f7d1cp-20
DATA lo_expc<>+16(SB)/4, $0x3c072010  // 0x1.0e4020p-7
DATA lo_expc<>+20(SB)/4, $0x3d2b9f17  // 0x1.573e2ep-5
DATA lo_expc<>+24(SB)/4, $0x3e2aaf33  // 0x1.555e66p-3
DATA lo_expc<>+28(SB)/4, $0x3efffedb  // 0x1.fffdb6p-2
DATA lo_expc<>+32(SB)/4, $0x3f7ffff6  // 0x1.ffffecp-1
DATA lo_expc<>+36(SB)/4, $0x3f800000  // 1
GLOBL lo_expc<>(SB), RODATA|NOPTR, $40

// EXP8: Y1 = ggml_v_expf(Y0) for lanes with |n| ≤ 126 (the caller redoes
// the others); constants in Y6..Y15 (r, log2e, ln2hi, ln2lo, c7, c5, c3, c2,
// c1, 1). Clobbers Y1..Y5.
#define EXP8 \
	VMOVAPS Y6, Y1 \
	VFMADD231PS Y7, Y0, Y1 \
	VSUBPS Y6, Y1, Y2 \
	VMOVAPS Y0, Y3 \
	VFNMADD231PS Y8, Y2, Y3 \
	VFNMADD231PS Y9, Y2, Y3 \
	VPSLLD $23, Y1, Y1 \
	VPADDD Y15, Y1, Y1 \
	VMULPS Y3, Y3, Y2 \
	VMOVAPS Y11, Y4 \
	VFMADD231PS Y10, Y3, Y4 \
	VMOVAPS Y13, Y5 \
	VFMADD231PS Y12, Y3, Y5 \
	VFMADD231PS Y2, Y4, Y5 \
	VMOVAPS Y15, Y4 \
	VFMADD231PS Y14, Y3, Y4 \
	VFMADD231PS Y2, Y5, Y4 \
	VMULPS Y1, Y4, Y1

#define EXP_CONSTS \
	VBROADCASTSS lo_expc<>+0(SB), Y6 \
	VBROADCASTSS lo_expc<>+4(SB), Y7 \
	VBROADCASTSS lo_expc<>+8(SB), Y8 \
	VBROADCASTSS lo_expc<>+12(SB), Y9 \
	VBROADCASTSS lo_expc<>+16(SB), Y10 \
	VBROADCASTSS lo_expc<>+20(SB), Y11 \
	VBROADCASTSS lo_expc<>+24(SB), Y12 \
	VBROADCASTSS lo_expc<>+28(SB), Y13 \
	VBROADCASTSS lo_expc<>+32(SB), Y14 \
	VBROADCASTSS lo_expc<>+36(SB), Y15

// func expAVX2(dst, src *float32, n int)   (n a multiple of 8)
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXP_CONSTS
	SHRQ $3, CX
	JZ expdone
exploop:
	VMOVUPS (SI), Y0
	EXP8
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ exploop
expdone:
	VZEROUPPER
	RET

// func siluMulAVX2(dst, gate, up *float32, n int)   (n a multiple of 8)
// dst = gate / (1 + exp(0 − gate)) · up
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	EXP_CONSTS
	SHRQ $3, CX
	JZ silldone
sillloop:
	VXORPS Y0, Y0, Y0
	VSUBPS (SI), Y0, Y0
	EXP8
	VADDPS Y15, Y1, Y1
	VMOVUPS (SI), Y0
	VDIVPS Y1, Y0, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ sillloop
silldone:
	VZEROUPPER
	RET
DATA lo_k4scale<>+0(SB)/8, $0x0100010001000100
DATA lo_k4scale<>+8(SB)/8, $0x0100010001000100
DATA lo_k4scale<>+16(SB)/8, $0x0100010001000100
DATA lo_k4scale<>+24(SB)/8, $0x0100010001000100
DATA lo_k4scale<>+32(SB)/8, $0x0302030203020302
DATA lo_k4scale<>+40(SB)/8, $0x0302030203020302
DATA lo_k4scale<>+48(SB)/8, $0x0302030203020302
DATA lo_k4scale<>+56(SB)/8, $0x0302030203020302
DATA lo_k4scale<>+64(SB)/8, $0x0504050405040504
DATA lo_k4scale<>+72(SB)/8, $0x0504050405040504
DATA lo_k4scale<>+80(SB)/8, $0x0504050405040504
DATA lo_k4scale<>+88(SB)/8, $0x0504050405040504
DATA lo_k4scale<>+96(SB)/8, $0x0706070607060706
DATA lo_k4scale<>+104(SB)/8, $0x0706070607060706
DATA lo_k4scale<>+112(SB)/8, $0x0706070607060706
DATA lo_k4scale<>+120(SB)/8, $0x0706070607060706
DATA lo_k4scale<>+128(SB)/8, $0x0908090809080908
DATA lo_k4scale<>+136(SB)/8, $0x0908090809080908
DATA lo_k4scale<>+144(SB)/8, $0x0908090809080908
DATA lo_k4scale<>+152(SB)/8, $0x0908090809080908
DATA lo_k4scale<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA lo_k4scale<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA lo_k4scale<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA lo_k4scale<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA lo_k4scale<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA lo_k4scale<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA lo_k4scale<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA lo_k4scale<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA lo_k4scale<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA lo_k4scale<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA lo_k4scale<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA lo_k4scale<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL lo_k4scale<>(SB), RODATA|NOPTR, $256

// LO_K4_PAIR(qoff, aoff, moff): Y0 = 8 int32 lanes summing to
// sc[2j]·Σ lo(qs)·a + sc[2j+1]·Σ hi(qs)·a over the 64 elements of pair j
// (qs at SI+qoff, activations at DI+aoff, scales as int16 in Y6).
#define LO_K4_PAIR(qoff, aoff, moff) \
	VMOVDQU qoff(SI), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y14, Y0, Y0 \
	VPAND Y14, Y1, Y1 \
	VPMADDUBSW aoff(DI), Y0, Y0 \
	VPMADDUBSW aoff+32(DI), Y1, Y1 \
	VPSHUFB lo_k4scale<>+moff(SB), Y6, Y2 \
	VPSHUFB lo_k4scale<>+moff+32(SB), Y6, Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y1, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X12 \
	VPADDD X12, X0, X0 \
	VPSHUFD $0x4E, X0, X12 \
	VPADDD X12, X0, X0 \
	VPSHUFD $0xB1, X0, X12 \
	VPADDD X12, X0, X0 \
	VCVTDQ2PS X0, X0 \
	VFMADD231SS X4, X0, X8

// func dotQ4_KGemmOrderAVX2(w, a *byte, nb int) float32
// The order of ggml's repacked Q4_K GEMM: per 64-element pair of
// sub-blocks, acc = fma(float(Σ sc·q·a), d·da, acc) and
// accm = fma(float(m₀·bsum₀ + m₁·bsum₁), dmin·da, accm); result acc − accm.
TEXT ·dotQ4_KGemmOrderAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS X8, X8, X8
	VXORPS X11, X11, X11
	VMOVDQU lo_mask0F<>(SB), Y14
	TESTQ CX, CX
	JLE q4kgdone
q4kgloop:
	// the 6-bit scales (bytes 0..7 of X6) and mins (bytes 8..15)
	MOVL 4(SI), AX
	MOVL 8(SI), BX
	MOVL 12(SI), DX
	MOVL DX, R8
	SHRL $4, R8
	ANDL $0x0f0f0f0f, R8
	MOVL BX, R9
	SHRL $6, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL R9, R8
	MOVL DX, R10
	ANDL $0x0f0f0f0f, R10
	MOVL AX, R9
	SHRL $6, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL R9, R10
	ANDL $0x3f3f3f3f, BX
	ANDL $0x3f3f3f3f, AX
	VMOVD AX, X6
	VPINSRD $1, R10, X6, X6
	VPINSRD $2, BX, X6, X6
	VPINSRD $3, R8, X6, X6
	// X4 = [d·da, dmin·da]
	MOVL (SI), AX
	VMOVD AX, X4
	VCVTPH2PS X4, X4
	VBROADCASTSS (DI), X5
	VMULPS X5, X4, X4
	VMOVSHDUP X4, X5
	// the four pairs' Σ m·bsums as floats in X7 lanes 0..3
	VPSRLDQ $8, X6, X7
	VPMOVZXBW X7, X7
	VMOVDQU 260(DI), Y13
	VEXTRACTI128 $1, Y13, X3
	VPHADDW X3, X13, X13
	VPMADDWD X13, X7, X7
	VCVTDQ2PS X7, X7
	VFMADD231SS X5, X7, X11
	VPSRLDQ $4, X7, X7
	VFMADD231SS X5, X7, X11
	VPSRLDQ $4, X7, X7
	VFMADD231SS X5, X7, X11
	VPSRLDQ $4, X7, X7
	VFMADD231SS X5, X7, X11
	// scales as int16 in both lanes
	VPMOVZXBW X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	LO_K4_PAIR(16, 4, 0)
	LO_K4_PAIR(48, 68, 64)
	LO_K4_PAIR(80, 132, 128)
	LO_K4_PAIR(112, 196, 192)
	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ q4kgloop
q4kgdone:
	VSUBSS X11, X8, X8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// LO_Q40_ROW(reg, dst): dst = 8 int32 lanes summing to Σ (q−8)·a over the
// Q4_0 block at reg (activations in Y1).
#define LO_Q40_ROW(reg, dst) \
	VMOVDQU 2(reg), X0 \
	VPSRLW $4, X0, X9 \
	VINSERTI128 $1, X9, Y0, Y0 \
	VPAND Y14, Y0, Y0 \
	VPSUBB Y13, Y0, Y0 \
	VPSIGNB Y0, Y0, Y10 \
	VPSIGNB Y0, Y1, Y11 \
	VPMADDUBSW Y11, Y10, Y10 \
	VPMADDWD Y15, Y10, dst

// func dotQ4_0Repack4AVX2(w *byte, stride int, a *byte, nb int, out *float32)
// Four consecutive rows (stride bytes apart) against one activation row in
// the repacked Q4_0 order; the four accumulators share a vector, one lane
// per row, so each still sees acc = fma(float(Σ q·a), d·da, acc) per block.
TEXT ·dotQ4_0Repack4AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), R11
	MOVQ a+16(FP), DI
	MOVQ nb+24(FP), CX
	MOVQ out+32(FP), R12
	LEAQ (SI)(R11*1), R8
	LEAQ (R8)(R11*1), R9
	LEAQ (R9)(R11*1), R10
	VXORPS X8, X8, X8
	VMOVDQU lo_ones16<>(SB), Y15
	VMOVDQU lo_mask0F<>(SB), Y14
	VMOVDQU lo_eight8<>(SB), Y13
	TESTQ CX, CX
	JLE q404done
q404loop:
	VMOVDQU 2(DI), Y1
	LO_Q40_ROW(SI, Y2)
	LO_Q40_ROW(R8, Y3)
	LO_Q40_ROW(R9, Y4)
	LO_Q40_ROW(R10, Y5)
	VPHADDD Y3, Y2, Y2
	VPHADDD Y5, Y4, Y4
	VPHADDD Y4, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDD X3, X2, X2
	VCVTDQ2PS X2, X2
	// d of the four weight blocks times d of the activation block
	MOVWLZX (SI), AX
	VMOVD AX, X6
	MOVWLZX (R8), AX
	VPINSRW $1, AX, X6, X6
	MOVWLZX (R9), AX
	VPINSRW $2, AX, X6, X6
	MOVWLZX (R10), AX
	VPINSRW $3, AX, X6, X6
	VCVTPH2PS X6, X6
	MOVWLZX (DI), AX
	VMOVD AX, X7
	VCVTPH2PS X7, X7
	VBROADCASTSS X7, X7
	VMULPS X7, X6, X6
	VFMADD231PS X6, X2, X8
	ADDQ $18, SI
	ADDQ $18, R8
	ADDQ $18, R9
	ADDQ $18, R10
	ADDQ $34, DI
	DECQ CX
	JNZ q404loop
q404done:
	VMOVUPS X8, (R12)
	VZEROUPPER
	RET

// func f16VecOrder32AVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32
// ggml_vec_dot_f16 of the AVX2 build: blocks of 32 into four 8-lane
// accumulators, (acc0+acc2)+(acc1+acc3), then lo+hi and two HADDPS.
TEXT ·f16VecOrder32AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JLE v32tail
v32loop:
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VCVTPH2PS 32(SI), Y10
	VCVTPH2PS 48(SI), Y11
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ CX
	JNZ v32loop
v32tail:
	MOVQ tw+24(FP), SI
	TESTQ SI, SI
	JZ v32reduce
	MOVQ tx+32(FP), DI
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VCVTPH2PS 32(SI), Y10
	VCVTPH2PS 48(SI), Y11
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
v32reduce:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func f16GemmOrder8AVX2(w *uint16, x *float32, nblk int, tw *uint16, tx *float32) float32
// tinyBLAS F16 of the AVX2 build: one 8-lane accumulator, then HSUM8.
TEXT ·f16GemmOrder8AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y8, Y8, Y8
	TESTQ CX, CX
	JLE g8tail
g8loop:
	VCVTPH2PS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ g8loop
g8tail:
	MOVQ tw+24(FP), SI
	TESTQ SI, SI
	JZ g8reduce
	MOVQ tx+32(FP), DI
	VCVTPH2PS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
g8reduce:
	HSUM8
	VZEROUPPER
	MOVSS X8, ret+40(FP)
	RET

// EXP8_AVX2: Y1 = ggml_v_expf (AVX2 build) of Y0 for lanes with |n| ≤ 126:
// j = fma(fma(fma(c7,b,c5),u,fma(c3,b,c2)),u,c1·b), result fma(j,k,k).
#define EXP8_AVX2 \
	VMOVAPS Y6, Y1 \
	VFMADD231PS Y7, Y0, Y1 \
	VSUBPS Y6, Y1, Y2 \
	VMOVAPS Y0, Y3 \
	VFNMADD231PS Y8, Y2, Y3 \
	VFNMADD231PS Y9, Y2, Y3 \
	VPSLLD $23, Y1, Y1 \
	VPADDD Y15, Y1, Y1 \
	VMULPS Y3, Y3, Y2 \
	VMOVAPS Y11, Y4 \
	VFMADD231PS Y10, Y3, Y4 \
	VMOVAPS Y13, Y5 \
	VFMADD231PS Y12, Y3, Y5 \
	VFMADD231PS Y2, Y4, Y5 \
	VMULPS Y14, Y3, Y4 \
	VFMADD231PS Y2, Y5, Y4 \
	VFMADD213PS Y1, Y4, Y1

// func exp2AVX2(dst, src *float32, n int)   (n a multiple of 8)
TEXT ·exp2AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXP_CONSTS
	SHRQ $3, CX
	JZ exp2done
exp2loop:
	VMOVUPS (SI), Y0
	EXP8_AVX2
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ exp2loop
exp2done:
	VZEROUPPER
	RET

// func siluMul2AVX2(dst, gate, up *float32, n int)   (n a multiple of 8)
TEXT ·siluMul2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	EXP_CONSTS
	SHRQ $3, CX
	JZ sil2done
sil2loop:
	VXORPS Y0, Y0, Y0
	VSUBPS (SI), Y0, Y0
	EXP8_AVX2
	VADDPS Y15, Y1, Y1
	VMOVUPS (SI), Y0
	VDIVPS Y1, Y0, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ sil2loop
sil2done:
	VZEROUPPER
	RET

// Multi-row forms: out[r] = dot(row r of w, x) for rows rows stride bytes
// apart, each row nblk full blocks, no tail (the per-row kernels above
// reduce exactly the same way).
// func f16VecOrderRowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)
TEXT ·f16VecOrderRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ nblk+24(FP), R11
	MOVQ rows+32(FP), R12
	MOVQ out+40(FP), R13
	TESTQ R12, R12
	JLE vrdone
vrrow:
	MOVQ R8, SI
	MOVQ R10, DI
	MOVQ R11, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JLE vrreduce
vrloop:
	VEC64_BLOCK
	ADDQ $128, SI
	ADDQ $256, DI
	DECQ CX
	JNZ vrloop
vrreduce:
	VADDPS Y4, Y0, Y0
	VADDPS Y6, Y2, Y2
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y7, Y3, Y3
	VADDPS Y3, Y1, Y1
	VADDPS Y0, Y1, Y8
	HSUM8
	MOVSS X8, (R13)
	ADDQ $4, R13
	ADDQ R9, R8
	DECQ R12
	JNZ vrrow
vrdone:
	VZEROUPPER
	RET

// func f16GemmOrderRowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)
TEXT ·f16GemmOrderRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ nblk+24(FP), R11
	MOVQ rows+32(FP), R12
	MOVQ out+40(FP), R13
	TESTQ R12, R12
	JLE grdone
grrow:
	MOVQ R8, SI
	MOVQ R10, DI
	MOVQ R11, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ CX, CX
	JLE grreduce
grloop:
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ grloop
grreduce:
	VADDPS Y0, Y1, Y8
	HSUM8
	MOVSS X8, (R13)
	ADDQ $4, R13
	ADDQ R9, R8
	DECQ R12
	JNZ grrow
grdone:
	VZEROUPPER
	RET

// func f16VecOrder32RowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)
TEXT ·f16VecOrder32RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ nblk+24(FP), R11
	MOVQ rows+32(FP), R12
	MOVQ out+40(FP), R13
	TESTQ R12, R12
	JLE v32rdone
v32rrow:
	MOVQ R8, SI
	MOVQ R10, DI
	MOVQ R11, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JLE v32rreduce
v32rloop:
	VCVTPH2PS (SI), Y8
	VCVTPH2PS 16(SI), Y9
	VCVTPH2PS 32(SI), Y10
	VCVTPH2PS 48(SI), Y11
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ CX
	JNZ v32rloop
v32rreduce:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	MOVSS X0, (R13)
	ADDQ $4, R13
	ADDQ R9, R8
	DECQ R12
	JNZ v32rrow
v32rdone:
	VZEROUPPER
	RET

// func f16GemmOrder8RowsAVX2(w *uint16, stride int, x *float32, nblk, rows int, out *float32)
TEXT ·f16GemmOrder8RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), R9
	MOVQ x+16(FP), R10
	MOVQ nblk+24(FP), R11
	MOVQ rows+32(FP), R12
	MOVQ out+40(FP), R13
	TESTQ R12, R12
	JLE g8rdone
g8rrow:
	MOVQ R8, SI
	MOVQ R10, DI
	MOVQ R11, CX
	VXORPS Y8, Y8, Y8
	TESTQ CX, CX
	JLE g8rreduce
g8rloop:
	VCVTPH2PS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ g8rloop
g8rreduce:
	HSUM8
	MOVSS X8, (R13)
	ADDQ $4, R13
	ADDQ R9, R8
	DECQ R12
	JNZ g8rrow
g8rdone:
	VZEROUPPER
	RET

// func f32VecOrderAVX2(w, x *float32, nblk int) float32
// ggml_vec_dot_f32 of the AVX-512 build over nblk blocks of 64 (FMA into
// four 16-lane accumulators; reduced like f16VecOrderAVX2).
TEXT ·f32VecOrderAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JLE f32vreduce
f32vloop:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	VMOVUPS 128(SI), Y8
	VMOVUPS 160(SI), Y9
	VMOVUPS 192(SI), Y10
	VMOVUPS 224(SI), Y11
	VFMADD231PS 128(DI), Y8, Y4
	VFMADD231PS 160(DI), Y9, Y5
	VFMADD231PS 192(DI), Y10, Y6
	VFMADD231PS 224(DI), Y11, Y7
	ADDQ $256, SI
	ADDQ $256, DI
	DECQ CX
	JNZ f32vloop
f32vreduce:
	VADDPS Y4, Y0, Y0
	VADDPS Y6, Y2, Y2
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y7, Y3, Y3
	VADDPS Y3, Y1, Y1
	VADDPS Y0, Y1, Y8
	HSUM8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// func f32GemmOrderAVX2(w, x *float32, nblk int) float32
// tinyBLAS F32 of the AVX-512 build: one 16-lane FMA accumulator.
TEXT ·f32GemmOrderAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ CX, CX
	JLE f32greduce
f32gloop:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ f32gloop
f32greduce:
	VADDPS Y0, Y1, Y8
	HSUM8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// func f32VecOrder32AVX2(w, x *float32, nblk int) float32
// ggml_vec_dot_f32 of the AVX2 build (blocks of 32, four 8-lane FMA
// accumulators, hadd reduction).
TEXT ·f32VecOrder32AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JLE f32v32reduce
f32v32loop:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ f32v32loop
f32v32reduce:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func f32GemmOrder8AVX2(w, x *float32, nblk int) float32
// tinyBLAS F32 of the AVX2 build: one 8-lane FMA accumulator.
TEXT ·f32GemmOrder8AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ nblk+16(FP), CX
	VXORPS Y8, Y8, Y8
	TESTQ CX, CX
	JLE f32g8reduce
f32g8loop:
	VMOVUPS (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ f32g8loop
f32g8reduce:
	HSUM8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET
