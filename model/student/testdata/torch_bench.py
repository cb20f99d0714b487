# PyTorch peer for BenchmarkForwardBackward: the same student shape, float32,
# forward + backward of the same loss (CE, or CE + sparse top-k forward KL),
# shape from argv[3:11] (V d layers heads kv_heads ffn B T), timed over argv[2] steps after warm-up. Prints tokens/s and tokens per
# CPU-second.
import sys, time
import torch
import torch.nn.functional as F

mode, steps = sys.argv[1], int(sys.argv[2])
V, d, L, H, KV, FF, B, T = (int(a) for a in sys.argv[3:11])
K = 16
torch.manual_seed(0)
hd = d // H
P = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)
emb = P(V, d)
blocks = [dict(an=torch.nn.Parameter(torch.ones(d)), q=P(H * hd, d), k=P(KV * hd, d), v=P(KV * hd, d), o=P(d, H * hd),
               fn=torch.nn.Parameter(torch.ones(d)), g=P(FF, d), u=P(FF, d), dn=P(d, FF)) for _ in range(L)]
on = torch.nn.Parameter(torch.ones(d))
inv = 10000 ** (-2.0 * torch.arange(hd // 2) / hd)
th = torch.arange(T)[:, None] * inv[None, :]
cos, sin = th.cos()[None, :, None, :], th.sin()[None, :, None, :]
mask = torch.ones(T, T, dtype=torch.bool).tril()


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


def rope(x, nh):
    x = x.view(B, T, nh, hd // 2, 2)
    x0, x1 = x[..., 0], x[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).view(B, T, nh, hd)


tokens = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B * T,))
ids = torch.randint(0, V, (B * T, K))
lps = torch.log_softmax(torch.randn(B * T, K), -1) - 0.2
tail = 1 - lps.exp().sum(-1, keepdim=True)


def step():
    x = emb[tokens]
    for b in blocks:
        h = rms(x, b["an"])
        q = rope(h @ b["q"].T, H).transpose(1, 2)
        k = rope(h @ b["k"].T, KV).transpose(1, 2).repeat_interleave(H // KV, 1)
        v = (h @ b["v"].T).view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, 1)
        a = ((q @ k.transpose(-1, -2)) / hd ** 0.5).masked_fill(~mask, float("-inf")).softmax(-1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, d) @ b["o"].T
        h = rms(x, b["fn"])
        x = x + (F.silu(h @ b["g"].T) * (h @ b["u"].T)) @ b["dn"].T
    z = (rms(x, on) @ emb.T).view(B * T, V)
    loss = F.cross_entropy(z, targets)
    if mode == "kd":
        Tm = 2.0
        lp = torch.log_softmax(z / Tm, -1)
        ls_top = lp.gather(1, ids)
        ls_tail = torch.logsumexp(lp.scatter(1, ids, float("-inf")), -1, keepdim=True)
        ls = torch.cat([ls_top, ls_tail], 1)
        t = torch.cat([(lps / Tm).exp(), tail.clamp(min=1e-12) ** (1 / Tm)], 1)
        t = t / t.sum(1, keepdim=True)
        kl = (t * (t.log() - ls)).sum(1).mean() * Tm * Tm
        loss = 0.5 * loss + 0.5 * kl
    loss.backward()


for _ in range(3):
    step()
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(steps):
    step()
dt, dc = time.perf_counter() - t0, time.process_time() - c0
print("%.1f %.1f" % (steps * B * T / dt, steps * B * T / dc))
