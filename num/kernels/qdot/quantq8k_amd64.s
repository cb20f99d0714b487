//go:build amd64

#include "textflag.h"

// AVX-512 Q8_K activation quantizer, byte for byte QuantizeQ8_K's Go code
// (ggml's quantize_row_q8_K_ref): per 256-element block the first value of
// largest magnitude (NaNs skipped) gives iscale = −127/max; q = int8 of
// min(127, round-half-even(iscale·x)) via the same float32 magic-number
// rounding; d = 1/iscale; bsums = Σ of each 16 quantized bytes.

DATA q8kAbs<>+0(SB)/4, $0x7fffffff
GLOBL q8kAbs<>(SB), RODATA|NOPTR, $4
DATA q8kMagic<>+0(SB)/4, $0x4b400000
GLOBL q8kMagic<>(SB), RODATA|NOPTR, $4
DATA q8k127<>+0(SB)/4, $0x42fe0000
GLOBL q8k127<>(SB), RODATA|NOPTR, $4
DATA q8kNeg127<>+0(SB)/4, $0xc2fe0000
GLOBL q8kNeg127<>(SB), RODATA|NOPTR, $4
DATA q8kOne<>+0(SB)/4, $0x3f800000
GLOBL q8kOne<>(SB), RODATA|NOPTR, $4
DATA q8kBias<>+0(SB)/4, $0x80808080
GLOBL q8kBias<>(SB), RODATA|NOPTR, $4
DATA q8k2048<>+0(SB)/8, $0x0800080008000800
DATA q8k2048<>+8(SB)/8, $0x0800080008000800
GLOBL q8k2048<>(SB), RODATA|NOPTR, $16

// Q8K_MAX(Z): Z6 = max(|Z|, Z6), a NaN |Z| lane leaving Z6 unchanged.
#define Q8K_MAX(Z) \
	VANDPS Z0, Z, Z8 \
	VMAXPS Z6, Z8, Z6

// Q8K_Q(Z, lane, G): the 16 quantized bytes of Z into 128-bit lane of G.
#define Q8K_Q(Z, lane, G) \
	VMULPS Z10, Z, Z8 \
	VADDPS Z1, Z8, Z8 \
	VSUBPS Z1, Z8, Z8 \
	VMINPS Z8, Z2, Z8 \
	VCVTTPS2DQ Z8, Z8 \
	VPMOVDB Z8, X8 \
	VINSERTI32X4 $lane, X8, G, G

// Q8K_BSUM(G): X(G) = the 8 words [Σ first 8 | Σ last 8 bytes] of its
// four 16-byte groups, each byte biased by +128.
#define Q8K_BSUM(G, X) \
	VPXORQ Z3, G, Z8 \
	VPSADBW Z4, Z8, Z8 \
	VPMOVQW Z8, X

// func quantizeQ8_KAVX512(dst *byte, x *float32, nb int)
TEXT ·quantizeQ8_KAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	VBROADCASTSS q8kAbs<>(SB), Z0
	VBROADCASTSS q8kMagic<>(SB), Z1
	VBROADCASTSS q8k127<>(SB), Z2
	VBROADCASTSS q8kBias<>(SB), Z3
	VPXORD Z4, Z4, Z4
	VMOVDQU q8k2048<>(SB), X5

