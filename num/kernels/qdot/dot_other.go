//go:build !amd64 && !arm64

package qdot

// platformKernelSets is empty: only the portable Go kernels exist off amd64.
func platformKernelSets() []*dotKernels { return nil }
