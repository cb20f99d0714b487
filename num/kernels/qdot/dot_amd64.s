//go:build amd64

#include "textflag.h"

// AVX2 + FMA + F16C dot products. Go assembler operand order: sources first,
// destination last (VPMADDUBSW signed, unsigned, dst).

DATA ones16<>+0(SB)/8, $0x0001000100010001
DATA ones16<>+8(SB)/8, $0x0001000100010001
DATA ones16<>+16(SB)/8, $0x0001000100010001
DATA ones16<>+24(SB)/8, $0x0001000100010001
GLOBL ones16<>(SB), RODATA|NOPTR, $32

DATA mask0F<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mask0F<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mask0F<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mask0F<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL mask0F<>(SB), RODATA|NOPTR, $32

DATA eight8<>+0(SB)/8, $0x0808080808080808
DATA eight8<>+8(SB)/8, $0x0808080808080808
DATA eight8<>+16(SB)/8, $0x0808080808080808
DATA eight8<>+24(SB)/8, $0x0808080808080808
GLOBL eight8<>(SB), RODATA|NOPTR, $32

DATA sixteen8<>+0(SB)/8, $0x1010101010101010
DATA sixteen8<>+8(SB)/8, $0x1010101010101010
DATA sixteen8<>+16(SB)/8, $0x1010101010101010
DATA sixteen8<>+24(SB)/8, $0x1010101010101010
GLOBL sixteen8<>(SB), RODATA|NOPTR, $32

DATA mask30<>+0(SB)/8, $0x3030303030303030
DATA mask30<>+8(SB)/8, $0x3030303030303030
DATA mask30<>+16(SB)/8, $0x3030303030303030
DATA mask30<>+24(SB)/8, $0x3030303030303030
GLOBL mask30<>(SB), RODATA|NOPTR, $32

DATA q5shuf<>+0(SB)/8, $0x0000000000000000
DATA q5shuf<>+8(SB)/8, $0x0101010101010101
DATA q5shuf<>+16(SB)/8, $0x0202020202020202
DATA q5shuf<>+24(SB)/8, $0x0303030303030303
GLOBL q5shuf<>(SB), RODATA|NOPTR, $32

