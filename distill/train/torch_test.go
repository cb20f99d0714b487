package train

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// fixedLoader replays a list of batches (no resume needed here).
type fixedLoader struct {
	bs []*batch.Batch
	i  int
}

func (f *fixedLoader) Next() (*batch.Batch, error) { b := f.bs[f.i%len(f.bs)]; f.i++; return b, nil }
func (f *fixedLoader) State() (json.RawMessage, error) {
	return json.Marshal(f.i)
}
func (f *fixedLoader) Restore(s json.RawMessage) error { return json.Unmarshal(s, &f.i) }

// torchStudent is an independent float64 PyTorch implementation of the
// student (llama.cpp RoPE pairing, GQA by repeat_interleave, RMSNorm, SwiGLU,
// tied head): logits_of(b) gives the logits [B*T, V] of a batch, with the
// weights P (requires_grad) read from the input's "config" and "params".
const torchStudent = `
import json, sys, torch
torch.set_default_dtype(torch.float64)
d = json.load(sys.stdin)
c = d["config"]
V, D, L, H, KV = c["vocab_size"], c["d_model"], c["n_layers"], c["n_heads"], c["n_kv_heads"]
hd, eps, base = D // H, c["norm_eps"], c["rope_base"]
P = {p["name"]: torch.tensor(p["data"], dtype=torch.float64).view(p["shape"]).requires_grad_() for p in d["params"]}

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

def rope(x, B, T, n):  # x: [B, T, n*hd]; pairs (2i, 2i+1)
    x = x.view(B, T, n, hd // 2, 2)
    inv = base ** (-2.0 * torch.arange(hd // 2) / hd)
    ang = torch.arange(T)[:, None] * inv[None, :]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    x0, x1 = x[..., 0], x[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).view(B, T, n * hd)

def logits_of(b):
    B, T = b["B"], b["T"]
    tok = torch.tensor(b["tokens"]).view(B, T)
    x = P["token_embd.weight"][tok]
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    for l in range(L):
        w = lambda n: P["blk.%d.%s.weight" % (l, n)]
        h = rms(x, w("attn_norm"))
        q = rope(h @ w("attn_q").T, B, T, H).view(B, T, H, hd).transpose(1, 2)
        k = rope(h @ w("attn_k").T, B, T, KV).view(B, T, KV, hd).transpose(1, 2)
        v = (h @ w("attn_v").T).view(B, T, KV, hd).transpose(1, 2)
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        a = ((q @ k.transpose(-1, -2)) / hd ** 0.5 + mask).softmax(-1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, H * hd) @ w("attn_output").T
        h = rms(x, w("ffn_norm"))
        x = x + (torch.nn.functional.silu(h @ w("ffn_gate").T) * (h @ w("ffn_up").T)) @ w("ffn_down").T
    return (rms(x, P["output_norm.weight"]) @ P["token_embd.weight"].T).view(B * T, V)
`

// torchTrain trains torchStudent with masked-mean cross-entropy,
// clip_grad_norm_ and torch.optim.AdamW (decay only where distill's
// Param.Decay says).
const torchTrain = torchStudent + `
decay = {p["name"]: p["decay"] for p in d["params"]}

def loss_of(b):
    nll = torch.nn.functional.cross_entropy(logits_of(b), torch.tensor(b["targets"]), reduction="none")
    m = torch.tensor(b["mask"], dtype=torch.float64)
    return (nll * m).sum() / m.sum()

groups = [{"params": [P[n]], "weight_decay": d["weight_decay"] if decay[n] else 0.0} for n in P]
opt = torch.optim.AdamW(groups, lr=1.0, betas=(d["beta1"], d["beta2"]), eps=d["eps"], foreach=False)
losses = []
for b, lr in zip(d["batches"], d["lrs"]):
    opt.zero_grad()
    loss = loss_of(b)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(P.values()), d["clip"])
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    losses.append(loss.item())
print(json.dumps({"losses": losses, "params": {n: p.detach().reshape(-1).tolist() for n, p in P.items()}}))
`

