package ops

import (
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/distill-ml/distill/data/batch/batchtest"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/loss"
)

// BenchmarkOps times each op's forward and backward kernel alone on the
// training benchmark's shapes (B 8, T 128, d 256, 4/2 heads, ffn 688, V 4096),
// to show where a step's time goes, with each op's steady-state heap
// allocations (B/op, allocs/op: only the shared pool's per-For cost remains):
//
//	go test ./model/ops -run '^$' -bench Ops -benchtime 20x
func BenchmarkOps(b *testing.B) {
	const B, T, d, H, KV, ffn, V = 8, 128, 256, 4, 2, 688, 4096
	const N, hd = B * T, d / H
	rng := rand.New(rand.NewSource(1))
	val := func(shape ...int) *tensor.Dense {
		n := 1
		for _, s := range shape {
			n *= s
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.5)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
	}
	g := G.NewGraph()
	node := func(v *tensor.Dense) *G.Node {
		return G.NewTensor(g, G.Float32, v.Dims(), G.WithShape(v.Shape()...), G.WithValue(v))
	}
	run := func(name string, op G.Op, in ...G.Value) {
		b.Run(name, func(b *testing.B) {
			if _, err := op.Do(in...); err != nil {
				b.Fatal(err)
			}
			c0 := sysmem.CPUTime().Seconds()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := op.Do(in...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((sysmem.CPUTime().Seconds()-c0)*1e9/float64(b.N), "cpu-ns/op")
		})
	}
	// Linear shapes of one block: fused qkv (d→(H+2KV)·hd), o (d→d), fused gate/up (d→2·ffn), down (ffn→d).
	for _, s := range []struct{ in, out int }{{d, (H + 2*KV) * hd}, {d, d}, {d, 2 * ffn}, {ffn, d}} {
		x, w, dy := val(N, s.in), val(s.out, s.in), val(N, s.out)
		y, _ := Linear(node(x), node(w))
		name := "linear_" + itoa(s.in) + "x" + itoa(s.out)
		run(name+"/fwd", y.Op(), x, w)
		gx := &linearOp{mode: linGradX}
		gx.base = base{name: "gx", self: gx}
		gw := &linearOp{mode: linGradW}
		gw.base = base{name: "gw", self: gw}
		run(name+"/gradX", gx, dy, w)
		run(name+"/gradW", gw, dy, x)
	}
	qkv, do := val(N, (H+2*KV)*hd), val(N, H*hd)
	a, _ := Attention(node(qkv), nil, B, T, H, KV, hd)
	aop := a.Op().(*attentionOp)
	run("attention/fwd", aop, qkv)
	ag := &attentionGradOp{fwd: aop}
	ag.base = base{name: "ag", self: ag}
	run("attention/bwd", ag, qkv, do)

	x, w, dy := val(N, d), val(d), val(N, d)
	r, _ := RMSNorm(node(x), node(w), 1e-5)
	rop := r.Op().(*rmsNormOp)
	run("rmsnorm/fwd", rop, x, w)
	rgx := &rmsNormGradXOp{fwd: rop}
	rgx.base = base{name: "rgx", self: rgx}
	rgw := &rmsNormGradWOp{fwd: rop}
	rgw.base = base{name: "rgw", self: rgw}
	run("rmsnorm/gradX", rgx, x, w, dy)
	run("rmsnorm/gradW", rgw, x, dy)

	rp, _ := RoPE(node(qkv), T, H+KV, hd, 10000)
	run("rope_qkv/fwd", rp.Op(), qkv)

	gu, dyf := val(N, 2*ffn), val(N, ffn)
	sw, _ := SwiGLU(node(gu))
	run("swiglu/fwd", sw.Op(), gu)
	sg := &swigluGradOp{fwd: sw.Op().(*swigluOp)}
	sg.base = base{name: "sg", self: sg}
	run("swiglu/bwd", sg, gu, dyf)

	for _, lc := range []struct {
		name string
		cfg  loss.Config
		K    int
	}{{"ce", loss.Config{Temperature: 1}, 0}, {"kd", loss.Config{Alpha: 0.5, Temperature: 2}, 16}} {
		h, wv := val(N, d), val(V, d)
		feed := &Feed{Batch: lossBatch(rng, B, T, V, max(lc.K, 1), 0)}
		batchtest.TemperTail(feed.Batch, V, lc.cfg.Temperature)
		if lc.K == 0 {
			feed.Batch.K = 0
		}
		for i := range feed.Batch.LossMask {
			feed.Batch.LossMask[i] = 1
		}
		n, lop, _ := NewLMLoss(node(h), node(wv), lc.cfg, feed, true)
		_ = n
		run("lmloss_"+lc.name+"/fwd", lop, h, wv)
		lg := &lmLossGradOp{fwd: lop, bun: &bundle{outs: make([]buf, 1)}}
		lg.base = base{name: "lg", self: lg}
		run("lmloss_"+lc.name+"/bwd", lg, h, wv, G.NewF32(1))
	}
}

func itoa(n int) string {
	s := ""
	for n > 0 || s == "" {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}
