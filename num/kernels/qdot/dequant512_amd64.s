//go:build amd64

#include "textflag.h"

// AVX-512 row dequantization, value for value the arithmetic of DequantizeRow
// (float32 products and differences, no fused operations): the runtime's
// prompt path dequantizes weight tiles before its SGEMM, and must see the
// same floats whichever implementation runs.

DATA dq0F<>+0(SB)/4, $0x0000000f
GLOBL dq0F<>(SB), RODATA|NOPTR, $4
DATA dq08<>+0(SB)/4, $8
GLOBL dq08<>(SB), RODATA|NOPTR, $4
DATA dq10<>+0(SB)/4, $16
GLOBL dq10<>(SB), RODATA|NOPTR, $4
DATA dq20<>+0(SB)/4, $32
GLOBL dq20<>(SB), RODATA|NOPTR, $4

// q4kA / q4kB / q4kC1..3: the Q4_K scale unpack of dot512_amd64.s.
DATA dqkA<>+0(SB)/8, $0x0b0a090803020100
DATA dqkA<>+8(SB)/8, $0x0b0a090807060504
GLOBL dqkA<>(SB), RODATA|NOPTR, $16
DATA dqkB<>+0(SB)/8, $0x0302010080808080
DATA dqkB<>+8(SB)/8, $0x0706050480808080
GLOBL dqkB<>(SB), RODATA|NOPTR, $16
DATA dqkC1<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA dqkC1<>+8(SB)/8, $0x000000003f3f3f3f
GLOBL dqkC1<>(SB), RODATA|NOPTR, $16
DATA dqkC2<>+0(SB)/8, $0x0000000000000000
DATA dqkC2<>+8(SB)/8, $0x0f0f0f0f00000000
GLOBL dqkC2<>(SB), RODATA|NOPTR, $16
DATA dqkC3<>+0(SB)/8, $0x3030303000000000
DATA dqkC3<>+8(SB)/8, $0x3030303000000000
GLOBL dqkC3<>(SB), RODATA|NOPTR, $16

DATA dqd2<>+0(SB)/8, $0
DATA dqd2<>+8(SB)/8, $0
DATA dqd2<>+16(SB)/8, $0
DATA dqd2<>+24(SB)/8, $0
DATA dqd2<>+32(SB)/8, $0x0000000100000001
DATA dqd2<>+40(SB)/8, $0x0000000100000001
DATA dqd2<>+48(SB)/8, $0x0000000100000001
DATA dqd2<>+56(SB)/8, $0x0000000100000001
GLOBL dqd2<>(SB), RODATA|NOPTR, $64

DATA dq6shl<>+0(SB)/8, $0x0004000400040004
DATA dq6shl<>+8(SB)/8, $0x0004000400040004
DATA dq6shl<>+16(SB)/8, $0x0004000400040004
DATA dq6shl<>+24(SB)/8, $0x0004000400040004
DATA dq6shl<>+32(SB)/8, $0x0002000200020002
DATA dq6shl<>+40(SB)/8, $0x0002000200020002
DATA dq6shl<>+48(SB)/8, $0x0002000200020002
DATA dq6shl<>+56(SB)/8, $0x0002000200020002
GLOBL dq6shl<>(SB), RODATA|NOPTR, $64

DATA dq6shr<>+0(SB)/8, $0
DATA dq6shr<>+8(SB)/8, $0
DATA dq6shr<>+16(SB)/8, $0
DATA dq6shr<>+24(SB)/8, $0
DATA dq6shr<>+32(SB)/8, $0x0002000200020002
DATA dq6shr<>+40(SB)/8, $0x0002000200020002
DATA dq6shr<>+48(SB)/8, $0x0002000200020002
DATA dq6shr<>+56(SB)/8, $0x0002000200020002
GLOBL dq6shr<>(SB), RODATA|NOPTR, $64

DATA dqb0F<>+0(SB)/4, $0x0f0f0f0f
GLOBL dqb0F<>(SB), RODATA|NOPTR, $4
DATA dqb30<>+0(SB)/4, $0x30303030
GLOBL dqb30<>(SB), RODATA|NOPTR, $4

// HALF_BCAST(off): Z5 = every lane f16(off(SI)) as float32 (clobbers AX).
#define HALF_BCAST(off) \
	MOVWLZX off(SI), AX \
	VMOVD AX, X5 \
	VCVTPH2PS X5, X5 \
	VBROADCASTSS X5, Z5

