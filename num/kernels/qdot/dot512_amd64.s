//go:build amd64

#include "textflag.h"

// AVX-512 (F, BW, VL, VNNI) dot products. Every kernel returns exactly the
// bits of its AVX2 counterpart in dot_amd64.s: the integer partial sums end up
// in the same eight int32 lanes (integer arithmetic is exact, so how they are
// formed does not matter), and the float work — int→float conversion, the
// per-block FMA into the same eight float lanes (or the same scalar), and
// the final horizontal sum — happens in the same order.
//
// The kernels take a run of rows (row i at w + i·stride) against one
// activation row and write dst[0:nrows]:
//
//	func dotXRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
//
// For the 32-element block types two rows share one zmm register: the low
// 256 bits hold row A's eight lanes and the high 256 bits row B's, so a
// single 512-bit FMA advances both rows' accumulators by one block, each in
// the order the AVX2 kernel uses. Callers guarantee nb ≥ 1 and nrows ≥ 1.
//
// Go assembler operand order: sources first, destination last; an opmask
// comes just before the destination (merge masking).

DATA b80<>+0(SB)/8, $0x8080808080808080
DATA b80<>+8(SB)/8, $0x8080808080808080
DATA b80<>+16(SB)/8, $0x8080808080808080
DATA b80<>+24(SB)/8, $0x8080808080808080
DATA b80<>+32(SB)/8, $0x8080808080808080
DATA b80<>+40(SB)/8, $0x8080808080808080
DATA b80<>+48(SB)/8, $0x8080808080808080
DATA b80<>+56(SB)/8, $0x8080808080808080
GLOBL b80<>(SB), RODATA|NOPTR, $64

