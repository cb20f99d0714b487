package infer

import "math"

// sinCosf32 is sinf/cosf as glibc (2.28 and later, x86-64 with FMA)
// computes them, which llama.cpp's RoPE calls for its angle tables. glibc's
// float sine and cosine are not correctly rounded (about 1.7% of RoPE angles
// differ from the nearest float by one ulp), and an ulp in a rotated query or
// key can flip its F16 rounding and, rarely, a greedy token; so the table
// reproduces glibc's algorithm: the argument reduced to [−π/4, π/4] in
// float64 (one fused multiply-subtract below 120, a 4/π fixed-point product
// above), then degree-4/5 polynomials in float64 with fused multiply-adds,
// rounded once to float32.
func sinCosf32(y float32) (sin, cos float32) {
	x := float64(y)
	top := func(v float32) uint32 { return math.Float32bits(v) >> 20 & 0x7ff }
	switch {
	case top(y) < top(float32(math.Pi/4)):
		if top(y) < top(0x1p-12) {
			return y, 1
		}
		return trigPoly(x, x*x, &trigCoef[0], 0)
	case top(y) < top(120):
		// quadrant from x·(2/π)·2²⁴ truncated, rounded by adding half a unit
		r := x * 0x1.45F306DC9C883p+23
		n := (int32(r) + 0x800000) >> 24
		x = math.FMA(-float64(n), 0x1.921FB54442D18p0, x)
		return trigQuadrant(x, int(n), 0)
	case !math.IsInf(x, 0) && !math.IsNaN(x):
		xi := math.Float32bits(y)
		x, n := reduceLarge(xi)
		return trigQuadrant(x, n, int(xi>>31))
	}
	return y - y, y - y
}

// trigQuadrant applies quadrant n (plus the argument's sign bit) to the
// reduced argument x and evaluates the polynomials.
func trigQuadrant(x float64, n, sign int) (float32, float32) {
	q := n + sign
	s := [4]float64{1, -1, -1, 1}[q&3]
	c := &trigCoef[0]
	if q&2 != 0 {
		c = &trigCoef[1]
	}
	return trigPoly(x*s, x*x, c, n)
}

// trigCoefs: cosine polynomial c0..c4 (negated in the second set, which
// quadrants 2 and 3 use) and sine polynomial s1..s3.
type trigCoefs struct{ c0, c1, c2, c3, c4, s1, s2, s3 float64 }

var trigCoef = [2]trigCoefs{
	{0x1p0, -0x1.ffffffd0c621cp-2, 0x1.55553e1068f19p-5, -0x1.6c087e89a359dp-10, 0x1.99343027bf8c3p-16,
		-0x1.555545995a603p-3, 0x1.1107605230bc4p-7, -0x1.994eb3774cf24p-13},
	{-0x1p0, 0x1.ffffffd0c621cp-2, -0x1.55553e1068f19p-5, 0x1.6c087e89a359dp-10, -0x1.99343027bf8c3p-16,
		-0x1.555545995a603p-3, 0x1.1107605230bc4p-7, -0x1.994eb3774cf24p-13},
}

// trigPoly evaluates sine and cosine of the reduced x (x2 = x²) with fused
// multiply-adds; an odd quadrant swaps them.
func trigPoly(x, x2 float64, p *trigCoefs, n int) (sin, cos float32) {
	x4 := x2 * x2
	x3 := x2 * x
	c2 := math.FMA(x2, p.c4, p.c3)
	s1 := math.FMA(x2, p.s3, p.s2)
	c1 := math.FMA(x2, p.c1, p.c0)
	x5 := x3 * x2
	x6 := x4 * x2
	s := math.FMA(x3, p.s1, x)
	c := math.FMA(x4, p.c2, c1)
	sv := float32(math.FMA(x5, s1, s))
	cv := float32(math.FMA(x6, c2, c))
	if n&1 != 0 {
		return cv, sv
	}
	return sv, cv
}

// invPio4 holds 4/π in fixed point, 8 new bits per entry.
var invPio4 = [24]uint32{
	0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e,
	0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529,
	0x441529fc, 0x1529fc27, 0x29fc2757, 0xfc2757d1,
	0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0,
	0x34ddc0db, 0xddc0db62, 0xc0db6295, 0xdb629599,
	0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
}

// reduceLarge reduces |y| ≥ 120 (float bits xi) modulo π/2 with an exact
// 32×96-bit product by 4/π: the reduced argument and the quadrant.
func reduceLarge(xi uint32) (float64, int) {
	arr := invPio4[(xi>>26)&15:]
	shift := (xi >> 23) & 7
	m := (xi&0xffffff | 0x800000) << shift
	r0 := uint64(m * arr[0]) // 32-bit product, wrapped
	r1 := uint64(m) * uint64(arr[4])
	r2 := uint64(m) * uint64(arr[8])
	r0 = r2>>32 | r0<<32
	r0 += r1
	n := (r0 + 1<<61) >> 62
	r0 -= n << 62
	return float64(int64(r0)) * 0x1.921FB54442D18p-62, int(n)
}
