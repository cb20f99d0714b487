# PyTorch peer for bench/train: the same Llama-style student as distill's
# model/student (token embedding; N blocks of RMSNorm -> causal GQA attention
# with RoPE (llama.cpp pairing) -> residual, RMSNorm -> SwiGLU -> residual;
# final RMSNorm; LM head tied to the embedding or not), with the variants of
# its arch: qwen2 (Q/K/V biases), qwen3 (per-head RMSNorm of Q and K before
# RoPE), head_dim != d_model/n_heads, MobileLLM-LS block sharing (each block
# applied twice). One training step = forward + CE loss over all positions +
# backward + AdamW. The RoPE frequencies come from distill's config (job
# "rope_inv_freqs"), so Llama 3 rope_scaling needs no second implementation.
# Usage: python3 torch_step.py '<json config>'  -> one JSON line on stdout,
# with "params", the parameter count bench/train checks against distill's.
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
S = cfg["student"]
V, D, L = S["vocab_size"], S["d_model"], S["n_layers"]
H, KV, FF = S["n_heads"], S["n_kv_heads"], S["ffn_dim"]
B, T = cfg["batch"], cfg["seq_len"]
HD = cfg["head_dim"]
EPS = S["norm_eps"]
QKV_BIAS, QK_NORM = cfg["qkv_bias"], cfg["qk_norm"]
APPLY = 2 if S.get("share_blocks") else 1  # MobileLLM-LS: each block twice in a row
UNTIED = S.get("untie_embeddings", False)
INV_FREQS = torch.tensor(cfg["rope_inv_freqs"], dtype=torch.float64)  # [HD/2]
assert INV_FREQS.numel() == HD // 2, "rope_inv_freqs must have head_dim/2 entries"


class RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


def rope_tables(T, inv):
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # [T, hd/2]
    return ang.cos().float(), ang.sin().float()


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
        self.q = torch.nn.Linear(D, H * HD, bias=QKV_BIAS)
        self.k = torch.nn.Linear(D, KV * HD, bias=QKV_BIAS)
        self.v = torch.nn.Linear(D, KV * HD, bias=QKV_BIAS)
        if QK_NORM:
            self.q_norm = RMSNorm(HD)  # over each head's HD
            self.k_norm = RMSNorm(HD)
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
        if QK_NORM:
            q, k = self.q_norm(q), self.k_norm(k)
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
        self.out = torch.nn.Linear(D, V, bias=False) if UNTIED else None

    def forward(self, tokens, cos, sin, mask):
        x = self.emb(tokens)
        for b in self.blocks:
            for _ in range(APPLY):
                x = b(x, cos, sin, mask)
        head = self.out.weight if UNTIED else self.emb.weight  # [V, D]
        return self.norm(x) @ head.t()


model = Student()
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.dim() == 2:
            p.normal_(0.0, 0.02)
decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith("emb")]
no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith("emb"))]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
PARAMS = sum(p.numel() for p in model.parameters())
cos, sin = rope_tables(T, INV_FREQS)
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
    "params": PARAMS,
}))
