package kernels

import "unsafe"

// kernGeneric4x8 is the portable micro-kernel: a 4×8 tile accumulated in
// 32 scalars.
func kernGeneric4x8(k int, a, b, c *float32, ldc int, alpha float32, accumulate int) {
	var acc [4][8]float32
	if k > 0 {
		as := unsafe.Slice(a, 4*k)
		bs := unsafe.Slice(b, 8*k)
		for p := 0; p < k; p++ {
			ap := (*[4]float32)(as[4*p:])
			bp := (*[8]float32)(bs[8*p:])
			for i := 0; i < 4; i++ {
				ai := ap[i]
				row := &acc[i]
				row[0] += ai * bp[0]
				row[1] += ai * bp[1]
				row[2] += ai * bp[2]
				row[3] += ai * bp[3]
				row[4] += ai * bp[4]
				row[5] += ai * bp[5]
				row[6] += ai * bp[6]
				row[7] += ai * bp[7]
			}
		}
	}
	cs := unsafe.Slice(c, 3*ldc+8)
	for i := 0; i < 4; i++ {
		dst := (*[8]float32)(cs[i*ldc:])
		for j := 0; j < 8; j++ {
			v := alpha * acc[i][j]
			if accumulate != 0 {
				v += dst[j]
			}
			dst[j] = v
		}
	}
}

var genericKernel = &microKernel{name: "generic 4x8", mr: 4, nr: 8, kc: 256, mc: 128, nc: 2048, fn: kernGeneric4x8}
