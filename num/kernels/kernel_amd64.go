//go:build amd64 && !purego

package kernels

//go:generate go run gen_kernels.go

import (
	"sync"

	"golang.org/x/sys/cpu"

	"github.com/distill-ml/distill/internal/cpuinfo"
)

//go:noescape
func kernAVX512x12x32(k int, a, b, c *float32, ldc int, alpha float32, accumulate int)

//go:noescape
func kernAVX512x12x32RB(k int, a, b, c *float32, ldc int, alpha float32, accumulate int)

//go:noescape
func transpose8(dst *float32, dstStride int, src *float32, srcStride int, blocks int)

//go:noescape
func transpose4(dst *float32, dstStride int, src *float32, srcStride int, blocks int)

//go:noescape
func copyRows12(dst, src *float32, ld int, rows int)

//go:noescape
func copyRows16(dst, src *float32, ld int, rows int)

//go:noescape
func copyRows32(dst, src *float32, ld int, rows int)

// avxPackers need AVX only, which AVX2 and AVX-512 imply.
var avxPackers = &packers{t8: transpose8, t4: transpose4, rows12: copyRows12, rows16: copyRows16, rows32: copyRows32}

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func kernAVX2x6x16(k int, a, b, c *float32, ldc int, alpha float32, accumulate int)

var (
	avx512Kernel   = &microKernel{name: "avx512 12x32", mr: 12, nr: 32, kc: 512, mc: 96, nc: 4096, fn: kernAVX512x12x32, pk: avxPackers, dot: dotAVX2, axpy: axpyAVX2}
	avx512RBKernel = &microKernel{name: "avx512 12x32 regbcast", mr: 12, nr: 32, kc: 512, mc: 96, nc: 4096, fn: kernAVX512x12x32RB, pk: avxPackers, dot: dotAVX2, axpy: axpyAVX2}
	avx2Kernel     = &microKernel{name: "avx2 6x16", mr: 6, nr: 16, kc: 512, mc: 96, nc: 4096, fn: kernAVX2x6x16, pk: avxPackers, dot: dotAVX2, axpy: axpyAVX2}
)

// thisCPU is the processor's family and model (Family -1 when
// /proc/cpuinfo cannot be read), read once.
var thisCPU = sync.OnceValue(func() cpuinfo.Info {
	in, _ := cpuinfo.Read()
	return in
})

// availableKernels lists the micro-kernels this CPU can run, fastest first.
func availableKernels() []*microKernel {
	return kernelOrder(thisCPU(), cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL, cpu.X86.HasAVX2 && cpu.X86.HasFMA)
}

// kernelOrder ranks the micro-kernels a CPU with the given ISA support can
// run, fastest first. The two AVX-512 kernels differ in how they broadcast
// A: AMD family 26 (Zen 5) and later run the register-broadcast one first
// (measured 8–11% faster there); every other CPU, AMD family 25 (Zen 4,
// where the embedded broadcast was tuned) included, keeps the embedded one.
func kernelOrder(in cpuinfo.Info, avx512, avx2 bool) []*microKernel {
	var ks []*microKernel
	if avx512 {
		if in.Vendor == "AuthenticAMD" && in.Family >= 26 {
			ks = append(ks, avx512RBKernel, avx512Kernel)
		} else {
			ks = append(ks, avx512Kernel, avx512RBKernel)
		}
	}
	if avx2 {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}
