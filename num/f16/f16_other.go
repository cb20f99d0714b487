//go:build !amd64 || purego

package f16

const hasF16C = false

func fromFloat32F16C(dst *uint16, src *float32, n int) { panic("f16: no F16C") }

func toFloat32F16C(dst *float32, src *uint16, n int) { panic("f16: no F16C") }