// func dequantQ8_0AVX512(dst *float32, src *byte, nb int)   y = d·q
TEXT ·dequantQ8_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
dq80loop:
	HALF_BCAST(0)
	VPMOVSXBD 2(SI), Z0
	VPMOVSXBD 18(SI), Z1
	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z1, Z1
	VMULPS Z0, Z5, Z0
	VMULPS Z1, Z5, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $34, SI
	ADDQ $128, DI
	DECQ CX
	JNZ dq80loop
	VZEROUPPER
	RET

// func dequantQ4_0AVX512(dst *float32, src *byte, nb int)   y = d·(q−8)
TEXT ·dequantQ4_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	VPBROADCASTD dq0F<>(SB), Z15
	VPBROADCASTD dq08<>(SB), Z14
dq40loop:
	HALF_BCAST(0)
	VPMOVZXBD 2(SI), Z0
	VPSRLD $4, Z0, Z1
	VPANDD Z15, Z0, Z0
	VPSUBD Z14, Z0, Z0
	VPSUBD Z14, Z1, Z1
	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z1, Z1
	VMULPS Z0, Z5, Z0
	VMULPS Z1, Z5, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $18, SI
	ADDQ $128, DI
	DECQ CX
	JNZ dq40loop
	VZEROUPPER
	RET

// func dequantQ5_0AVX512(dst *float32, src *byte, nb int)   y = d·(q−16)
TEXT ·dequantQ5_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	VPBROADCASTD dq0F<>(SB), Z15
	VPBROADCASTD dq10<>(SB), Z14
dq50loop:
	HALF_BCAST(0)
	KMOVW 2(SI), K1
	KMOVW 4(SI), K2
	VPMOVZXBD 6(SI), Z0
	VPSRLD $4, Z0, Z1
	VPANDD Z15, Z0, Z0
	VPORD Z14, Z0, K1, Z0
	VPORD Z14, Z1, K2, Z1
	VPSUBD Z14, Z0, Z0
	VPSUBD Z14, Z1, Z1
	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z1, Z1
	VMULPS Z0, Z5, Z0
	VMULPS Z1, Z5, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $22, SI
	ADDQ $128, DI
	DECQ CX
	JNZ dq50loop
	VZEROUPPER
	RET

// DQ4K_GROUP(qoff, shift, k, out): 16 outputs d_k·q − m_k from the 16 code
// bytes at qoff(SI), low nibbles (shift 0) or high (shift 4); d_k at
// sc+4k(SP), m_k at sc+32+4k(SP).
#define DQ4K_GROUP(qoff, SHIFT, k, out) \
	VPMOVZXBD qoff(SI), Z0 \
	SHIFT \
	VPANDD Z15, Z0, Z0 \
	VCVTDQ2PS Z0, Z0 \
	VBROADCASTSS sc-64+(4*(k))(SP), Z1 \
	VBROADCASTSS sc-64+32+(4*(k))(SP), Z2 \
	VMULPS Z0, Z1, Z0 \
	VSUBPS Z2, Z0, Z0 \
	VMOVUPS Z0, out(DI)

#define NOSHIFT
#define SHIFT4 VPSRLD $4, Z0, Z0

// DQ4K_CHUNK(j): the 64 outputs of chunk j (codes at 16+32j).
#define DQ4K_CHUNK(qoff, k0, k1, out) \
	DQ4K_GROUP(qoff, NOSHIFT, k0, out) \
	DQ4K_GROUP(qoff+16, NOSHIFT, k0, out+64) \
	DQ4K_GROUP(qoff, SHIFT4, k1, out+128) \
	DQ4K_GROUP(qoff+16, SHIFT4, k1, out+192)

// func dequantQ4_KAVX512(dst *float32, src *byte, nb int)
//
// y[64j+l] = d·sc[2j]·… as DequantizeRow: d1 = d·float32(sc[2j]) and
// m1 = dmin·float32(m[2j]) rounded once each, then d1·q rounded, minus m1.
TEXT ·dequantQ4_KAVX512(SB), NOSPLIT, $64-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	VPBROADCASTD dq0F<>(SB), Z15
	VMOVDQU64 dqd2<>(SB), Z14
