//go:build arm64

#include "textflag.h"

// NEON dot products, bit-identical to the portable Go ones as gc compiles
// them for arm64 (dot_generic.go), where `s += w*x` on float32 becomes a
// fused multiply-add: FMLA/FMADDS here. The Go assembler lacks some NEON
// instructions; those are WORDs with the instruction in the comment.

// func dotF32NEON(w, x *float32, n int) float32
// Lane k of V0 is the Go path's s_k (elements i ≡ k mod 4 of the multiple-of-4
// prefix); the leftover n mod 4 elements are FMA'd into s0 in order; the
// result is (s0+s1)+(s2+s3).
TEXT ·dotF32NEON(SB), NOSPLIT, $0-28
	MOVD	w+0(FP), R0
	MOVD	x+8(FP), R1
	MOVD	n+16(FP), R2
	VEOR	V0.B16, V0.B16, V0.B16
	LSR	$2, R2, R3
	CBZ	R3, f32tail
f32loop:
	VLD1.P	16(R0), [V1.S4]
	VLD1.P	16(R1), [V2.S4]
	VFMLA	V2.S4, V1.S4, V0.S4
	SUBS	$1, R3, R3
	BNE	f32loop
f32tail:
	ANDS	$3, R2, R2
	BEQ	f32sum
	FMOVS	F0, F4 // s0 (a scalar write would clear V0's other lanes)
f32tailloop:
	FMOVS.P	4(R0), F1
	FMOVS.P	4(R1), F2
	FMADDS	F2, F4, F1, F4
	SUBS	$1, R2, R2
	BNE	f32tailloop
	VMOV	V4.S[0], V0.S[0]
f32sum:
	WORD	$0x6e20d400 // FADDP V0.4S, V0.4S, V0.4S: [s0+s1, s2+s3, …]
	WORD	$0x7e30d800 // FADDP S0, V0.2S
	FMOVS	F0, ret+24(FP)
	RET

// func dotF16NEON(w *uint16, x *float32, n int) float32
// dotF32NEON with the weights widened from IEEE halves (exact).
TEXT ·dotF16NEON(SB), NOSPLIT, $0-28
	MOVD	w+0(FP), R0
	MOVD	x+8(FP), R1
	MOVD	n+16(FP), R2
	VEOR	V0.B16, V0.B16, V0.B16
	LSR	$2, R2, R3
	CBZ	R3, f16tail
f16loop:
	VLD1.P	8(R0), [V1.H4]
	VLD1.P	16(R1), [V2.S4]
	WORD	$0x0e217821 // FCVTL V1.4S, V1.4H
	VFMLA	V2.S4, V1.S4, V0.S4
	SUBS	$1, R3, R3
	BNE	f16loop
f16tail:
	ANDS	$3, R2, R2
	BEQ	f16sum
	FMOVS	F0, F4
f16tailloop:
	MOVHU.P	2(R0), R3
	FMOVS	R3, F1
	FCVTHS	F1, F1
	FMOVS.P	4(R1), F2
	FMADDS	F2, F4, F1, F4
	SUBS	$1, R2, R2
	BNE	f16tailloop
	VMOV	V4.S[0], V0.S[0]
f16sum:
	WORD	$0x6e20d400 // FADDP V0.4S, V0.4S, V0.4S
	WORD	$0x7e30d800 // FADDP S0, V0.2S
	FMOVS	F0, ret+24(FP)
	RET

// func dotQ8_0NEON(w, a *byte, nb int) float32
// nb ≥ 1 blocks of 34 bytes (f16 scale, 32 int8). Per block the eight int32
// lanes of dotQ8_0Go (lane k: Σ of the products of elements 4k..4k+3, exact:
// SMULL to int16, SADDLP, ADDP) are converted (exactly, |lane| ≤ 2¹⁶) and
// FMA'd with d = half(w)·half(a) into acc[0:4] (V0) and acc[4:8] (V1); then
// hsum8: t = V0+V1, u = t[0:2]+t[2:4], u0+u1.
TEXT ·dotQ8_0NEON(SB), NOSPLIT, $0-28
	MOVD	w+0(FP), R0
	MOVD	a+8(FP), R1
	MOVD	nb+16(FP), R2
	VEOR	V0.B16, V0.B16, V0.B16
	VEOR	V1.B16, V1.B16, V1.B16