DATA q5bits<>+0(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bits<>+8(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bits<>+16(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bits<>+24(SB)/8, $0x7fbfdfeff7fbfdfe
GLOBL q5bits<>(SB), RODATA|NOPTR, $32

DATA k4scale<>+0(SB)/8, $0x0100010001000100
DATA k4scale<>+8(SB)/8, $0x0100010001000100
DATA k4scale<>+16(SB)/8, $0x0100010001000100
DATA k4scale<>+24(SB)/8, $0x0100010001000100
DATA k4scale<>+32(SB)/8, $0x0302030203020302
DATA k4scale<>+40(SB)/8, $0x0302030203020302
DATA k4scale<>+48(SB)/8, $0x0302030203020302
DATA k4scale<>+56(SB)/8, $0x0302030203020302
DATA k4scale<>+64(SB)/8, $0x0504050405040504
DATA k4scale<>+72(SB)/8, $0x0504050405040504
DATA k4scale<>+80(SB)/8, $0x0504050405040504
DATA k4scale<>+88(SB)/8, $0x0504050405040504
DATA k4scale<>+96(SB)/8, $0x0706070607060706
DATA k4scale<>+104(SB)/8, $0x0706070607060706
DATA k4scale<>+112(SB)/8, $0x0706070607060706
DATA k4scale<>+120(SB)/8, $0x0706070607060706
DATA k4scale<>+128(SB)/8, $0x0908090809080908
DATA k4scale<>+136(SB)/8, $0x0908090809080908
DATA k4scale<>+144(SB)/8, $0x0908090809080908
DATA k4scale<>+152(SB)/8, $0x0908090809080908
DATA k4scale<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4scale<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4scale<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4scale<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4scale<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4scale<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4scale<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4scale<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4scale<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4scale<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4scale<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4scale<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL k4scale<>(SB), RODATA|NOPTR, $256

DATA q6scale<>+0(SB)/8, $0x0100010001000100
DATA q6scale<>+8(SB)/8, $0x0100010001000100
DATA q6scale<>+16(SB)/8, $0x0302030203020302
DATA q6scale<>+24(SB)/8, $0x0302030203020302
DATA q6scale<>+32(SB)/8, $0x0504050405040504
DATA q6scale<>+40(SB)/8, $0x0504050405040504
DATA q6scale<>+48(SB)/8, $0x0706070607060706
DATA q6scale<>+56(SB)/8, $0x0706070607060706
DATA q6scale<>+64(SB)/8, $0x0908090809080908
DATA q6scale<>+72(SB)/8, $0x0908090809080908
DATA q6scale<>+80(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q6scale<>+88(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA q6scale<>+96(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q6scale<>+104(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA q6scale<>+112(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA q6scale<>+120(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL q6scale<>(SB), RODATA|NOPTR, $128

// v4kA / v4kB / v4kC1..3: the vector unpack of the 12 packed Q4_K/Q5_K
// scale bytes (see K4V_SCALES), for the two-row kernels.
DATA v4kA<>+0(SB)/8, $0x0b0a090803020100
DATA v4kA<>+8(SB)/8, $0x0b0a090807060504
GLOBL v4kA<>(SB), RODATA|NOPTR, $16

DATA v4kB<>+0(SB)/8, $0x0302010080808080
DATA v4kB<>+8(SB)/8, $0x0706050480808080
GLOBL v4kB<>(SB), RODATA|NOPTR, $16

DATA v4kC1<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA v4kC1<>+8(SB)/8, $0x000000003f3f3f3f
GLOBL v4kC1<>(SB), RODATA|NOPTR, $16

DATA v4kC2<>+0(SB)/8, $0x0000000000000000
DATA v4kC2<>+8(SB)/8, $0x0f0f0f0f00000000
GLOBL v4kC2<>(SB), RODATA|NOPTR, $16

DATA v4kC3<>+0(SB)/8, $0x3030303000000000
DATA v4kC3<>+8(SB)/8, $0x3030303000000000
GLOBL v4kC3<>(SB), RODATA|NOPTR, $16

// HSUM_Y8 leaves the sum of Y8's 8 floats in X8's lane 0 (clobbers X9).
#define HSUM_Y8 \
	VEXTRACTF128 $1, Y8, X9 \
	VADDPS X9, X8, X8 \
	VMOVHLPS X8, X8, X9 \
	VADDPS X9, X8, X8 \
	VMOVSHDUP X8, X9 \
	VADDSS X9, X8, X8

// SCALE2 broadcasts f16(SI+off)·f16(DI+0) into Y4 (clobbers AX, BX, X5).
#define SCALE2 \
	MOVWLZX (SI), AX \
	MOVWLZX (DI), BX \
	VMOVD AX, X4 \
	VPINSRW $1, BX, X4, X4 \
	VCVTPH2PS X4, X4 \
	VMOVSHDUP X4, X5 \
	VMULSS X5, X4, X4 \
	VBROADCASTSS X4, Y4

// SIGNED_DOT: Y8 += Y4 · float(Σ int8(Y0)·int8(Y1)) in 8 lanes (clobbers Y2, Y3).
// Y0 may hold −128; Y1 (activations) must lie in [−127, 127].
#define SIGNED_DOT \
	VPSIGNB Y0, Y0, Y2 \
	VPSIGNB Y0, Y1, Y3 \
	VPMADDUBSW Y3, Y2, Y2 \
	VPMADDWD Y15, Y2, Y2 \
	VCVTDQ2PS Y2, Y2 \
	VFMADD231PS Y4, Y2, Y8

// R2_ARGS, R2_ROWS, R2_FINISH: the row bookkeeping of the two-row kernels
// at the end of this file (defined here, before any TEXT, for go vet).
#define R2_ARGS \
	MOVQ w+0(FP), SI \
	MOVQ stride+8(FP), R8 \
	MOVQ a+16(FP), DI \
	MOVQ nb+24(FP), CX \
	MOVQ dst+32(FP), R9 \
	MOVQ nrows+40(FP), R10 \
	LEAQ 1(R10), R13 \
	SHRQ $1, R13 \
	MOVQ R13, R14 \
	SHLQ $2, R14 \
	IMULQ R8, R13 \
	SHRQ $1, R10

#define R2_ROWS \
	MOVQ SI, R11 \
	LEAQ (SI)(R13*1), R12 \
	TESTQ R10, R10 \
	JNZ 2(PC) \
	MOVQ SI, R12 \
	MOVQ DI, DX \
	MOVQ CX, BX \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9

// R2_FINISH(loop, done): dst[i] = hsum(Y8), dst[i+H] = hsum(Y9), next pair.
#define R2_FINISH(loop, done) \
	VMOVAPS Y9, Y10 \
	HSUM_Y8 \
	MOVSS X8, (R9) \
	TESTQ R10, R10 \
	JZ done \
	VMOVAPS Y10, Y8 \
	HSUM_Y8 \
	MOVSS X8, (R9)(R14*1) \
	ADDQ R8, SI \
	ADDQ $4, R9 \
	DECQ R10 \
	JNZ loop \
	MOVQ nrows+40(FP), AX \
	ANDQ $1, AX \
	JNZ loop

// R2_FINISH_SCALAR(loop, done): as R2_FINISH for kernels whose results are
// already scalars in X8 (row A) and X9 (row B).
#define R2_FINISH_SCALAR(loop, done) \
	MOVSS X8, (R9) \
	TESTQ R10, R10 \
	JZ done \
	MOVSS X9, (R9)(R14*1) \
	ADDQ R8, SI \
	ADDQ $4, R9 \
	DECQ R10 \
	JNZ loop \
	MOVQ nrows+40(FP), AX \
	ANDQ $1, AX \
	JNZ loop

// func dotQ8_0AVX2(w, a *byte, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y8, Y8, Y8
	VMOVDQU ones16<>(SB), Y15
	TESTQ CX, CX
	JLE q80done
q80loop:
	SCALE2
	VMOVDQU 2(SI), Y0
	VMOVDQU 2(DI), Y1
	SIGNED_DOT
	ADDQ $34, SI
	ADDQ $34, DI
	DECQ CX
	JNZ q80loop
q80done:
	HSUM_Y8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// func dotQ4_0AVX2(w, a *byte, nb int) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y8, Y8, Y8
	VMOVDQU ones16<>(SB), Y15
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU eight8<>(SB), Y13
	TESTQ CX, CX
	JLE q40done
q40loop:
	SCALE2
	VMOVDQU 2(SI), X0
	VPSRLW $4, X0, X1
	VINSERTI128 $1, X1, Y0, Y0
	VPAND Y14, Y0, Y0
	VPSUBB Y13, Y0, Y0
	VMOVDQU 2(DI), Y1
	SIGNED_DOT
	ADDQ $18, SI
	ADDQ $34, DI
	DECQ CX
	JNZ q40loop
q40done:
	HSUM_Y8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// func dotQ5_0AVX2(w, a *byte, nb int) float32
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y8, Y8, Y8
	VMOVDQU ones16<>(SB), Y15
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU sixteen8<>(SB), Y13
	VMOVDQU q5shuf<>(SB), Y12
	VMOVDQU q5bits<>(SB), Y11
	VPCMPEQB Y10, Y10, Y10
	TESTQ CX, CX
	JLE q50done
q50loop:
	SCALE2
	VMOVDQU 6(SI), X0
	VPSRLW $4, X0, X1
	VINSERTI128 $1, X1, Y0, Y0
	VPAND Y14, Y0, Y0
	VPBROADCASTD 2(SI), Y6
	VPSHUFB Y12, Y6, Y6
	VPOR Y11, Y6, Y6
	VPCMPEQB Y10, Y6, Y6
	VPAND Y13, Y6, Y6
	VPOR Y6, Y0, Y0
	VPSUBB Y13, Y0, Y0
	VMOVDQU 2(DI), Y1
	SIGNED_DOT
	ADDQ $22, SI
	ADDQ $34, DI
	DECQ CX
	JNZ q50loop
q50done:
	HSUM_Y8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// K4_SUB(j): Y10 += sc[2j]·Σ lo(qs)·a + sc[2j+1]·Σ hi(qs)·a for the 64
// elements of chunk j (qs at SI+16+32j, activations at DI+4+64j).
#define K4_SUB(qoff, aoff, moff) \
	VMOVDQU qoff(SI), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y14, Y0, Y0 \
	VPAND Y14, Y1, Y1 \
	VPMADDUBSW aoff(DI), Y0, Y0 \
	VPMADDUBSW aoff+32(DI), Y1, Y1 \
	VPSHUFB k4scale<>+moff(SB), Y6, Y2 \
	VPSHUFB k4scale<>+moff+32(SB), Y6, Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y0, Y10, Y10 \
	VPADDD Y1, Y10, Y10

// func dotQ4_KAVX2(w, a *byte, nb int) float32
//
// Per super-block the integer sums are reduced exactly, then
// acc += float(Σ sc·q·a)·(d·da) and accm += float(Σ m·bsums)·(dmin·da); the
// result is acc − accm. This is the float order of ggml's repacked Q4_K
// kernels (which llama.cpp uses for Q4_K weights on AVX2), so that outputs
// agree bit for bit and later activation quantization rounds the same way.
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS X11, X11, X11
	VMOVDQU mask0F<>(SB), Y14
	TESTQ CX, CX
	JLE q4kdone
q4kloop:
	// Unpack the 6-bit scales (bytes 0..7 of X6) and mins (bytes 8..15).
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
	// Σ mins · (pairs of bsums), reduced to one int32
	VPSRLDQ $8, X6, X7
	VPMOVZXBW X7, X7
	VMOVDQU 260(DI), Y5
	VEXTRACTI128 $1, Y5, X4
	VPHADDW X4, X5, X5
	VPMADDWD X5, X7, X7
	VPSHUFD $0x4E, X7, X4
	VPADDD X4, X7, X7
	VPSHUFD $0xB1, X7, X4
	VPADDD X4, X7, X7
	VCVTDQ2PS X7, X7
	// X4 = [d·da, dmin·da]
	MOVL (SI), AX
	VMOVD AX, X4
	VCVTPH2PS X4, X4
	VBROADCASTSS (DI), X5
	VMULPS X5, X4, X4
	VMOVSHDUP X4, X5
	VFMADD231SS X7, X5, X11
	// scales as int16 in both lanes
	VPMOVZXBW X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	VPXOR Y10, Y10, Y10
	K4_SUB(16, 4, 0)
	K4_SUB(48, 68, 64)
	K4_SUB(80, 132, 128)
	K4_SUB(112, 196, 192)
	VEXTRACTI128 $1, Y10, X12
	VPADDD X12, X10, X10
	VPSHUFD $0x4E, X10, X12
	VPADDD X12, X10, X10
	VPSHUFD $0xB1, X10, X12
	VPADDD X12, X10, X10
	VCVTDQ2PS X10, X10
	VFMADD231SS X4, X10, X8
	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ q4kloop
q4kdone:
	VSUBSS X11, X8, X8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// Q6_CHUNK: Y10 += scales · Σ q·a for one 32-element chunk whose 6-bit
// values are in Y3 (activations at aoff(DI), scale shuffle at moff).
#define Q6_CHUNK(aoff, moff) \
	VPMADDUBSW aoff(DI), Y3, Y3 \
	VPSHUFB q6scale<>+moff(SB), Y6, Y4 \
	VPMADDWD Y4, Y3, Y3 \
	VPADDD Y3, Y10, Y10

// Q6_HALF(h): the 128 elements of half h.
#define Q6_HALF(qloff, qhoff, scoff, aoff) \
	VPMOVSXBW scoff(SI), X6 \
	VINSERTI128 $1, X6, Y6, Y6 \
	VMOVDQU qloff(SI), Y0 \
	VMOVDQU qloff+32(SI), Y1 \
	VMOVDQU qhoff(SI), Y2 \
	VPAND Y14, Y0, Y3 \
	VPSLLW $4, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6_CHUNK(aoff, 0) \
	VPAND Y14, Y1, Y3 \
	VPSLLW $2, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6_CHUNK(aoff+32, 32) \
	VPSRLW $4, Y0, Y3 \
	VPAND Y14, Y3, Y3 \
	VPAND Y13, Y2, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6_CHUNK(aoff+64, 64) \
	VPSRLW $4, Y1, Y3 \
	VPAND Y14, Y3, Y3 \
	VPSRLW $2, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6_CHUNK(aoff+96, 96)

// func dotQ6_KAVX2(w, a *byte, nb int) float32
TEXT ·dotQ6_KAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y8, Y8, Y8
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU mask30<>(SB), Y13
	TESTQ CX, CX
	JLE q6kdone
q6kloop:
	// sumi = −32 · Σ_g sc[g]·bsums[g]
	VPMOVSXBW 192(SI), Y7
	VPMADDWD 260(DI), Y7, Y5
	VPSLLD $5, Y5, Y5
	VPXOR Y10, Y10, Y10
	VPSUBD Y5, Y10, Y10
	Q6_HALF(0, 128, 192, 4)
	Q6_HALF(64, 160, 200, 132)
	MOVWLZX 208(SI), AX
	VMOVD AX, X4
	VCVTPH2PS X4, X4
	VMULSS (DI), X4, X4
	VBROADCASTSS X4, Y4
	VCVTDQ2PS Y10, Y10
	VFMADD231PS Y4, Y10, Y8
	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ q6kloop
q6kdone:
	HSUM_Y8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// func dotF32AVX2(w, x *float32, n int) float32   (n a multiple of 8)
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $32
	JLT f32tail
f32loop:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y8
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE f32loop
f32tail:
	CMPQ CX, $8
	JLT f32done
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y8
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP f32tail
f32done:
	VADDPS Y1, Y8, Y8
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y8, Y8
	HSUM_Y8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// func dotF16AVX2(w *uint16, x *float32, n int) float32   (n a multiple of 8)
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ CX, $32
	JLT f16tail
f16loop:
	VCVTPH2PS (SI), Y4
	VCVTPH2PS 16(SI), Y5
	VCVTPH2PS 32(SI), Y6
	VCVTPH2PS 48(SI), Y7
	VFMADD231PS (DI), Y4, Y8
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE f16loop
f16tail:
	CMPQ CX, $8
	JLT f16done
	VCVTPH2PS (SI), Y4
	VFMADD231PS (DI), Y4, Y8
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP f16tail
f16done:
	VADDPS Y1, Y8, Y8
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y8, Y8
	HSUM_Y8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// K5_BITS(lo, hi): Y0/Y1 (low/high nibbles of a Q5_K chunk) get their fifth
// bit from Y2/Y3 (qh moved so the chunk's bits sit at bit 4).
#define K5_BITS \
	VPAND Y13, Y2, Y2 \
	VPAND Y13, Y3, Y3 \
	VPOR Y2, Y0, Y0 \
	VPOR Y3, Y1, Y1

// K5_MAC(aoff, moff): Y10 += sc[2j]·Σ Y0·a + sc[2j+1]·Σ Y1·a.
#define K5_MAC(aoff, moff) \
	VPMADDUBSW aoff(DI), Y0, Y0 \
	VPMADDUBSW aoff+32(DI), Y1, Y1 \
	VPSHUFB k4scale<>+moff(SB), Y6, Y2 \
	VPSHUFB k4scale<>+moff+32(SB), Y6, Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y0, Y10, Y10 \
	VPADDD Y1, Y10, Y10

#define K5_NIBBLES(qoff) \
	VMOVDQU qoff(SI), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y14, Y0, Y0 \
	VPAND Y14, Y1, Y1

// func dotQ5_KAVX2(w, a *byte, nb int) float32
//
// The float order of llama.cpp's AVX2 ggml_vec_dot_q5_K_q8_K: per
// super-block eight int32 lanes (lane k: elements 4k..4k+3 of every
// 32-element half-chunk, times its scale) are converted and FMA'd with d·da
// into eight float lanes; Σ mins·bsums (exact) times dmin·da is accumulated
// in a scalar by FMA; result = hsum(lanes) − mins.
TEXT ·dotQ5_KAVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS X11, X11, X11
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU sixteen8<>(SB), Y13
	TESTQ CX, CX
	JLE q5kdone
q5kloop:
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
	VPSRLDQ $8, X6, X7
	VPMOVZXBW X7, X7
	VMOVDQU 260(DI), Y5
	VEXTRACTI128 $1, Y5, X4
	VPHADDW X4, X5, X5
	VPMADDWD X5, X7, X7
	VPSHUFD $0x4E, X7, X4
	VPADDD X4, X7, X7
	VPSHUFD $0xB1, X7, X4
	VPADDD X4, X7, X7
	VCVTDQ2PS X7, X7
	MOVL (SI), AX
	VMOVD AX, X4
	VCVTPH2PS X4, X4
	VBROADCASTSS (DI), X5
	VMULPS X5, X4, X4
	VMOVSHDUP X4, X5
	VFMADD231SS X7, X5, X11
	VPMOVZXBW X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	VMOVDQU 16(SI), Y7
	VPXOR Y10, Y10, Y10
	// chunk 0: qh bits 0 and 1
	K5_NIBBLES(48)
	VPSLLW $4, Y7, Y2
	VPSLLW $3, Y7, Y3
	K5_BITS
	K5_MAC(4, 0)
	// chunk 1: bits 2 and 3
	K5_NIBBLES(80)
	VPSLLW $2, Y7, Y2
	VPSLLW $1, Y7, Y3
	K5_BITS
	K5_MAC(68, 64)
	// chunk 2: bits 4 and 5
	K5_NIBBLES(112)
	VMOVDQA Y7, Y2
	VPSRLW $1, Y7, Y3
	K5_BITS
	K5_MAC(132, 128)
	// chunk 3: bits 6 and 7
	K5_NIBBLES(144)
	VPSRLW $2, Y7, Y2
	VPSRLW $3, Y7, Y3
	K5_BITS
	K5_MAC(196, 192)
	VCVTDQ2PS Y10, Y10
	VBROADCASTSS X4, Y4
	VFMADD231PS Y4, Y10, Y8
	ADDQ $176, SI
	ADDQ $292, DI
	DECQ CX
	JNZ q5kloop
q5kdone:
	HSUM_Y8
	VSUBSS X11, X8, X8
	VZEROUPPER
	MOVSS X8, ret+24(FP)
	RET

// Two-row AVX2 kernels for the 32-element block types: rows i and i+H
// (H = ⌈nrows/2⌉; a lone middle row is paired with itself) in one loop, each
// row with its own accumulator and exactly the single-row kernel's order.
// Two far-apart rows are two clean streams for the prefetcher (neighbouring
// rows read in alternation are not) and two independent FMA chains.
//
//	func dotXRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

// R2_SCALE(ROW): Y4 = broadcast f16(ROW.d)·f16(a.d), as SCALE2 (clobbers AX, X5).
#define R2_SCALE(ROW) \
	MOVWLZX (ROW), AX \
	VMOVD AX, X4 \
	VPINSRW $1, (DX), X4, X4 \
	VCVTPH2PS X4, X4 \
	VMOVSHDUP X4, X5 \
	VMULSS X5, X4, X4 \
	VBROADCASTSS X4, Y4

// R2_DOT(ACC): ACC += Y4 · float(Σ int8(Y0)·int8(Y1)) in 8 lanes, as SIGNED_DOT.
#define R2_DOT(ACC) \
	VPSIGNB Y0, Y0, Y2 \
	VPSIGNB Y0, Y1, Y3 \
	VPMADDUBSW Y3, Y2, Y2 \
	VPMADDWD Y15, Y2, Y2 \
	VCVTDQ2PS Y2, Y2 \
	VFMADD231PS Y4, Y2, ACC

#define R2_Q80(ROW, ACC) \
	R2_SCALE(ROW) \
	VMOVDQU 2(ROW), Y0 \
	R2_DOT(ACC)

// func dotQ8_0RowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ8_0RowsAVX2(SB), NOSPLIT, $0-48
	R2_ARGS
	VMOVDQU ones16<>(SB), Y15
r2q80row:
	R2_ROWS
r2q80blk:
	VMOVDQU 2(DX), Y1
	R2_Q80(R11, Y8)
	R2_Q80(R12, Y9)
	ADDQ $34, R11
	ADDQ $34, R12
	ADDQ $34, DX
	DECQ BX
	JNZ r2q80blk
	R2_FINISH(r2q80row, r2q80done)
r2q80done:
	VZEROUPPER
	RET

#define R2_Q40(ROW, ACC) \
	R2_SCALE(ROW) \
	VMOVDQU 2(ROW), X0 \
	VPSRLW $4, X0, X6 \
	VINSERTI128 $1, X6, Y0, Y0 \
	VPAND Y14, Y0, Y0 \
	VPSUBB Y13, Y0, Y0 \
	R2_DOT(ACC)

// func dotQ4_0RowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ4_0RowsAVX2(SB), NOSPLIT, $0-48
	R2_ARGS
	VMOVDQU ones16<>(SB), Y15
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU eight8<>(SB), Y13
r2q40row:
	R2_ROWS
r2q40blk:
	VMOVDQU 2(DX), Y1
	R2_Q40(R11, Y8)
	R2_Q40(R12, Y9)
	ADDQ $18, R11
	ADDQ $18, R12
	ADDQ $34, DX
	DECQ BX
	JNZ r2q40blk
	R2_FINISH(r2q40row, r2q40done)
r2q40done:
	VZEROUPPER
	RET

#define R2_Q50(ROW, ACC) \
	R2_SCALE(ROW) \
	VMOVDQU 6(ROW), X0 \
	VPSRLW $4, X0, X6 \
	VINSERTI128 $1, X6, Y0, Y0 \
	VPAND Y14, Y0, Y0 \
	VPBROADCASTD 2(ROW), Y6 \
	VPSHUFB Y12, Y6, Y6 \
	VPOR Y11, Y6, Y6 \
	VPCMPEQB Y10, Y6, Y6 \
	VPAND Y13, Y6, Y6 \
	VPOR Y6, Y0, Y0 \
	VPSUBB Y13, Y0, Y0 \
	R2_DOT(ACC)

// func dotQ5_0RowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ5_0RowsAVX2(SB), NOSPLIT, $0-48
	R2_ARGS
	VMOVDQU ones16<>(SB), Y15
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU sixteen8<>(SB), Y13
	VMOVDQU q5shuf<>(SB), Y12
	VMOVDQU q5bits<>(SB), Y11
r2q50row:
	R2_ROWS
r2q50blk:
	VMOVDQU 2(DX), Y1
	VPCMPEQB Y10, Y10, Y10
	R2_Q50(R11, Y8)
	R2_Q50(R12, Y9)
	ADDQ $22, R11
	ADDQ $22, R12
	ADDQ $34, DX
	DECQ BX
	JNZ r2q50blk
	R2_FINISH(r2q50row, r2q50done)
r2q50done:
	VZEROUPPER
	RET

// Two-row AVX2 kernels for the K-quants (rows i and i+H as above), each row
// in exactly the single-row kernel's order. The 6-bit scales are unpacked
// with vector ops (K4V_SCALES, the same bytes as the scalar unpack), which
// leaves the general registers for the row bookkeeping.

// K4V_SCALES(ROW): X6 = scales (bytes 0..7) and mins (8..15) of the
// super-block at ROW (clobbers X0..X3).
#define K4V_SCALES(ROW) \
	VMOVDQU 4(ROW), X0 \
	VPSHUFB v4kA<>(SB), X0, X1 \
	VPSHUFB v4kB<>(SB), X0, X2 \
	VPAND v4kC1<>(SB), X1, X3 \
	VPSRLW $4, X1, X1 \
	VPAND v4kC2<>(SB), X1, X1 \
	VPSRLW $2, X2, X2 \
	VPAND v4kC3<>(SB), X2, X2 \
	VPOR X1, X3, X3 \
	VPOR X2, X3, X6

// K4V_MINS(ROW, MACC): MACC += float(Σ mins·bsums)·(dmin·da); leaves
// X4 = [d·da, dmin·da] (clobbers X5, X7, AX).
#define K4V_MINS(ROW, MACC) \
	VPSRLDQ $8, X6, X7 \
	VPMOVZXBW X7, X7 \
	VMOVDQU 260(DX), Y5 \
	VEXTRACTI128 $1, Y5, X4 \
	VPHADDW X4, X5, X5 \
	VPMADDWD X5, X7, X7 \
	VPSHUFD $0x4E, X7, X4 \
	VPADDD X4, X7, X7 \
	VPSHUFD $0xB1, X7, X4 \
	VPADDD X4, X7, X7 \
	VCVTDQ2PS X7, X7 \
	MOVL (ROW), AX \
	VMOVD AX, X4 \
	VCVTPH2PS X4, X4 \
	VBROADCASTSS (DX), X5 \
	VMULPS X5, X4, X4 \
	VMOVSHDUP X4, X5 \
	VFMADD231SS X7, X5, MACC

#define K4V_WIDEN \
	VPMOVZXBW X6, X6 \
	VINSERTI128 $1, X6, Y6, Y6

// K4P_SUB(ROW, qoff, aoff, moff): as K4_SUB for the row at ROW.
#define K4P_SUB(ROW, qoff, aoff, moff) \
	VMOVDQU qoff(ROW), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y14, Y0, Y0 \
	VPAND Y14, Y1, Y1 \
	VPMADDUBSW aoff(DX), Y0, Y0 \
	VPMADDUBSW aoff+32(DX), Y1, Y1 \
	VPSHUFB k4scale<>+moff(SB), Y6, Y2 \
	VPSHUFB k4scale<>+moff+32(SB), Y6, Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y0, Y10, Y10 \
	VPADDD Y1, Y10, Y10

#define Q4K2_SB(ROW, ACC, MACC) \
	K4V_SCALES(ROW) \
	K4V_MINS(ROW, MACC) \
	K4V_WIDEN \
	VPXOR Y10, Y10, Y10 \
	K4P_SUB(ROW, 16, 4, 0) \
	K4P_SUB(ROW, 48, 68, 64) \
	K4P_SUB(ROW, 80, 132, 128) \
	K4P_SUB(ROW, 112, 196, 192) \
	VEXTRACTI128 $1, Y10, X12 \
	VPADDD X12, X10, X10 \
	VPSHUFD $0x4E, X10, X12 \
	VPADDD X12, X10, X10 \
	VPSHUFD $0xB1, X10, X12 \
	VPADDD X12, X10, X10 \
	VCVTDQ2PS X10, X10 \
	VFMADD231SS X4, X10, ACC

// func dotQ4_KRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ4_KRowsAVX2(SB), NOSPLIT, $0-48
	R2_ARGS
	VMOVDQU mask0F<>(SB), Y14
r2q4krow:
	R2_ROWS
	VXORPS X11, X11, X11
	VXORPS X15, X15, X15
r2q4kblk:
	Q4K2_SB(R11, X8, X11)
	Q4K2_SB(R12, X9, X15)
	ADDQ $144, R11
	ADDQ $144, R12
	ADDQ $292, DX
	DECQ BX
	JNZ r2q4kblk
	VSUBSS X11, X8, X8
	VSUBSS X15, X9, X9
	R2_FINISH_SCALAR(r2q4krow, r2q4kdone)
r2q4kdone:
	VZEROUPPER
	RET

#define K5P_NIBBLES(ROW, qoff) \
	VMOVDQU qoff(ROW), Y0 \
	VPSRLW $4, Y0, Y1 \
	VPAND Y14, Y0, Y0 \
	VPAND Y14, Y1, Y1

#define K5P_MAC(aoff, moff) \
	VPMADDUBSW aoff(DX), Y0, Y0 \
	VPMADDUBSW aoff+32(DX), Y1, Y1 \
	VPSHUFB k4scale<>+moff(SB), Y6, Y2 \
	VPSHUFB k4scale<>+moff+32(SB), Y6, Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y0, Y10, Y10 \
	VPADDD Y1, Y10, Y10

#define Q5K2_SB(ROW, ACC, MACC) \
	K4V_SCALES(ROW) \
	K4V_MINS(ROW, MACC) \
	K4V_WIDEN \
	VMOVDQU 16(ROW), Y7 \
	VPXOR Y10, Y10, Y10 \
	K5P_NIBBLES(ROW, 48) \
	VPSLLW $4, Y7, Y2 \
	VPSLLW $3, Y7, Y3 \
	K5_BITS \
	K5P_MAC(4, 0) \
	K5P_NIBBLES(ROW, 80) \
	VPSLLW $2, Y7, Y2 \
	VPSLLW $1, Y7, Y3 \
	K5_BITS \
	K5P_MAC(68, 64) \
	K5P_NIBBLES(ROW, 112) \
	VMOVDQA Y7, Y2 \
	VPSRLW $1, Y7, Y3 \
	K5_BITS \
	K5P_MAC(132, 128) \
	K5P_NIBBLES(ROW, 144) \
	VPSRLW $2, Y7, Y2 \
	VPSRLW $3, Y7, Y3 \
	K5_BITS \
	K5P_MAC(196, 192) \
	VCVTDQ2PS Y10, Y10 \
	VBROADCASTSS X4, Y4 \
	VFMADD231PS Y4, Y10, ACC

// func dotQ5_KRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ5_KRowsAVX2(SB), NOSPLIT, $0-48
	R2_ARGS
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU sixteen8<>(SB), Y13
r2q5krow:
	R2_ROWS
	VXORPS X11, X11, X11
	VXORPS X15, X15, X15
r2q5kblk:
	Q5K2_SB(R11, Y8, X11)
	Q5K2_SB(R12, Y9, X15)
	ADDQ $176, R11
	ADDQ $176, R12
	ADDQ $292, DX
	DECQ BX
	JNZ r2q5kblk
	VMOVAPS Y9, Y10
	HSUM_Y8
	VSUBSS X11, X8, X8
	VMOVAPS X8, X12
	VMOVAPS Y10, Y8
	HSUM_Y8
	VSUBSS X15, X8, X9
	VMOVAPS X12, X8
	R2_FINISH_SCALAR(r2q5krow, r2q5kdone)
r2q5kdone:
	VZEROUPPER
	RET

#define Q6P_CHUNK(aoff, moff) \
	VPMADDUBSW aoff(DX), Y3, Y3 \
	VPSHUFB q6scale<>+moff(SB), Y6, Y4 \
	VPMADDWD Y4, Y3, Y3 \
	VPADDD Y3, Y10, Y10

#define Q6P_HALF(ROW, qloff, qhoff, scoff, aoff) \
	VPMOVSXBW scoff(ROW), X6 \
	VINSERTI128 $1, X6, Y6, Y6 \
	VMOVDQU qloff(ROW), Y0 \
	VMOVDQU qloff+32(ROW), Y1 \
	VMOVDQU qhoff(ROW), Y2 \
	VPAND Y14, Y0, Y3 \
	VPSLLW $4, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6P_CHUNK(aoff, 0) \
	VPAND Y14, Y1, Y3 \
	VPSLLW $2, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6P_CHUNK(aoff+32, 32) \
	VPSRLW $4, Y0, Y3 \
	VPAND Y14, Y3, Y3 \
	VPAND Y13, Y2, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6P_CHUNK(aoff+64, 64) \
	VPSRLW $4, Y1, Y3 \
	VPAND Y14, Y3, Y3 \
	VPSRLW $2, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6P_CHUNK(aoff+96, 96)

#define Q6K2_SB(ROW, ACC) \
	VPMOVSXBW 192(ROW), Y7 \
	VPMADDWD 260(DX), Y7, Y5 \
	VPSLLD $5, Y5, Y5 \
	VPXOR Y10, Y10, Y10 \
	VPSUBD Y5, Y10, Y10 \
	Q6P_HALF(ROW, 0, 128, 192, 4) \
	Q6P_HALF(ROW, 64, 160, 200, 132) \
	MOVWLZX 208(ROW), AX \
	VMOVD AX, X4 \
	VCVTPH2PS X4, X4 \
	VMULSS (DX), X4, X4 \
	VBROADCASTSS X4, Y4 \
	VCVTDQ2PS Y10, Y10 \
	VFMADD231PS Y4, Y10, ACC

// func dotQ6_KRowsAVX2(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ6_KRowsAVX2(SB), NOSPLIT, $0-48
	R2_ARGS
	VMOVDQU mask0F<>(SB), Y14
	VMOVDQU mask30<>(SB), Y13
r2q6krow:
	R2_ROWS
r2q6kblk:
	Q6K2_SB(R11, Y8)
	Q6K2_SB(R12, Y9)
	ADDQ $210, R11
	ADDQ $210, R12
	ADDQ $292, DX
	DECQ BX
	JNZ r2q6kblk
	R2_FINISH(r2q6krow, r2q6kdone)
r2q6kdone:
	VZEROUPPER
	RET
