//go:build !amd64

package qdot

func extraKernelSets() []*dotKernels { return nil }