q80loop:
	MOVHU.P	2(R0), R3
	MOVHU.P	2(R1), R4
	FMOVS	R3, F16
	FMOVS	R4, F17
	FCVTHS	F16, F16
	FCVTHS	F17, F17
	FMULS	F17, F16, F16
	VDUP	V16.S[0], V16.S4
	VLD1.P	32(R0), [V2.B16, V3.B16]
	VLD1.P	32(R1), [V4.B16, V5.B16]
	WORD	$0x0e24c046 // SMULL  V6.8H, V2.8B, V4.8B      elements 0..7
	WORD	$0x4e24c047 // SMULL2 V7.8H, V2.16B, V4.16B    8..15
	WORD	$0x0e25c072 // SMULL  V18.8H, V3.8B, V5.8B     16..23
	WORD	$0x4e25c073 // SMULL2 V19.8H, V3.16B, V5.16B   24..31
	WORD	$0x4e6028c6 // SADDLP V6.4S, V6.8H
	WORD	$0x4e6028e7 // SADDLP V7.4S, V7.8H
	WORD	$0x4e602a52 // SADDLP V18.4S, V18.8H
	WORD	$0x4e602a73 // SADDLP V19.4S, V19.8H
	WORD	$0x4ea7bcc6 // ADDP V6.4S, V6.4S, V7.4S        lanes 0..3
	WORD	$0x4eb3be52 // ADDP V18.4S, V18.4S, V19.4S     lanes 4..7
	WORD	$0x4e21d8c6 // SCVTF V6.4S, V6.4S
	WORD	$0x4e21da52 // SCVTF V18.4S, V18.4S
	VFMLA	V16.S4, V6.S4, V0.S4
	VFMLA	V16.S4, V18.S4, V1.S4
	SUBS	$1, R2, R2
	BNE	q80loop
	WORD	$0x4e21d402 // FADD V2.4S, V0.4S, V1.4S        t_k = acc_k + acc_k+4
	VEXT	$8, V2.B16, V2.B16, V3.B16
	WORD	$0x4e23d442 // FADD V2.4S, V2.4S, V3.4S        u0 = t0+t2, u1 = t1+t3
	WORD	$0x7e30d840 // FADDP S0, V2.2S                 u0+u1
	FMOVS	F0, ret+24(FP)
	RET

// CHUNK32 sets V20 to the four int32 partial sums of the 32 products
// V(ql)·V(al) (bytes 0..15) and V(qh)·V(ah) (bytes 16..31); the WORDs name
// their registers, so the callers move the operands into V8/V9 × V2/V3.
#define CHUNK32 \
	WORD	$0x0e22c110 \ // SMULL  V16.8H, V8.8B, V2.8B
	WORD	$0x4e22c111 \ // SMULL2 V17.8H, V8.16B, V2.16B
	WORD	$0x0e23c132 \ // SMULL  V18.8H, V9.8B, V3.8B
	WORD	$0x4e23c133 \ // SMULL2 V19.8H, V9.16B, V3.16B
	WORD	$0x4e602a14 \ // SADDLP V20.4S, V16.8H
	WORD	$0x4e606a34 \ // SADALP V20.4S, V17.8H
	WORD	$0x4e606a54 \ // SADALP V20.4S, V18.8H
	WORD	$0x4e606a74   // SADALP V20.4S, V19.8H

// func q4KChunkSums(q, a *byte, out *[8]int32)
// One Q4_K super-block's unscaled integer sums, exact: out[2j] is Σ_l
// (q[32j+l]&15)·a[64j+l] and out[2j+1] is Σ_l (q[32j+l]>>4)·a[64j+32+l]
// over l < 32 (q: the 128 code bytes, a: the 256 Q8_K codes).
TEXT ·q4KChunkSums(SB), NOSPLIT, $0-24
	MOVD	q+0(FP), R0
	MOVD	a+8(FP), R1
	MOVD	out+16(FP), R2
	VMOVI	$15, V7.B16
	MOVD	$4, R3
q4kloop:
	VLD1.P	32(R0), [V0.B16, V1.B16]
	VLD1.P	64(R1), [V2.B16, V3.B16, V4.B16, V5.B16]
	VAND	V7.B16, V0.B16, V8.B16
	VAND	V7.B16, V1.B16, V9.B16
	CHUNK32
	VADDV	V20.S4, V20
	FMOVS.P	F20, 4(R2)
	VUSHR	$4, V0.B16, V8.B16
	VUSHR	$4, V1.B16, V9.B16
	VMOV	V4.B16, V2.B16
	VMOV	V5.B16, V3.B16
	CHUNK32
	VADDV	V20.S4, V20
	FMOVS.P	F20, 4(R2)
	SUBS	$1, R3, R3
	BNE	q4kloop
	RET