dq4kloop:
	// X6 = 8 scales, 8 mins (bytes); Z7 = [d·sc ×8 | dmin·m ×8]
	VMOVDQU 4(SI), X0
	VPSHUFB dqkA<>(SB), X0, X1
	VPSHUFB dqkB<>(SB), X0, X2
	VPAND dqkC1<>(SB), X1, X3
	VPSRLW $4, X1, X1
	VPAND dqkC2<>(SB), X1, X1
	VPSRLW $2, X2, X2
	VPAND dqkC3<>(SB), X2, X2
	VPOR X1, X3, X3
	VPOR X2, X3, X6
	VPMOVZXBD X6, Z7
	VCVTDQ2PS Z7, Z7
	MOVL (SI), AX
	VMOVD AX, X5
	VCVTPH2PS X5, X5
	VPERMPS Z5, Z14, Z5
	VMULPS Z7, Z5, Z7
	VMOVUPS Z7, sc-64(SP)
	DQ4K_CHUNK(16, 0, 1, 0)
	DQ4K_CHUNK(48, 2, 3, 256)
	DQ4K_CHUNK(80, 4, 5, 512)
	DQ4K_CHUNK(112, 6, 7, 768)
	ADDQ $144, SI
	ADDQ $1024, DI
	DECQ CX
	JNZ dq4kloop
	VZEROUPPER
	RET

// DQ6_GROUP(boff, g, out): 16 outputs t_g·(q−32) from the 16 code bytes at
// q+boff(SP), t_g = d·sc_g at t+4g(SP).
#define DQ6_GROUP(boff, g, out) \
	VPMOVZXBD q-128+boff(SP), Z0 \
	VPSUBD Z12, Z0, Z0 \
	VCVTDQ2PS Z0, Z0 \
	VBROADCASTSS t-192+(4*(g))(SP), Z1 \
	VMULPS Z0, Z1, Z0 \
	VMOVUPS Z0, out(DI)

// DQ6_HALF(h): the 128 outputs of half h (ql at 64h, qh at 128+32h).
#define DQ6_HALF(qloff, qhoff, g0, out) \
	VMOVDQU64 qloff(SI), Z0 \
	VBROADCASTI64X4 qhoff(SI), Z1 \
	VPANDD Z14, Z0, Z3 \
	VPSLLVW Z10, Z1, Z4 \
	VPTERNLOGD $0xF8, Z13, Z4, Z3 \
	VMOVDQU64 Z3, q-128(SP) \
	VPSRLW $4, Z0, Z3 \
	VPANDD Z14, Z3, Z3 \
	VPSRLVW Z11, Z1, Z4 \
	VPTERNLOGD $0xF8, Z13, Z4, Z3 \
	VMOVDQU64 Z3, q-64(SP) \
	DQ6_GROUP(0, g0, out) \
	DQ6_GROUP(16, g0+1, out+64) \
	DQ6_GROUP(32, g0+2, out+128) \
	DQ6_GROUP(48, g0+3, out+192) \
	DQ6_GROUP(64, g0+4, out+256) \
	DQ6_GROUP(80, g0+5, out+320) \
	DQ6_GROUP(96, g0+6, out+384) \
	DQ6_GROUP(112, g0+7, out+448)

// func dequantQ6_KAVX512(dst *float32, src *byte, nb int)
//
// y = (d·float32(sc))·float32(q−32), two roundings, as DequantizeRow.
TEXT ·dequantQ6_KAVX512(SB), NOSPLIT, $192-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	VPBROADCASTD dqb0F<>(SB), Z14
	VPBROADCASTD dqb30<>(SB), Z13
	VMOVDQU64 dq6shl<>(SB), Z10
	VMOVDQU64 dq6shr<>(SB), Z11
	VPBROADCASTD dq20<>(SB), Z12
dq6kloop:
	HALF_BCAST(208)
	VPMOVSXBD 192(SI), Z7
	VCVTDQ2PS Z7, Z7
	VMULPS Z7, Z5, Z7
	VMOVUPS Z7, t-192(SP)
	DQ6_HALF(0, 128, 0, 0)
	DQ6_HALF(64, 160, 8, 512)
	ADDQ $210, SI
	ADDQ $1024, DI
	DECQ CX
	JNZ dq6kloop
	VZEROUPPER
	RET