// Four updates of the real student through the trainer (forward, backward,
// clipping, schedule, decoupled decay) against the same four updates in PyTorch.
func TestTrainingStepsMatchPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with PyTorch: not in -short")
	}
	sc := student.Config{VocabSize: 32, DModel: 16, NLayers: 2, NHeads: 2, NKVHeads: 1, FFNDim: 24,
		ContextLength: 8, RopeBase: 10000, NormEps: 1e-5}
	cfg := testConfig(t.TempDir(), 4)
	cfg.Loss = loss.Config{Alpha: 0, Temperature: 1}
	cfg.Train.LR, cfg.Train.MinLR, cfg.Train.Warmup, cfg.Train.Clip = 5e-3, 1e-3, 2, 0.5
	cfg.Train.EvalEvery, cfg.Train.CheckpointEvery = 100, 100
	m, err := student.New(sc, cfg.Loss, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	var bs []*batch.Batch
	for i := 0; i < 4; i++ {
		b := &batch.Batch{B: 2, T: 8, Tokens: make([]int32, 16), Targets: make([]int32, 16), LossMask: make([]float32, 16)}
		for p := range b.Tokens {
			b.Tokens[p], b.Targets[p] = int32(r.IntN(32)), int32(r.IntN(32))
			if p%8 >= 2 {
				b.LossMask[p] = 1
			}
		}
		bs = append(bs, b)
	}
	type pj struct {
		Name  string    `json:"name"`
		Shape []int     `json:"shape"`
		Decay bool      `json:"decay"`
		Data  []float32 `json:"data"`
	}
	var ps []pj
	for _, p := range m.Params() {
		ps = append(ps, pj{p.Name, p.Shape, p.Decay, append([]float32(nil), p.Data...)})
	}
	type bj struct {
		B       int       `json:"B"`
		T       int       `json:"T"`
		Tokens  []int32   `json:"tokens"`
		Targets []int32   `json:"targets"`
		Mask    []float32 `json:"mask"`
	}
	var bjs []bj
	var lrs []float64
	for i, b := range bs {
		bjs = append(bjs, bj{b.B, b.T, b.Tokens, b.Targets, b.LossMask})
		lrs = append(lrs, cfg.Train.schedule().LR(i))
	}
	res, err := Run(context.Background(), Setup{Config: cfg, Student: sc, TokenizerHash: "sha256:t", Model: m,
		Train: &fixedLoader{bs: bs}, Validation: bs[:1]})
	if err != nil {
		t.Fatal(err)
	}
	// The clip must have been active for the comparison to cover it.
	clipped := false
	for _, line := range strings.Split(readFile(t, filepath.Join(cfg.OutDir, "metrics.jsonl")), "\n") {
		var rec trainRecord
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Kind == "train" && rec.GradNorm > cfg.Train.Clip {
			clipped = true
		}
	}
	if !clipped {
		t.Fatal("no update was clipped; raise the batch's gradient or lower clip")
	}
	in, _ := json.Marshal(map[string]any{"config": sc, "params": ps, "batches": bjs, "lrs": lrs, "clip": cfg.Train.Clip,
		"weight_decay": cfg.Train.WeightDecay, "beta1": cfg.Train.Beta1, "beta2": cfg.Train.Beta2, "eps": cfg.Train.Eps})
	var want struct {
		Losses []float64
		Params map[string][]float64
	}
	out := testpeers.RunPython(t, torchTrain, in)
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("torch output: %v", err)
	}
	for i, l := range res.TrainHistory {
		if math.Abs(l-want.Losses[i]) > 1e-4*math.Abs(want.Losses[i]) {
			t.Errorf("update %d: loss distill %.7f torch %.7f", i+1, l, want.Losses[i])
		}
	}
	// Weights: the largest difference must be tiny next to how far the
	// weights moved (float32 against float64: ~1e-7 observed).
	var maxDiff, maxMove float64
	for k, p := range m.Params() {
		w := want.Params[p.Name]
		for j, v := range p.Data {
			maxDiff = math.Max(maxDiff, math.Abs(float64(v)-w[j]))
			maxMove = math.Max(maxMove, math.Abs(float64(ps[k].Data[j])-w[j]))
		}
	}
	t.Logf("max |distill − torch| = %.3g over weights that moved up to %.3g", maxDiff, maxMove)
	if maxMove < 1e-3 || maxDiff > 1e-3*maxMove {
		t.Fatalf("weights after 4 updates: max difference %.3g, max movement %.3g", maxDiff, maxMove)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