// Q6CHUNK adds one 32-element Q6_K chunk into the eight lanes V24 (lanes
// 0..3) and V25 (4..7): lane k gets the products of elements 4k..4k+3 of the
// chunk's unsigned codes (V8: elements 0..15, V9: 16..31) and activations
// (V10, V11), summed exactly (SMULL, SADDLP, ADDP) and times the scale of
// the 16 elements they belong to (the next two int32 at R3).
#define Q6CHUNK \
	WORD	$0x0e2ac110 \ // SMULL  V16.8H, V8.8B, V10.8B
	WORD	$0x4e2ac111 \ // SMULL2 V17.8H, V8.16B, V10.16B
	WORD	$0x0e2bc132 \ // SMULL  V18.8H, V9.8B, V11.8B
	WORD	$0x4e2bc133 \ // SMULL2 V19.8H, V9.16B, V11.16B
	WORD	$0x4e602a10 \ // SADDLP V16.4S, V16.8H
	WORD	$0x4e602a31 \ // SADDLP V17.4S, V17.8H
	WORD	$0x4e602a52 \ // SADDLP V18.4S, V18.8H
	WORD	$0x4e602a73 \ // SADDLP V19.4S, V19.8H
	WORD	$0x4eb1be10 \ // ADDP   V16.4S, V16.4S, V17.4S
	WORD	$0x4eb3be52 \ // ADDP   V18.4S, V18.4S, V19.4S
	VLD1R.P	4(R3), [V20.S4] \
	VLD1R.P	4(R3), [V21.S4] \
	WORD	$0x4eb49618 \ // MLA    V24.4S, V16.4S, V20.4S
	WORD	$0x4eb59659   // MLA    V25.4S, V18.4S, V21.4S

// func q6KLanes(w, a *byte, scl *[16]int32, out *[8]int32)
// One Q6_K super-block's eight integer lanes without the −32 offset, exact:
// out[k] = Σ scl[e/16]·code(e)·a[e] over the elements e with (e mod 32)/4 = k,
// code(e) the unsigned 6-bit code (w: the 210-byte block, a: 256 Q8_K codes,
// scl: the 16 sub-block scales).
TEXT ·q6KLanes(SB), NOSPLIT, $0-32
	MOVD	w+0(FP), R0
	MOVD	a+8(FP), R1
	MOVD	scl+16(FP), R3
	MOVD	out+24(FP), R2
	VMOVI	$15, V30.B16
	VMOVI	$48, V31.B16
	VEOR	V24.B16, V24.B16, V24.B16
	VEOR	V25.B16, V25.B16, V25.B16
	ADD	$128, R0, R4 // qh
	MOVD	$2, R5
q6khalf:
	VLD1.P	64(R0), [V0.B16, V1.B16, V2.B16, V3.B16] // ql
	VLD1.P	32(R4), [V4.B16, V5.B16]                 // qh
	// elements 0..31: ql[l]&15 | (qh[l]&3)<<4
	VAND	V30.B16, V0.B16, V8.B16
	VSHL	$4, V4.B16, V12.B16
	VAND	V31.B16, V12.B16, V12.B16
	VORR	V12.B16, V8.B16, V8.B16
	VAND	V30.B16, V1.B16, V9.B16
	VSHL	$4, V5.B16, V13.B16
	VAND	V31.B16, V13.B16, V13.B16
	VORR	V13.B16, V9.B16, V9.B16
	VLD1.P	32(R1), [V10.B16, V11.B16]
	Q6CHUNK
	// elements 32..63: ql[32+l]&15 | ((qh[l]>>2)&3)<<4
	VAND	V30.B16, V2.B16, V8.B16
	VSHL	$2, V4.B16, V12.B16
	VAND	V31.B16, V12.B16, V12.B16
	VORR	V12.B16, V8.B16, V8.B16
	VAND	V30.B16, V3.B16, V9.B16
	VSHL	$2, V5.B16, V13.B16
	VAND	V31.B16, V13.B16, V13.B16
	VORR	V13.B16, V9.B16, V9.B16
	VLD1.P	32(R1), [V10.B16, V11.B16]
	Q6CHUNK
	// elements 64..95: ql[l]>>4 | ((qh[l]>>4)&3)<<4
	VUSHR	$4, V0.B16, V8.B16
	VAND	V31.B16, V4.B16, V12.B16
	VORR	V12.B16, V8.B16, V8.B16
	VUSHR	$4, V1.B16, V9.B16
	VAND	V31.B16, V5.B16, V13.B16
	VORR	V13.B16, V9.B16, V9.B16
	VLD1.P	32(R1), [V10.B16, V11.B16]
	Q6CHUNK
	// elements 96..127: ql[32+l]>>4 | (qh[l]>>6)<<4
	VUSHR	$4, V2.B16, V8.B16
	VUSHR	$2, V4.B16, V12.B16
	VAND	V31.B16, V12.B16, V12.B16
	VORR	V12.B16, V8.B16, V8.B16
	VUSHR	$4, V3.B16, V9.B16
	VUSHR	$2, V5.B16, V13.B16
	VAND	V31.B16, V13.B16, V13.B16
	VORR	V13.B16, V9.B16, V9.B16
	VLD1.P	32(R1), [V10.B16, V11.B16]
	Q6CHUNK
	SUBS	$1, R5, R5
	BNE	q6khalf
	VST1	[V24.S4, V25.S4], (R2)
	RET
