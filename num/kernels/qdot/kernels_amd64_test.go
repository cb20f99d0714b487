//go:build amd64

package qdot

// extraKernelSets are implementations the tests check beyond kernelSets():
// the AVX-512 Q4_K/Q5_K kernels, which avx512Kernels leaves aside for the
// AVX2 ones.
func extraKernelSets() []*dotKernels {
	if !hasAVX512() {
		return nil
	}
	k := avx512AllKernels
	k.name = "avx512-all"
	return []*dotKernels{&k}
}
