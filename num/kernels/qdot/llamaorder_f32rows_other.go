//go:build !amd64

package qdot

// f32VecOrder4 sets out[k] = f32VecOrder(w[k], x, n) for the four rows.
func f32VecOrder4(w *[4][]float32, x []float32, n int, out *[4]float32) {
	for k := range out {
		out[k] = f32VecOrder(w[k], x, n)
	}
}
