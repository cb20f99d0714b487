//go:build !amd64

package qdot

// platformKernels is nil: only the portable Go kernels exist off amd64.
func platformKernels() *dotKernels { return nil }
