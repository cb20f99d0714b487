// Package kernels holds distill's dense fp32 compute kernels: a cache-blocked
// SGEMM with packed panels and register-tiled micro-kernels in Go assembly
// (AVX-512 and AVX2+FMA, picked at run time from golang.org/x/sys/cpu), a
// portable pure-Go fallback with the same blocking, and Sgemv.
//
// All operands are row-major, like gonum's blas: element (i, j) of an r×c
// matrix x with leading dimension ldx is x[i*ldx+j], ldx ≥ c. A transpose flag
// means the operand is stored transposed: op(A) is m×k, so A is stored m×k
// (lda ≥ k) when transA is false and k×m (lda ≥ m) when it is true; op(B) is
// k×n, stored k×n (ldb ≥ n) or n×k (ldb ≥ k). Transposes are absorbed by the
// packing routines: no operand is ever copied whole or transposed in memory.
//
// Semantics follow BLAS: C = alpha·op(A)·op(B) + beta·C; when beta is 0, C is
// not read (NaN or Inf in C do not propagate); when alpha is 0 or k is 0,
// A and B are not read. NaN and Inf in A or B propagate as IEEE arithmetic
// dictates. C must not overlap A or B. Invalid shapes, strides or short slices
// are programming errors and panic with a message naming the argument, as
// gonum's blas does.
//
// Threads come from one shared pool (num/parallel); an Engine pins
// the pool, the package-level functions use parallel.Default(). Each call's
// state and scratch (packed panels, per-worker A blocks and edge tiles) come
// from a free list on the Engine, and the functions handed to the pool are
// bound once, so a call in steady state allocates nothing (TestSgemmAllocFree).
//
// Blocking (BLIS order): for each nc-wide column block of op(B) and kc-deep
// slice of k, op(B) is packed once into kc×NR slivers (zero-padded); the
// m rows are cut into mc-row blocks that the workers take dynamically, each
// packing its op(A) block into kc×MR slivers and sweeping MR×NR tiles of C
// with the micro-kernel. Edge tiles are computed into a scratch tile and
// merged, so the micro-kernels only ever see full tiles. Packing prefetches
// the source rows it reads next (row copies 32 rows ahead, transposes 8),
// since the rows of a sliver lie far apart in memory.
//
// Kernel choice per CPU (kernelOrder; TestKernelOrderPerCPU names the sets):
// both AVX-512 kernels tile 12×32 with kc=512, mc=96, nc=4096. On AMD
// family 26 (Zen 5) and later, "avx512 12x32 regbcast" runs first: it
// broadcasts each A value into a register with a plain load and prefetches
// the C tile 64 k steps before the end; there the FMA with an embedded
// broadcast from memory sustains ~12% less (measured 203 against 232
// GFLOP/s on cache-resident panels). Every other CPU, Zen 4 (family 25)
// included, keeps "avx512 12x32" with the embedded broadcast and C
// prefetched before the loop, the parameters it was tuned with. Then
// "avx2 6x16" (AVX2+FMA), then the portable "generic 4x8".
package kernels