q8kblk:
	VMOVUPS 0(SI), Z16
	VMOVUPS 64(SI), Z17
	VMOVUPS 128(SI), Z18
	VMOVUPS 192(SI), Z19
	VMOVUPS 256(SI), Z20
	VMOVUPS 320(SI), Z21
	VMOVUPS 384(SI), Z22
	VMOVUPS 448(SI), Z23
	VMOVUPS 512(SI), Z24
	VMOVUPS 576(SI), Z25
	VMOVUPS 640(SI), Z26
	VMOVUPS 704(SI), Z27
	VMOVUPS 768(SI), Z28
	VMOVUPS 832(SI), Z29
	VMOVUPS 896(SI), Z30
	VMOVUPS 960(SI), Z31
	VPXORD Z6, Z6, Z6
	Q8K_MAX(Z16)
	Q8K_MAX(Z17)
	Q8K_MAX(Z18)
	Q8K_MAX(Z19)
	Q8K_MAX(Z20)
	Q8K_MAX(Z21)
	Q8K_MAX(Z22)
	Q8K_MAX(Z23)
	Q8K_MAX(Z24)
	Q8K_MAX(Z25)
	Q8K_MAX(Z26)
	Q8K_MAX(Z27)
	Q8K_MAX(Z28)
	Q8K_MAX(Z29)
	Q8K_MAX(Z30)
	Q8K_MAX(Z31)
	// amax (no NaN left in Z6) to every lane of Z7
	VEXTRACTF64X4 $1, Z6, Y7
	VMAXPS Y7, Y6, Y6
	VEXTRACTF128 $1, Y6, X7
	VMAXPS X7, X6, X6
	VMOVHLPS X6, X6, X7
	VMAXPS X7, X6, X6
	VMOVSHDUP X6, X7
	VMAXSS X7, X6, X6
	VXORPS X8, X8, X8
	VUCOMISS X8, X6
	JEQ q8kzero
	VBROADCASTSS X6, Z7
	// max = the first x with |x| = amax
	MOVQ SI, R8
q8kfind:
	VANDPS (R8), Z0, Z8
	VCMPPS $0, Z7, Z8, K1
	KMOVW K1, AX
	TESTL AX, AX
	JNZ q8kfound
	ADDQ $64, R8
	JMP q8kfind
q8kfound:
	TZCNTL AX, AX
	VMOVSS (R8)(AX*4), X9
	VMOVSS q8kNeg127<>(SB), X10
	VDIVSS X9, X10, X10
	VMOVSS q8kOne<>(SB), X11
	VDIVSS X10, X11, X11
	VMOVSS X11, (DI)
	VBROADCASTSS X10, Z10
	Q8K_Q(Z16, 0, Z12)
	Q8K_Q(Z17, 1, Z12)
	Q8K_Q(Z18, 2, Z12)
	Q8K_Q(Z19, 3, Z12)
	Q8K_Q(Z20, 0, Z13)
	Q8K_Q(Z21, 1, Z13)
	Q8K_Q(Z22, 2, Z13)
	Q8K_Q(Z23, 3, Z13)
	Q8K_Q(Z24, 0, Z14)
	Q8K_Q(Z25, 1, Z14)
	Q8K_Q(Z26, 2, Z14)
	Q8K_Q(Z27, 3, Z14)
	Q8K_Q(Z28, 0, Z15)
	Q8K_Q(Z29, 1, Z15)
	Q8K_Q(Z30, 2, Z15)
	Q8K_Q(Z31, 3, Z15)
	VMOVDQU64 Z12, 4(DI)
	VMOVDQU64 Z13, 68(DI)
	VMOVDQU64 Z14, 132(DI)
	VMOVDQU64 Z15, 196(DI)
	Q8K_BSUM(Z12, X12)
	Q8K_BSUM(Z13, X13)
	Q8K_BSUM(Z14, X14)
	Q8K_BSUM(Z15, X15)
	VPHADDW X13, X12, X12
	VPHADDW X15, X14, X14
	VPSUBW X5, X12, X12
	VPSUBW X5, X14, X14
	VMOVDQU X12, 260(DI)
	VMOVDQU X14, 276(DI)
	JMP q8knext
q8kzero:
	VMOVDQU64 Z4, 0(DI)
	VMOVDQU64 Z4, 64(DI)
	VMOVDQU64 Z4, 128(DI)
	VMOVDQU64 Z4, 192(DI)
	VMOVDQU64 Z4, 228(DI)
q8knext:
	ADDQ $1024, SI
	ADDQ $292, DI
	DECQ CX
	JNZ q8kblk
	VZEROUPPER
	RET
