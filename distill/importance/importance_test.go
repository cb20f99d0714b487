package importance

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// torchImatrix is an independent float64 PyTorch forward of the llama
// student (llama.cpp RoPE pairing, GQA, RMSNorm, SwiGLU) that sums each
// block weight product's squared inputs per column over every token row,
// as llama-imatrix collects them.
const torchImatrix = `
import json, sys, torch
torch.set_default_dtype(torch.float64)
d = json.load(sys.stdin)
c = d["config"]
D, L, H, KV = c["d_model"], c["n_layers"], c["n_heads"], c["n_kv_heads"]
hd, eps, base = D // H, c["norm_eps"], c["rope_base"]
P = {n: torch.tensor(v["data"]).view(v["shape"]) for n, v in d["tensors"].items()}
S, N = {}, {}
def obs(name, x):
    x = x.reshape(-1, x.shape[-1])
    S[name] = S.get(name, 0) + (x * x).sum(0)
    N[name] = N.get(name, 0) + x.shape[0]
def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
def rope(x, T, n):
    x = x.view(T, n, hd // 2, 2)
    inv = base ** (-2.0 * torch.arange(hd // 2) / hd)
    ang = torch.arange(T)[:, None] * inv[None, :]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
    x0, x1 = x[..., 0], x[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).view(T, n * hd)
for seq in d["seqs"]:
    T = len(seq)
    x = P["token_embd.weight"][torch.tensor(seq)]
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    for l in range(L):
        nm = lambda n: "blk.%d.%s.weight" % (l, n)
        w = lambda n: P[nm(n)]
        h = rms(x, w("attn_norm"))
        for n in ("attn_q", "attn_k", "attn_v"):
            obs(nm(n), h)
        q = rope(h @ w("attn_q").T, T, H).view(T, H, hd).transpose(0, 1)
        k = rope(h @ w("attn_k").T, T, KV).view(T, KV, hd).transpose(0, 1)
        v = (h @ w("attn_v").T).view(T, KV, hd).transpose(0, 1)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        a = (((q @ k.transpose(-1, -2)) / hd ** 0.5 + mask).softmax(-1) @ v).transpose(0, 1).reshape(T, H * hd)
        obs(nm("attn_output"), a)
        x = x + a @ w("attn_output").T
        h = rms(x, w("ffn_norm"))
        obs(nm("ffn_gate"), h); obs(nm("ffn_up"), h)
        g = torch.nn.functional.silu(h @ w("ffn_gate").T) * (h @ w("ffn_up").T)
        obs(nm("ffn_down"), g)
        x = x + g @ w("ffn_down").T
print(json.dumps({n: {"sums": S[n].tolist(), "count": N[n]} for n in S}))
`

// Compute's statistics equal an independent PyTorch float64 forward's sums
// of squared block inputs (within float32 accumulation error), with the
// row counts exact.
func TestComputeMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with PyTorch: not in -short")
	}
	cfg := student.Config{VocabSize: 300, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f32.gguf")
	if err := export.Write(path, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	seqs := [][]int32{{1, 5, 9, 200, 17, 3}, {250, 2, 2, 2, 99, 100, 101, 7, 8, 9, 10, 11}, {42}}
	rt, err := infer.Load(path, infer.Options{ExactPrompt: true, KVF32: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	f, err := Compute(rt, seqs, Options{Dataset: "test"})
	if err != nil {
		t.Fatal(err)
	}
	type tj struct {
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	}
	tensors := map[string]tj{}
	for _, p := range export.PlanShapes(cfg, export.Options{Type: quant.FileF32}) {
		shape := make([]int, len(p.Dims))
		for i, d := range p.Dims {
			shape[len(p.Dims)-1-i] = int(d)
		}
		tensors[p.Name] = tj{shape, m.Tensors[p.Source]}
	}
	in, _ := json.Marshal(map[string]any{"config": map[string]any{"d_model": cfg.DModel, "n_layers": cfg.NLayers,
		"n_heads": cfg.NHeads, "n_kv_heads": cfg.NKVHeads, "norm_eps": cfg.NormEps, "rope_base": cfg.RopeBase},
		"tensors": tensors, "seqs": seqs})
	var ref map[string]struct {
		Sums  []float64 `json:"sums"`
		Count int64     `json:"count"`
	}
	if err := json.Unmarshal(testpeers.RunPython(t, torchImatrix, in), &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref) != len(f.Entries) || len(ref) != 7*cfg.NLayers {
		t.Fatalf("%d entries, PyTorch %d, want %d", len(f.Entries), len(ref), 7*cfg.NLayers)
	}
	for name, want := range ref {
		got, ok := f.Entries[name]
		if !ok {
			t.Errorf("no entry for %s", name)
			continue
		}
		if len(got.Counts) != 1 || got.Counts[0] != want.Count || want.Count != 19 {
			t.Errorf("%s: counts %v, PyTorch %d (want 19 rows)", name, got.Counts, want.Count)
		}
		for j, w := range want.Sums {
			if d := math.Abs(float64(got.Sums[j]) - w); d > 1e-4*math.Abs(w)+1e-9 {
				t.Errorf("%s column %d: %g, PyTorch %g", name, j, got.Sums[j], w)
				break
			}
		}
	}
	if f.ChunkCount != 3 || f.ChunkSize != 12 || f.Datasets[0] != "test" {
		t.Errorf("metadata %d chunks of %d, datasets %v", f.ChunkCount, f.ChunkSize, f.Datasets)
	}
}
