# PyTorch peer for bench/train: the same Llama-style student as distill's
# model/student (token embedding; N blocks of RMSNorm -> causal GQA attention
# with RoPE (llama.cpp pairing) -> residual, RMSNorm -> SwiGLU -> residual;
# final RMSNorm; LM head tied to the embedding), one training step =
# forward + CE loss over all positions + backward + AdamW.
# Usage: python3 torch_step.py '<json config>'  -> one JSON line on stdout.
import json, math, resource, sys, time

import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
# blaspeer.InfoPy (prepended by bench/train) defines openblas_info and
# sgemm_rel_err: record the BLAS core and check torch's own matmul against a
# float64 reference before timing anything.
_a = _np.random.default_rng(1).standard_normal((256, 512), dtype=_np.float32)
_b = _np.random.default_rng(2).standard_normal((512, 256), dtype=_np.float32)
SGEMM_REL_ERR = sgemm_rel_err((torch.from_numpy(_a) @ torch.from_numpy(_b)).numpy(), _a, _b)
BLAS = openblas_info()
torch.manual_seed(cfg.get("seed", 1))
torch.set_num_threads(cfg["torch_threads"])
V, D, L = cfg["vocab"], cfg["d_model"], cfg["n_layers"]
H, KV, FF = cfg["n_heads"], cfg["n_kv_heads"], cfg["ffn_dim"]
B, T = cfg["batch"], cfg["seq_len"]
HD = D // H
EPS = 1e-5


class RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope_tables(T, hd, base=10000.0):
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)  # [hd/2]
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]  # [T, hd/2]
    return ang.cos(), ang.sin()


def rope(x, cos, sin):
    # x: [B, heads, T, hd]; rotate pairs (2i, 2i+1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x0 * sin + x1 * cos
    return torch.stack((r0, r1), dim=-1).flatten(-2)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = RMSNorm(D)
        self.q = torch.nn.Linear(D, H * HD, bias=False)
        self.k = torch.nn.Linear(D, KV * HD, bias=False)
        self.v = torch.nn.Linear(D, KV * HD, bias=False)
        self.o = torch.nn.Linear(H * HD, D, bias=False)
        self.ffn_norm = RMSNorm(D)
        self.gate = torch.nn.Linear(D, FF, bias=False)
        self.up = torch.nn.Linear(D, FF, bias=False)
        self.down = torch.nn.Linear(FF, D, bias=False)

    def forward(self, x, cos, sin, mask):
        h = self.attn_norm(x)
        q = self.q(h).view(B, T, H, HD).transpose(1, 2)
        k = self.k(h).view(B, T, KV, HD).transpose(1, 2)
        v = self.v(h).view(B, T, KV, HD).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = H // KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask
        a = att.softmax(-1) @ v  # [B, H, T, HD]
        x = x + self.o(a.transpose(1, 2).reshape(B, T, H * HD))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Student(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, D)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(L)])
        self.norm = RMSNorm(D)

    def forward(self, tokens, cos, sin, mask):
        x = self.emb(tokens)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.norm(x) @ self.emb.weight.t()  # tied LM head


model = Student()
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.dim() == 2:
            p.normal_(0.0, 0.02)
decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith("emb")]
no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith("emb"))]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
cos, sin = rope_tables(T, HD)
mask = torch.full((T, T), float("-inf")).triu(1)
g = torch.Generator().manual_seed(7)
tokens = torch.randint(0, V, (B, T), generator=g)
targets = torch.randint(0, V, (B, T), generator=g)


def step():
    opt.zero_grad(set_to_none=True)
    logits = model(tokens, cos, sin, mask)
    loss = F.cross_entropy(logits.view(-1, V), targets.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


for _ in range(cfg["warmup"]):
    step()
rss_start = rss_kib()
ru0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
for _ in range(cfg["steps"]):
    loss = step()
dt = time.perf_counter() - t0
ru1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
print(json.dumps({
    "blas": BLAS,
    "sgemm_rel_err": SGEMM_REL_ERR,
    "tokens_per_s": B * T * cfg["steps"] / dt,
    "step_s": dt / cfg["steps"],
    "cpu_s": cpu,
    "tokens": B * T * cfg["steps"],
    "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "rss_start_kib": rss_start,
    "rss_end_kib": rss_kib(),
    "loss": loss,
    "torch": torch.__version__,
}))