DATA b0F<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+32(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+40(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+48(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b0F<>+56(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL b0F<>(SB), RODATA|NOPTR, $64

DATA b08<>+0(SB)/8, $0x0808080808080808
DATA b08<>+8(SB)/8, $0x0808080808080808
DATA b08<>+16(SB)/8, $0x0808080808080808
DATA b08<>+24(SB)/8, $0x0808080808080808
DATA b08<>+32(SB)/8, $0x0808080808080808
DATA b08<>+40(SB)/8, $0x0808080808080808
DATA b08<>+48(SB)/8, $0x0808080808080808
DATA b08<>+56(SB)/8, $0x0808080808080808
GLOBL b08<>(SB), RODATA|NOPTR, $64

DATA b10<>+0(SB)/8, $0x1010101010101010
DATA b10<>+8(SB)/8, $0x1010101010101010
DATA b10<>+16(SB)/8, $0x1010101010101010
DATA b10<>+24(SB)/8, $0x1010101010101010
DATA b10<>+32(SB)/8, $0x1010101010101010
DATA b10<>+40(SB)/8, $0x1010101010101010
DATA b10<>+48(SB)/8, $0x1010101010101010
DATA b10<>+56(SB)/8, $0x1010101010101010
GLOBL b10<>(SB), RODATA|NOPTR, $64

DATA b30<>+0(SB)/8, $0x3030303030303030
DATA b30<>+8(SB)/8, $0x3030303030303030
DATA b30<>+16(SB)/8, $0x3030303030303030
DATA b30<>+24(SB)/8, $0x3030303030303030
DATA b30<>+32(SB)/8, $0x3030303030303030
DATA b30<>+40(SB)/8, $0x3030303030303030
DATA b30<>+48(SB)/8, $0x3030303030303030
DATA b30<>+56(SB)/8, $0x3030303030303030
GLOBL b30<>(SB), RODATA|NOPTR, $64

// perm01: dword indices 0 ×8, 1 ×8 (spread two floats over the two halves).
DATA perm01<>+0(SB)/8, $0
DATA perm01<>+8(SB)/8, $0
DATA perm01<>+16(SB)/8, $0
DATA perm01<>+24(SB)/8, $0
DATA perm01<>+32(SB)/8, $0x0000000100000001
DATA perm01<>+40(SB)/8, $0x0000000100000001
DATA perm01<>+48(SB)/8, $0x0000000100000001
DATA perm01<>+56(SB)/8, $0x0000000100000001
GLOBL perm01<>(SB), RODATA|NOPTR, $64

// perm23: dword indices 2 ×8, 3 ×8; perm4: index 4 everywhere.
DATA perm23<>+0(SB)/8, $0x0000000200000002
DATA perm23<>+8(SB)/8, $0x0000000200000002
DATA perm23<>+16(SB)/8, $0x0000000200000002
DATA perm23<>+24(SB)/8, $0x0000000200000002
DATA perm23<>+32(SB)/8, $0x0000000300000003
DATA perm23<>+40(SB)/8, $0x0000000300000003
DATA perm23<>+48(SB)/8, $0x0000000300000003
DATA perm23<>+56(SB)/8, $0x0000000300000003
GLOBL perm23<>(SB), RODATA|NOPTR, $64

DATA perm4<>+0(SB)/8, $0x0000000400000004
DATA perm4<>+8(SB)/8, $0x0000000400000004
DATA perm4<>+16(SB)/8, $0x0000000400000004
DATA perm4<>+24(SB)/8, $0x0000000400000004
GLOBL perm4<>(SB), RODATA|NOPTR, $32

// q4kA / q4kB: VPSHUFB controls gathering the 12 packed scale bytes s of a
// Q4_K/Q5_K super-block for the vector unpack (0x80 = zero); q4kC1..3: the
// masks that pick each output byte's bits (see K4_SCALES).
DATA q4kA<>+0(SB)/8, $0x0b0a090803020100
DATA q4kA<>+8(SB)/8, $0x0b0a090807060504
GLOBL q4kA<>(SB), RODATA|NOPTR, $16

DATA q4kB<>+0(SB)/8, $0x0302010080808080
DATA q4kB<>+8(SB)/8, $0x0706050480808080
GLOBL q4kB<>(SB), RODATA|NOPTR, $16

DATA q4kC1<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA q4kC1<>+8(SB)/8, $0x000000003f3f3f3f
GLOBL q4kC1<>(SB), RODATA|NOPTR, $16

DATA q4kC2<>+0(SB)/8, $0x0000000000000000
DATA q4kC2<>+8(SB)/8, $0x0f0f0f0f00000000
GLOBL q4kC2<>(SB), RODATA|NOPTR, $16

DATA q4kC3<>+0(SB)/8, $0x3030303000000000
DATA q4kC3<>+8(SB)/8, $0x3030303000000000
GLOBL q4kC3<>(SB), RODATA|NOPTR, $16

// k4s512: for chunk j of a K-quant super-block, a VPSHUFB control that picks
// scale word 2j for the low 256 bits and word 2j+1 for the high 256 bits
// from the eight scale words repeated in every 128-bit lane.
DATA k4s512<>+0(SB)/8, $0x0100010001000100
DATA k4s512<>+8(SB)/8, $0x0100010001000100
DATA k4s512<>+16(SB)/8, $0x0100010001000100
DATA k4s512<>+24(SB)/8, $0x0100010001000100
DATA k4s512<>+32(SB)/8, $0x0302030203020302
DATA k4s512<>+40(SB)/8, $0x0302030203020302
DATA k4s512<>+48(SB)/8, $0x0302030203020302
DATA k4s512<>+56(SB)/8, $0x0302030203020302
DATA k4s512<>+64(SB)/8, $0x0504050405040504
DATA k4s512<>+72(SB)/8, $0x0504050405040504
DATA k4s512<>+80(SB)/8, $0x0504050405040504
DATA k4s512<>+88(SB)/8, $0x0504050405040504
DATA k4s512<>+96(SB)/8, $0x0706070607060706
DATA k4s512<>+104(SB)/8, $0x0706070607060706
DATA k4s512<>+112(SB)/8, $0x0706070607060706
DATA k4s512<>+120(SB)/8, $0x0706070607060706
DATA k4s512<>+128(SB)/8, $0x0908090809080908
DATA k4s512<>+136(SB)/8, $0x0908090809080908
DATA k4s512<>+144(SB)/8, $0x0908090809080908
DATA k4s512<>+152(SB)/8, $0x0908090809080908
DATA k4s512<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4s512<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4s512<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4s512<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA k4s512<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4s512<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4s512<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4s512<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA k4s512<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4s512<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4s512<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA k4s512<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL k4s512<>(SB), RODATA|NOPTR, $256

// q5ksel: for chunk j of a Q5_K super-block, the qh bit of the low-nibble
// elements (bit 2j, low 256 bits) and of the high-nibble ones (bit 2j+1).
DATA q5ksel<>+0(SB)/8, $0x0101010101010101
DATA q5ksel<>+8(SB)/8, $0x0101010101010101
DATA q5ksel<>+16(SB)/8, $0x0101010101010101
DATA q5ksel<>+24(SB)/8, $0x0101010101010101
DATA q5ksel<>+32(SB)/8, $0x0202020202020202
DATA q5ksel<>+40(SB)/8, $0x0202020202020202
DATA q5ksel<>+48(SB)/8, $0x0202020202020202
DATA q5ksel<>+56(SB)/8, $0x0202020202020202
DATA q5ksel<>+64(SB)/8, $0x0404040404040404
DATA q5ksel<>+72(SB)/8, $0x0404040404040404
DATA q5ksel<>+80(SB)/8, $0x0404040404040404
DATA q5ksel<>+88(SB)/8, $0x0404040404040404
DATA q5ksel<>+96(SB)/8, $0x0808080808080808
DATA q5ksel<>+104(SB)/8, $0x0808080808080808
DATA q5ksel<>+112(SB)/8, $0x0808080808080808
DATA q5ksel<>+120(SB)/8, $0x0808080808080808
DATA q5ksel<>+128(SB)/8, $0x1010101010101010
DATA q5ksel<>+136(SB)/8, $0x1010101010101010
DATA q5ksel<>+144(SB)/8, $0x1010101010101010
DATA q5ksel<>+152(SB)/8, $0x1010101010101010
DATA q5ksel<>+160(SB)/8, $0x2020202020202020
DATA q5ksel<>+168(SB)/8, $0x2020202020202020
DATA q5ksel<>+176(SB)/8, $0x2020202020202020
DATA q5ksel<>+184(SB)/8, $0x2020202020202020
DATA q5ksel<>+192(SB)/8, $0x4040404040404040
DATA q5ksel<>+200(SB)/8, $0x4040404040404040
DATA q5ksel<>+208(SB)/8, $0x4040404040404040
DATA q5ksel<>+216(SB)/8, $0x4040404040404040
DATA q5ksel<>+224(SB)/8, $0x8080808080808080
DATA q5ksel<>+232(SB)/8, $0x8080808080808080
DATA q5ksel<>+240(SB)/8, $0x8080808080808080
DATA q5ksel<>+248(SB)/8, $0x8080808080808080
GLOBL q5ksel<>(SB), RODATA|NOPTR, $256

// q6shl / q6shr: per-word shift counts moving the qh bit pairs of the two
// chunks held in one register to bits 4..5 (low half: chunk 0 or 2, high
// half: chunk 1 or 3).
DATA q6shl<>+0(SB)/8, $0x0004000400040004
DATA q6shl<>+8(SB)/8, $0x0004000400040004
DATA q6shl<>+16(SB)/8, $0x0004000400040004
DATA q6shl<>+24(SB)/8, $0x0004000400040004
DATA q6shl<>+32(SB)/8, $0x0002000200020002
DATA q6shl<>+40(SB)/8, $0x0002000200020002
DATA q6shl<>+48(SB)/8, $0x0002000200020002
DATA q6shl<>+56(SB)/8, $0x0002000200020002
GLOBL q6shl<>(SB), RODATA|NOPTR, $64

DATA q6shr<>+0(SB)/8, $0
DATA q6shr<>+8(SB)/8, $0
DATA q6shr<>+16(SB)/8, $0
DATA q6shr<>+24(SB)/8, $0
DATA q6shr<>+32(SB)/8, $0x0002000200020002
DATA q6shr<>+40(SB)/8, $0x0002000200020002
DATA q6shr<>+48(SB)/8, $0x0002000200020002
DATA q6shr<>+56(SB)/8, $0x0002000200020002
GLOBL q6shr<>(SB), RODATA|NOPTR, $64

// q6perm: VPERMW indices giving, for chunk pair p of half h, scale word
// 8h+4p+L in every word of 128-bit lane L (four 64-byte vectors: h0p0,
// h0p1, h1p0, h1p1).
DATA q6perm<>+0(SB)/8, $0x0000000000000000
DATA q6perm<>+8(SB)/8, $0x0000000000000000
DATA q6perm<>+16(SB)/8, $0x0001000100010001
DATA q6perm<>+24(SB)/8, $0x0001000100010001
DATA q6perm<>+32(SB)/8, $0x0002000200020002
DATA q6perm<>+40(SB)/8, $0x0002000200020002
DATA q6perm<>+48(SB)/8, $0x0003000300030003
DATA q6perm<>+56(SB)/8, $0x0003000300030003
DATA q6perm<>+64(SB)/8, $0x0004000400040004
DATA q6perm<>+72(SB)/8, $0x0004000400040004
DATA q6perm<>+80(SB)/8, $0x0005000500050005
DATA q6perm<>+88(SB)/8, $0x0005000500050005
DATA q6perm<>+96(SB)/8, $0x0006000600060006
DATA q6perm<>+104(SB)/8, $0x0006000600060006
DATA q6perm<>+112(SB)/8, $0x0007000700070007
DATA q6perm<>+120(SB)/8, $0x0007000700070007
DATA q6perm<>+128(SB)/8, $0x0008000800080008
DATA q6perm<>+136(SB)/8, $0x0008000800080008
DATA q6perm<>+144(SB)/8, $0x0009000900090009
DATA q6perm<>+152(SB)/8, $0x0009000900090009
DATA q6perm<>+160(SB)/8, $0x000a000a000a000a
DATA q6perm<>+168(SB)/8, $0x000a000a000a000a
DATA q6perm<>+176(SB)/8, $0x000b000b000b000b
DATA q6perm<>+184(SB)/8, $0x000b000b000b000b
DATA q6perm<>+192(SB)/8, $0x000c000c000c000c
DATA q6perm<>+200(SB)/8, $0x000c000c000c000c
DATA q6perm<>+208(SB)/8, $0x000d000d000d000d
DATA q6perm<>+216(SB)/8, $0x000d000d000d000d
DATA q6perm<>+224(SB)/8, $0x000e000e000e000e
DATA q6perm<>+232(SB)/8, $0x000e000e000e000e
DATA q6perm<>+240(SB)/8, $0x000f000f000f000f
DATA q6perm<>+248(SB)/8, $0x000f000f000f000f
GLOBL q6perm<>(SB), RODATA|NOPTR, $256

// HSUM8(Y, X, T): X lane 0 = the sum of Y's 8 floats in HSUM_Y8's order.
#define HSUM8(Y, X, T) \
	VEXTRACTF128 $1, Y, T \
	VADDPS T, X, X \
	VMOVHLPS X, X, T \
	VADDPS T, X, X \
	VMOVSHDUP X, T \
	VADDSS T, X, X

// PAIR_ARGS loads the arguments for the two-row kernels, which pair row i
// with row i+H (H = ⌈nrows/2⌉) rather than with row i+1: two rows far apart
// are two clean ascending streams, while two neighbouring rows read in
// alternation look random to the hardware prefetcher (measured: 2.5× slower
// from memory). A lone middle row (nrows odd) is paired with itself.
// Registers: SI row i, R13 = H·stride, R9 → dst[i], R14 = 4·H, R10 pairs left.
#define PAIR_ARGS \
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

// PAIR_ROWS: R11 = row A, R12 = row B (= A for the lone row, when R10 = 0).
#define PAIR_ROWS \
	MOVQ SI, R11 \
	LEAQ (SI)(R13*1), R12 \
	TESTQ R10, R10 \
	JNZ 2(PC) \
	MOVQ SI, R12 \
	MOVQ DI, DX \
	MOVQ CX, BX \
	VPXORD Z8, Z8, Z8

// PAIR_SCALE: Z4 = [f16(A.d)·f16(a.d) ×8 | f16(B.d)·f16(a.d) ×8] for blocks
// whose f16 scale is their first two bytes (clobbers AX, X5).
#define PAIR_SCALE \
	MOVWLZX (R11), AX \
	VMOVD AX, X4 \
	VPINSRW $1, (R12), X4, X4 \
	VPINSRW $2, (DX), X4, X4 \
	VCVTPH2PS X4, X4 \
	VPERMILPS $0xAA, X4, X5 \
	VMULPS X5, X4, X4 \
	VPERMPS Z4, Z14, Z4

// PAIR_FINISH: store row A's sum (dst[i]) and row B's (dst[i+H]), go to the
// next pair, then to the lone row if nrows is odd.
#define PAIR_FINISH(loop, done) \
	VEXTRACTF64X4 $1, Z8, Y9 \
	HSUM8(Y8, X8, X10) \
	HSUM8(Y9, X9, X10) \
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

// PAIR_DOT: Z8 += Z4 · float(Σ (Z0 unsigned)·(Z1 signed) − Z2), Z2 holding
// the bias that makes the unsigned codes signed again (clobbers Z3).
#define PAIR_DOT \
	VPXORD Z3, Z3, Z3 \
	VPDPBUSD Z1, Z0, Z3 \
	VPSUBD Z2, Z3, Z3 \
	VCVTDQ2PS Z3, Z3 \
	VFMADD231PS Z4, Z3, Z8

// func dotQ8_0RowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
//
// Σ w·a = Σ (w+128)·a − 128·Σ a per group of four bytes: exact in int32.
TEXT ·dotQ8_0RowsAVX512(SB), NOSPLIT, $0-48
	PAIR_ARGS
	VMOVDQU64 b80<>(SB), Z15
	VMOVDQU64 perm01<>(SB), Z14
q80row:
	PAIR_ROWS
q80blk:
	PAIR_SCALE
	VMOVDQU 2(R11), Y0
	VINSERTI64X4 $1, 2(R12), Z0, Z0
	VPXORD Z15, Z0, Z0
	VBROADCASTI64X4 2(DX), Z1
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z1, Z15, Z2
	PAIR_DOT
	ADDQ $34, R11
	ADDQ $34, R12
	ADDQ $34, DX
	DECQ BX
	JNZ q80blk
	PAIR_FINISH(q80row, q80done)
q80done:
	VZEROUPPER
	RET

// Q4_NIBBLES(off): Z0 = [A low nibbles | A high | B low | B high] of the 16
// code bytes at off(R11) and off(R12), as unsigned 0..15 (K1 = dwords 8..15,
// K2 = words of 128-bit lanes 1 and 3).
#define Q4_NIBBLES(off) \
	VBROADCASTI32X4 off(R11), Z0 \
	VBROADCASTI32X4 off(R12), K1, Z0 \
	VPSRLW $4, Z0, K2, Z0 \
	VPANDD Z13, Z0, Z0

#define Q4_MASKS \
	MOVL $0xff00, AX \
	KMOVW AX, K1 \
	MOVL $0xff00ff00, AX \
	KMOVD AX, K2

// func dotQ4_0RowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
//
// Σ (q−8)·a = Σ q·a − 8·Σ a per group of four.
TEXT ·dotQ4_0RowsAVX512(SB), NOSPLIT, $0-48
	PAIR_ARGS
	VMOVDQU64 b08<>(SB), Z15
	VMOVDQU64 perm01<>(SB), Z14
	VMOVDQU64 b0F<>(SB), Z13
	Q4_MASKS
q40row:
	PAIR_ROWS
q40blk:
	PAIR_SCALE
	Q4_NIBBLES(2)
	VBROADCASTI64X4 2(DX), Z1
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z1, Z15, Z2
	PAIR_DOT
	ADDQ $18, R11
	ADDQ $18, R12
	ADDQ $34, DX
	DECQ BX
	JNZ q40blk
	PAIR_FINISH(q40row, q40done)
q40done:
	VZEROUPPER
	RET

// func dotQ5_0RowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
//
// The fifth bits (qh, one per element) become a 64-bit byte mask [A | B]
// that adds 16 to the selected codes; Σ (q−16)·a = Σ q·a − 16·Σ a.
TEXT ·dotQ5_0RowsAVX512(SB), NOSPLIT, $0-48
	PAIR_ARGS
	VMOVDQU64 b10<>(SB), Z15
	VMOVDQU64 perm01<>(SB), Z14
	VMOVDQU64 b0F<>(SB), Z13
	Q4_MASKS
q50row:
	PAIR_ROWS
q50blk:
	PAIR_SCALE
	Q4_NIBBLES(6)
	KMOVD 2(R11), K3
	KMOVD 2(R12), K4
	KUNPCKDQ K3, K4, K5
	VPADDB Z15, Z0, K5, Z0
	VBROADCASTI64X4 2(DX), Z1
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z1, Z15, Z2
	PAIR_DOT
	ADDQ $22, R11
	ADDQ $22, R12
	ADDQ $34, DX
	DECQ BX
	JNZ q50blk
	PAIR_FINISH(q50row, q50done)
q50done:
	VZEROUPPER
	RET

// The K-quant kernels also take rows in pairs i and i+H (PAIR_ARGS), but
// each row keeps its own accumulators: the loop body runs super-block b of
// row A, then super-block b of row B. Two far-apart streams keep more
// memory reads in flight than one (measured: one core reads more than its
// one-stream bandwidth this way).

// K_PAIR_ROWS(zero): R11 = row A, R12 = row B (A for the lone row).
#define K_PAIR_ROWS \
	MOVQ SI, R11 \
	LEAQ (SI)(R13*1), R12 \
	TESTQ R10, R10 \
	JNZ 2(PC) \
	MOVQ SI, R12 \
	MOVQ DI, DX \
	MOVQ CX, BX

// K_PAIR_FINISH(loop, done): store X8 (row A) and X9 (row B), next pair.
#define K_PAIR_FINISH(loop, done) \
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

// K4_SCALES(ROW): X6 = the eight 6-bit scales (bytes 0..7) and mins (8..15)
// of the Q4_K/Q5_K super-block at ROW, unpacked with vector ops from the 12
// bytes s at 4(ROW) (clobbers X0..X3); the same bytes as the AVX2 kernel's
// scalar unpack:
//
//	sc[j] = s[j]&63, m[j] = s[j+4]&63                                  j < 4
//	sc[j] = s[j+4]&15 | (s[j−4]>>6)<<4, m[j] = s[j+4]>>4 | (s[j]>>6)<<4   j ≥ 4
#define K4_SCALES(ROW) \
	VMOVDQU 4(ROW), X0 \
	VPSHUFB q4kA<>(SB), X0, X1 \
	VPSHUFB q4kB<>(SB), X0, X2 \
	VPAND q4kC1<>(SB), X1, X3 \
	VPSRLW $4, X1, X1 \
	VPAND q4kC2<>(SB), X1, X1 \
	VPSRLW $2, X2, X2 \
	VPAND q4kC3<>(SB), X2, X2 \
	VPOR X1, X3, X3 \
	VPOR X2, X3, X6

// K4_MINS(ROW, MACC): MACC += float(Σ mins·bsums)·(dmin·da) exactly as the
// AVX2 Q4_K kernel; leaves X4 = [d·da, dmin·da] (clobbers X5, X7, AX).
#define K4_MINS(ROW, MACC) \
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

// K4_WIDEN_SCALES: Z6 = the eight scales as words, repeated in every
// 128-bit lane.
#define K4_WIDEN_SCALES \
	VPMOVZXBW X6, X6 \
	VSHUFI32X4 $0, Z6, Z6, Z6

// K4_LOAD(ROW, qoff): Z0 = [low | high] nibbles of the 32 code bytes of a
// chunk (K1 = the high 256 bits' words).
#define K4_LOAD(ROW, qoff) \
	VBROADCASTI64X4 qoff(ROW), Z0 \
	VPSRLW $4, Z0, K1, Z0 \
	VPANDD Z14, Z0, Z0

// K4_MAC(aoff, moff): Z10 += sc[2j]·Σ lo·a + sc[2j+1]·Σ hi·a over chunk j.
#define K4_MAC(aoff, moff) \
	VPMADDUBSW aoff(DX), Z0, Z0 \
	VPSHUFB k4s512<>+moff(SB), Z6, Z2 \
	VPDPWSSD Z2, Z0, Z10

// REDUCE_Z10: X10 lane 0 = the exact int32 sum of Z10's 16 lanes (clobbers X12).
#define REDUCE_Z10 \
	VEXTRACTI64X4 $1, Z10, Y12 \
	VPADDD Y12, Y10, Y10 \
	VEXTRACTI128 $1, Y10, X12 \
	VPADDD X12, X10, X10 \
	VPSHUFD $0x4E, X10, X12 \
	VPADDD X12, X10, X10 \
	VPSHUFD $0xB1, X10, X12 \
	VPADDD X12, X10, X10

// Q4K_SB(ROW, ACC, MACC): one Q4_K super-block of ROW: ACC += float(Σ sc·q·a)
// ·(d·da) (scalar FMA), MACC += the mins term, as the AVX2 kernel.
#define Q4K_SB(ROW, ACC, MACC) \
	K4_SCALES(ROW) \
	K4_MINS(ROW, MACC) \
	K4_WIDEN_SCALES \
	VPXORD Z10, Z10, Z10 \
	K4_LOAD(ROW, 16) \
	K4_MAC(4, 0) \
	K4_LOAD(ROW, 48) \
	K4_MAC(68, 64) \
	K4_LOAD(ROW, 80) \
	K4_MAC(132, 128) \
	K4_LOAD(ROW, 112) \
	K4_MAC(196, 192) \
	REDUCE_Z10 \
	VCVTDQ2PS X10, X10 \
	VFMADD231SS X4, X10, ACC

// func dotQ4_KRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ4_KRowsAVX512(SB), NOSPLIT, $0-48
	PAIR_ARGS
	VMOVDQU64 b0F<>(SB), Z14
	MOVL $0xffff0000, AX
	KMOVD AX, K1
q4krow:
	K_PAIR_ROWS
	VXORPS X8, X8, X8
	VXORPS X11, X11, X11
	VXORPS X9, X9, X9
	VXORPS X15, X15, X15
q4kblk:
	Q4K_SB(R11, X8, X11)
	Q4K_SB(R12, X9, X15)
	ADDQ $144, R11
	ADDQ $144, R12
	ADDQ $292, DX
	DECQ BX
	JNZ q4kblk
	VSUBSS X11, X8, X8
	VSUBSS X15, X9, X9
	K_PAIR_FINISH(q4krow, q4kdone)
q4kdone:
	VZEROUPPER
	RET

// K5_BIT(qsel): add 16 to the codes of Z0 whose qh bit (Z7) qsel selects.
#define K5_BIT(qsel) \
	VPTESTMB q5ksel<>+qsel(SB), Z7, K2 \
	VPADDB Z13, Z0, K2, Z0

// Q5K_SB(ROW, ACC, MACC): one Q5_K super-block of ROW; ACC is the row's
// eight float lanes (Y), MACC its scalar mins sum; the order of dotQ5_KAVX2.
#define Q5K_SB(ROW, ACC, MACC) \
	K4_SCALES(ROW) \
	K4_MINS(ROW, MACC) \
	K4_WIDEN_SCALES \
	VBROADCASTI64X4 16(ROW), Z7 \
	VPXORD Z10, Z10, Z10 \
	K4_LOAD(ROW, 48) \
	K5_BIT(0) \
	K4_MAC(4, 0) \
	K4_LOAD(ROW, 80) \
	K5_BIT(64) \
	K4_MAC(68, 64) \
	K4_LOAD(ROW, 112) \
	K5_BIT(128) \
	K4_MAC(132, 128) \
	K4_LOAD(ROW, 144) \
	K5_BIT(192) \
	K4_MAC(196, 192) \
	VEXTRACTI64X4 $1, Z10, Y12 \
	VPADDD Y12, Y10, Y10 \
	VCVTDQ2PS Y10, Y10 \
	VBROADCASTSS X4, Y4 \
	VFMADD231PS Y4, Y10, ACC

// func dotQ5_KRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
//
// Same float order as dotQ5_KAVX2: per super-block the eight int32 lanes
// (lane k: elements 4k..4k+3 of every 32-element half-chunk, times its
// scale) are converted and FMA'd with d·da into eight float lanes; the mins
// go to a scalar as in Q4_K; result = hsum(lanes) − mins.
TEXT ·dotQ5_KRowsAVX512(SB), NOSPLIT, $0-48
	PAIR_ARGS
	VMOVDQU64 b0F<>(SB), Z14
	VMOVDQU64 b10<>(SB), Z13
	MOVL $0xffff0000, AX
	KMOVD AX, K1
q5krow:
	K_PAIR_ROWS
	VXORPS Y8, Y8, Y8
	VXORPS X11, X11, X11
	VXORPS Y9, Y9, Y9
	VXORPS X15, X15, X15
q5kblk:
	Q5K_SB(R11, Y8, X11)
	Q5K_SB(R12, Y9, X15)
	ADDQ $176, R11
	ADDQ $176, R12
	ADDQ $292, DX
	DECQ BX
	JNZ q5kblk
	HSUM8(Y8, X8, X10)
	VSUBSS X11, X8, X8
	HSUM8(Y9, X9, X10)
	VSUBSS X15, X9, X9
	K_PAIR_FINISH(q5krow, q5kdone)
q5kdone:
	VZEROUPPER
	RET

// Q6_PAIR(aoff, perm): Z10 += scales · Σ q·a for the two 32-element chunks
// whose 6-bit codes are in Z3 (activations at aoff(DX)).
#define Q6_PAIR(aoff, perm) \
	VPMADDUBSW aoff(DX), Z3, Z3 \
	VPERMW Z7, perm, Z2 \
	VPDPWSSD Z2, Z3, Z10

// Q6_HALF(ROW, ...): the 128 elements of half h: ql at qloff(ROW) (64
// bytes), qh at qhoff(ROW) (32 bytes), activations at aoff(DX).
#define Q6_HALF(ROW, qloff, qhoff, aoff, perm0, perm1) \
	VMOVDQU64 qloff(ROW), Z0 \
	VBROADCASTI64X4 qhoff(ROW), Z1 \
	VPANDD Z14, Z0, Z3 \
	VPSLLVW Z24, Z1, Z4 \
	VPTERNLOGD $0xF8, Z13, Z4, Z3 \
	Q6_PAIR(aoff, perm0) \
	VPSRLW $4, Z0, Z3 \
	VPANDD Z14, Z3, Z3 \
	VPSRLVW Z25, Z1, Z4 \
	VPTERNLOGD $0xF8, Z13, Z4, Z3 \
	Q6_PAIR(aoff+64, perm1)

// Q6K_SB(ROW, ACC): one Q6_K super-block of ROW into its eight float lanes.
#define Q6K_SB(ROW, ACC) \
	VPMOVSXBW 192(ROW), Y7 \
	VPMADDWD 260(DX), Y7, Y5 \
	VPSLLD $5, Y5, Y5 \
	VPXOR Y10, Y10, Y10 \
	VPSUBD Y5, Y10, Y10 \
	Q6_HALF(ROW, 0, 128, 4, Z20, Z21) \
	Q6_HALF(ROW, 64, 160, 132, Z22, Z23) \
	VEXTRACTI64X4 $1, Z10, Y12 \
	VPADDD Y12, Y10, Y10 \
	MOVWLZX 208(ROW), AX \
	VMOVD AX, X4 \
	VCVTPH2PS X4, X4 \
	VMULSS (DX), X4, X4 \
	VBROADCASTSS X4, Y4 \
	VCVTDQ2PS Y10, Y10 \
	VFMADD231PS Y4, Y10, ACC

// func dotQ6_KRowsAVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
//
// Z10 starts as [−32 · Σ_g sc[g]·bsums[g] in pairs | 0], as the AVX2
// kernel's Y10; the two halves of Z10 are folded before conversion.
TEXT ·dotQ6_KRowsAVX512(SB), NOSPLIT, $0-48
	PAIR_ARGS
	VMOVDQU64 b0F<>(SB), Z14
	VMOVDQU64 b30<>(SB), Z13
	VMOVDQU64 q6shl<>(SB), Z24
	VMOVDQU64 q6shr<>(SB), Z25
	VMOVDQU64 q6perm<>+0(SB), Z20
	VMOVDQU64 q6perm<>+64(SB), Z21
	VMOVDQU64 q6perm<>+128(SB), Z22
	VMOVDQU64 q6perm<>+192(SB), Z23
q6krow:
	K_PAIR_ROWS
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
q6kblk:
	Q6K_SB(R11, Y8)
	Q6K_SB(R12, Y9)
	ADDQ $210, R11
	ADDQ $210, R12
	ADDQ $292, DX
	DECQ BX
	JNZ q6kblk
	HSUM8(Y8, X8, X10)
	HSUM8(Y9, X9, X10)
	K_PAIR_FINISH(q6krow, q6kdone)
q6kdone:
	VZEROUPPER
	RET

// Four-row kernels for the 32-element block types: rows i, i+Q, i+2Q, i+3Q
// (Q = nrows/4; nrows must be a multiple of 4) in two zmm accumulators,
// Z8 = [A | B] and Z9 = [C | D], sharing the activation block, its bias and
// the scale conversion. Row C is addressed as A + 2·Q·stride and D as
// B + 2·Q·stride. Each row's result has the bits of the AVX2 kernel.
//
//	func dotXRows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)

#define QUAD_ARGS \
	MOVQ w+0(FP), SI \
	MOVQ stride+8(FP), R8 \
	MOVQ a+16(FP), DI \
	MOVQ nb+24(FP), CX \
	MOVQ dst+32(FP), R9 \
	MOVQ nrows+40(FP), R10 \
	SHRQ $2, R10 \
	MOVQ R10, R13 \
	IMULQ R8, R13 \
	MOVQ R10, R14 \
	SHLQ $2, R14 \
	VMOVDQU64 perm01<>(SB), Z14 \
	VMOVDQU64 perm23<>(SB), Z11 \
	VMOVDQU perm4<>(SB), Y12

#define QUAD_ROWS \
	MOVQ SI, R11 \
	LEAQ (SI)(R13*1), R12 \
	MOVQ DI, DX \
	MOVQ CX, BX \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9

// QUAD_SCALE: Z4 = [sA ×8 | sB ×8], Z5 = [sC ×8 | sD ×8], s = f16(row.d)·f16(a.d).
// The four rows' f16 scales are gathered in AX with scalar loads, shifts
// and ORs (integer ports) and moved over once, instead of three VPINSRWs
// from memory (shuffle-port µops the block loop is short of). Measured in
// cache on Zen 5 (one process, old and new kernels alternated, 2×30
// paired runs): 4-row Q8_0 54→63 GB/cpu-s, 4-row Q5_0 +6% from this alone.
// Clobbers AX and R15.
#define QUAD_SCALE \
	MOVWLZX (R11), AX \
	MOVWLZX (R12), R15 \
	SHLQ $16, R15 \
	ORQ R15, AX \
	MOVWLZX (R11)(R13*2), R15 \
	SHLQ $32, R15 \
	ORQ R15, AX \
	MOVWLZX (R12)(R13*2), R15 \
	SHLQ $48, R15 \
	ORQ R15, AX \
	VMOVQ AX, X4 \
	VPINSRW $4, (DX), X4, X4 \
	VCVTPH2PS X4, Y4 \
	VPERMPS Y4, Y12, Y5 \
	VMULPS X5, X4, X4 \
	VPERMPS Z4, Z11, Z5 \
	VPERMPS Z4, Z14, Z4

// QUAD_DOT(W, ACC, SC, T): ACC += SC · float(Σ W·Z1 − Z2) (clobbers T).
#define QUAD_DOT(W, ACC, SC, T) \
	VPXORD T, T, T \
	VPDPBUSD Z1, W, T \
	VPSUBD Z2, T, T \
	VCVTDQ2PS T, T \
	VFMADD231PS SC, T, ACC

#define QUAD_FINISH(loop) \
	VEXTRACTF64X4 $1, Z8, Y0 \
	VEXTRACTF64X4 $1, Z9, Y1 \
	HSUM8(Y8, X8, X3) \
	HSUM8(Y0, X0, X3) \
	HSUM8(Y9, X9, X3) \
	HSUM8(Y1, X1, X3) \
	MOVSS X8, (R9) \
	MOVSS X0, (R9)(R14*1) \
	MOVSS X9, (R9)(R14*2) \
	LEAQ (R14)(R14*2), AX \
	MOVSS X1, (R9)(AX*1) \
	ADDQ R8, SI \
	ADDQ $4, R9 \
	DECQ R10 \
	JNZ loop

// Q4_NIB2(addrA, addrB, Z): Z = [A low | A high | B low | B high] nibbles.
#define Q4_NIB2(addrA, addrB, Z) \
	VBROADCASTI32X4 addrA, Z \
	VBROADCASTI32X4 addrB, K1, Z \
	VPSRLW $4, Z, K2, Z \
	VPANDD Z13, Z, Z

// func dotQ8_0Rows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ8_0Rows4AVX512(SB), NOSPLIT, $0-48
	QUAD_ARGS
	VMOVDQU64 b80<>(SB), Z15
q80r4row:
	QUAD_ROWS
q80r4blk:
	QUAD_SCALE
	VMOVDQU 2(R11), Y0
	VINSERTI64X4 $1, 2(R12), Z0, Z0
	VPXORD Z15, Z0, Z0
	VMOVDQU 2(R11)(R13*2), Y6
	VINSERTI64X4 $1, 2(R12)(R13*2), Z6, Z6
	VPXORD Z15, Z6, Z6
	VBROADCASTI64X4 2(DX), Z1
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z1, Z15, Z2
	QUAD_DOT(Z0, Z8, Z4, Z3)
	QUAD_DOT(Z6, Z9, Z5, Z7)
	ADDQ $34, R11
	ADDQ $34, R12
	ADDQ $34, DX
	DECQ BX
	JNZ q80r4blk
	QUAD_FINISH(q80r4row)
	VZEROUPPER
	RET

// func dotQ4_0Rows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ4_0Rows4AVX512(SB), NOSPLIT, $0-48
	QUAD_ARGS
	VMOVDQU64 b08<>(SB), Z15
	VMOVDQU64 b0F<>(SB), Z13
	Q4_MASKS
q40r4row:
	QUAD_ROWS
q40r4blk:
	QUAD_SCALE
	Q4_NIB2(2(R11), 2(R12), Z0)
	Q4_NIB2(2(R11)(R13*2), 2(R12)(R13*2), Z6)
	VBROADCASTI64X4 2(DX), Z1
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z1, Z15, Z2
	QUAD_DOT(Z0, Z8, Z4, Z3)
	QUAD_DOT(Z6, Z9, Z5, Z7)
	ADDQ $18, R11
	ADDQ $18, R12
	ADDQ $34, DX
	DECQ BX
	JNZ q40r4blk
	QUAD_FINISH(q40r4row)
	VZEROUPPER
	RET

// func dotQ5_0Rows4AVX512(w *byte, stride int, a *byte, nb int, dst *float32, nrows int)
TEXT ·dotQ5_0Rows4AVX512(SB), NOSPLIT, $0-48
	QUAD_ARGS
	VMOVDQU64 b10<>(SB), Z15
	VMOVDQU64 b0F<>(SB), Z13
	Q4_MASKS
q50r4row:
	QUAD_ROWS
q50r4blk:
	QUAD_SCALE
	Q4_NIB2(6(R11), 6(R12), Z0)
	Q4_NIB2(6(R11)(R13*2), 6(R12)(R13*2), Z6)
	// The fifth bits of rows A|B (C|D) as one 64-bit mask built in a
	// general register: one KMOVQ instead of two mask loads and a
	// KUNPCKDQ (the kernel's other bottleneck): with QUAD_SCALE's gather,
	// 25→30 GB/cpu-s in cache (576 and 1536 columns, Zen 5).
	MOVL 2(R11), AX
	MOVL 2(R12), R15
	SHLQ $32, R15
	ORQ R15, AX
	KMOVQ AX, K5
	VPADDB Z15, Z0, K5, Z0
	MOVL 2(R11)(R13*2), AX
	MOVL 2(R12)(R13*2), R15
	SHLQ $32, R15
	ORQ R15, AX
	KMOVQ AX, K6
	VPADDB Z15, Z6, K6, Z6
	VBROADCASTI64X4 2(DX), Z1
	VPXORD Z2, Z2, Z2
	VPDPBUSD Z1, Z15, Z2
	QUAD_DOT(Z0, Z8, Z4, Z3)
	QUAD_DOT(Z6, Z9, Z5, Z7)
	ADDQ $22, R11
	ADDQ $22, R12
	ADDQ $34, DX
	DECQ BX
	JNZ q50r4blk
	QUAD_FINISH(q50r4row)
	VZEROUPPER
	RET

// func quantizeQ8_0AVX512(dst *byte, x *float32, nb int)
//
// QuantizeQ8_0 for nb ≥ 1 blocks: amax as the integer maximum of the
// sign-cleared bit patterns with NaNs dropped (the Go code's a > amax skips
// them), d = amax/127 rounded to f16 (VCVTPS2PH, round to nearest even),
// id = 127/amax (0 when amax is 0), codes = RNE(x·id) truncated to bytes
// (VCVTPS2DQ gives 0x80000000 for NaN, so the byte is 0 as in Go).
TEXT ·quantizeQ8_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z15
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z14
	MOVL $0x42fe0000, AX // 127.0
	VMOVD AX, X13
qq80loop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VPANDD Z15, Z0, Z2
	VPANDD Z15, Z1, Z3
	VPCMPUD $6, Z14, Z2, K1
	VPCMPUD $6, Z14, Z3, K2
	VPXORD Z2, Z2, K1, Z2
	VPXORD Z3, Z3, K2, Z3
	VPMAXUD Z3, Z2, Z2
	VEXTRACTI64X4 $1, Z2, Y3
	VPMAXUD Y3, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPMAXUD X3, X2, X2
	VPSHUFD $0x4E, X2, X3
	VPMAXUD X3, X2, X2
	VPSHUFD $0xB1, X2, X3
	VPMAXUD X3, X2, X2
	VDIVSS X13, X2, X4
	VCVTPS2PH $0, X4, X5
	VPEXTRW $0, X5, AX
	MOVW AX, (DI)
	VXORPS X6, X6, X6
	VMOVD X2, AX
	TESTL AX, AX
	JZ 2(PC)
	VDIVSS X2, X13, X6
	VBROADCASTSS X6, Z6
	VMULPS Z6, Z0, Z0
	VMULPS Z6, Z1, Z1
	VCVTPS2DQ Z0, Z0
	VCVTPS2DQ Z1, Z1
	VPMOVDB Z0, 2(DI)
	VPMOVDB Z1, 18(DI)
	ADDQ $128, SI
	ADDQ $34, DI
	DECQ CX
	JNZ qq80loop
	VZEROUPPER
	RET
