//go:build amd64 && !purego

package f16

import "golang.org/x/sys/cpu"

// hasF16C reports whether the F16C conversion instructions (and the AVX
// state they need) are available; set once at package init.
var hasF16C = cpu.X86.HasAVX && cpu.X86.HasF16C

// fromFloat32F16C converts n float32s (n a positive multiple of 8).
//
//go:noescape
func fromFloat32F16C(dst *uint16, src *float32, n int)

// toFloat32F16C converts n halves (n a positive multiple of 8).
//
//go:noescape
func toFloat32F16C(dst *float32, src *uint16, n int)
