#include "textflag.h"

// Shared constants, broadcast into:
//   Z18 1.0   Z19 1/2   Z22 log2(e)   Z23 ln2 high   Z24 ln2 low
//   Z25 1/6   Z26 1/24  Z27 1/120     Z28 1/720      Z29 -104 (input clamp)
#define LOADCONSTS \
	MOVL $0x3f800000, AX; VPBROADCASTD AX, Z18; \
	MOVL $0x3f000000, AX; VPBROADCASTD AX, Z19; \
	MOVL $0x3fb8aa3b, AX; VPBROADCASTD AX, Z22; \
	MOVL $0x3f317200, AX; VPBROADCASTD AX, Z23; \
	MOVL $0x35bfbe8e, AX; VPBROADCASTD AX, Z24; \
	MOVL $0x3e2aaaab, AX; VPBROADCASTD AX, Z25; \
	MOVL $0x3d2aaaab, AX; VPBROADCASTD AX, Z26; \
	MOVL $0x3c088889, AX; VPBROADCASTD AX, Z27; \
	MOVL $0x3ab60b61, AX; VPBROADCASTD AX, Z28; \
	MOVL $0xc2d00000, AX; VPBROADCASTD AX, Z29

// EXP computes Z3 = exp(Z0) (clobbers Z0, Z1, Z2). Inputs below -104 give
// 0 (after the clamp, exp underflows); NaN stays NaN: VMAXPS returns its
// second Intel source (Z0 here) when either is NaN.
#define EXP \
	VMAXPS Z0, Z29, Z0; \
	VMULPS Z22, Z0, Z1; \
	VRNDSCALEPS $0, Z1, Z1; \
	VMOVAPS Z0, Z2; \
	VFNMADD231PS Z23, Z1, Z2; \
	VFNMADD231PS Z24, Z1, Z2; \
	VMOVAPS Z28, Z3; \
	VFMADD213PS Z27, Z2, Z3; \
	VFMADD213PS Z26, Z2, Z3; \
	VFMADD213PS Z25, Z2, Z3; \
	VFMADD213PS Z19, Z2, Z3; \
	VFMADD213PS Z18, Z2, Z3; \
	VFMADD213PS Z18, Z2, Z3; \
	VSCALEFPS Z1, Z3, Z3

// func expSumAVX512(dst, src []float32, m, s float32, acc *[8]float64)
// len(src) is a multiple of 16; acc receives the lane sums in float64.
TEXT ·expSumAVX512(SB), NOSPLIT, $0-64
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ acc+56(FP), DX
	VBROADCASTSS m+48(FP), Z20
	VBROADCASTSS s+52(FP), Z21
	LOADCONSTS
	VXORPD Z30, Z30, Z30
	VXORPD Z31, Z31, Z31
	SHRQ $4, CX
	JZ   expdone

exploop:
	VMOVUPS (SI), Z0
	VSUBPS  Z20, Z0, Z0
	VMULPS  Z21, Z0, Z0
	EXP
	VMOVUPS Z3, (DI)
	VCVTPS2PD Y3, Z4
	VEXTRACTF64X4 $1, Z3, Y5
	VCVTPS2PD Y5, Z5
	VADDPD Z4, Z30, Z30
	VADDPD Z5, Z31, Z31
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  exploop

expdone:
	VADDPD Z31, Z30, Z30
	VMOVUPD Z30, (DX)
	VZEROUPPER
	RET

// func sigmoidAVX512(dst, src []float32)
// len(src) is a multiple of 16.
TEXT ·sigmoidAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	LOADCONSTS
	VXORPS Z17, Z17, Z17
	SHRQ $4, CX
	JZ   sigdone

sigloop:
	VMOVUPS (SI), Z0
	VSUBPS  Z0, Z17, Z0
	EXP
	VADDPS  Z18, Z3, Z3
	VDIVPS  Z3, Z18, Z3
	VMOVUPS Z3, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  sigloop

sigdone:
	VZEROUPPER
	RET
