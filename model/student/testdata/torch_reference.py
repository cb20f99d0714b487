# Independent PyTorch (float64) reference for distill's student and losses.
# For each case directory given as an argument it reads case.json, the
# parameters (param_<i>.bin, raw little-endian float32, order of case.json
# "params") and the batch arrays, builds the same Llama-style model, evaluates
# logits and the distillation loss, backpropagates, and writes logits.bin,
# grad_<i>.bin (float64 -> float32) and terms.json into the directory.
import json, os, sys
import numpy as np
import torch

torch.set_grad_enabled(True)
DT = torch.float64


def load(d, name, dtype, shape):
    a = np.fromfile(os.path.join(d, name), dtype=dtype)
    return torch.from_numpy(a.reshape(shape).copy())


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, B, T, nh, hd, base, pos):
    # llama.cpp "normal" mode: adjacent pairs (2i, 2i+1) rotate together.
    # pos: [B, T] position of each token.
    x = x.view(B, T, nh, hd // 2, 2)
    inv = base ** (-2.0 * torch.arange(hd // 2, dtype=DT) / hd)
    th = pos[:, :, None] * inv[None, None, :]  # [B, T, hd/2]
    c = th.cos()[:, :, None, :]
    s = th.sin()[:, :, None, :]
    x0, x1 = x[..., 0], x[..., 1]
    y = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return y.reshape(B, T, nh * hd)


def forward(cfg, P, tokens, B, T, row_start=None):
    """row_start [B, T] (optional): the window index where each token's
    document starts. Each document then attends only to itself (causal,
    block-diagonal) and its RoPE positions restart at 0, as Hugging Face's
    per-row position_ids do; without it one document per row."""
    d, H, KV = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    hd = d // H
    x = P["token_embd.weight"][tokens.long()].view(B, T, d)
    hiddens = [x]
    depth = cfg["n_layers"] * (2 if cfg["share_blocks"] else 1)
    t = torch.arange(T)
    mask = (t[None, :] <= t[:, None])[None, None]  # [1, 1, T query, T key]
    pos = t.to(DT)[None, :].expand(B, T)
    if row_start is not None:
        rs = row_start.long().view(B, T)
        mask = mask & (t[None, None, :] >= rs[:, :, None])[:, None]  # [B, 1, T, T]
        pos = (t[None, :] - rs).to(DT)
    for l in range(depth):
        blk = l // 2 if cfg["share_blocks"] else l
        w = lambda n: P["blk.%d.%s.weight" % (blk, n)]
        h = rmsnorm(x, w("attn_norm"), cfg["norm_eps"])
        q = rope(h @ w("attn_q").T, B, T, H, hd, cfg["rope_base"], pos).view(B, T, H, hd).transpose(1, 2)
        k = rope(h @ w("attn_k").T, B, T, KV, hd, cfg["rope_base"], pos).view(B, T, KV, hd).transpose(1, 2)
        v = (h @ w("attn_v").T).view(B, T, KV, hd).transpose(1, 2)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = (q @ k.transpose(-1, -2)) / (hd ** 0.5)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        a = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + a @ w("attn_output").T
        h = rmsnorm(x, w("ffn_norm"), cfg["norm_eps"])
        g = h @ w("ffn_gate").T
        u = h @ w("ffn_up").T
        x = x + (torch.nn.functional.silu(g) * u) @ w("ffn_down").T
        hiddens.append(x)
    hf = rmsnorm(x, P["output_norm.weight"], cfg["norm_eps"])
    head = P["output.weight"] if cfg["untie_embeddings"] else P["token_embd.weight"]
    return (hf @ head.T).view(B * T, -1), [h.reshape(B * T, d) for h in hiddens]


def kl_rows(lc, z, ids, lps, tail, tail_t):
    """Per-row T²·D on k+1 buckets (top-k tokens + lumped tail). The teacher
    at T: tail bucket tail_t (its tail tempered at T), top-k sharing 1 - tail_t
    in proportion to exp(lp/T); at T = 1 the stored exp(lp) and tail, normalised."""
    Tm = lc["temperature"]
    logp = torch.log_softmax(z / Tm, dim=-1)  # student at T
    ls_top = logp.gather(1, ids.long())
    in_top = torch.zeros_like(logp, dtype=torch.bool).scatter(1, ids.long(), True)
    ls_tail = torch.logsumexp(logp.masked_fill(in_top, float("-inf")), dim=-1, keepdim=True)
    ls = torch.cat([ls_top, ls_tail], 1)
    s = ls.exp()
    if Tm == 1:
        wt = torch.cat([torch.exp(lps), tail.clamp(0, 1)], 1)
        t = wt / wt.sum(1, keepdim=True)
    else:
        q = tail_t.clamp(0, 1)
        t = torch.cat([(1 - q) * torch.softmax(lps / Tm, dim=1), q], 1)
    lt = torch.log(t)
    kind = lc.get("kl") or "forward"
    if kind == "forward":
        D = torch.where(t > 0, t * (lt - ls), torch.zeros_like(t)).sum(1)
    elif kind == "reverse":
        D = (s * (ls - torch.log(t.clamp(min=1e-12)))).sum(1)
    else:
        b = lc["jsd_beta"]
        m = b * t + (1 - b) * s
        lm = torch.log(m)
        D = (b * torch.where(t > 0, t * (lt - lm), torch.zeros_like(t)) + (1 - b) * s * (ls - lm)).sum(1)
    return Tm * Tm * D


def dense_kl_rows(lc, z, tz):
    """Per-row T²·D between softmax(tz/T) (dense teacher logits) and
    softmax(z/T), every token its own bucket."""
    Tm = lc["temperature"]
    lt = torch.log_softmax(tz / Tm, -1)
    ls = torch.log_softmax(z / Tm, -1)
    t, s = lt.exp(), ls.exp()
    kind = lc.get("kl") or "forward"
    if kind == "forward":
        D = (t * (lt - ls)).sum(1)
    elif kind == "reverse":
        D = (s * (ls - torch.log(t.clamp(min=1e-12)))).sum(1)
    else:
        b = lc["jsd_beta"]
        lm = torch.log(b * t + (1 - b) * s)
        D = (b * t * (lt - lm) + (1 - b) * s * (ls - lm)).sum(1)
    return Tm * Tm * D


def run_case(d):
    case = json.load(open(os.path.join(d, "case.json")))
    cfg, lc = case["config"], case["loss"]
    B, T, K, V = case["B"], case["T"], case["K"], cfg["vocab_size"]
    N = B * T
    P = {}
    for i, p in enumerate(case["params"]):
        P[p["name"]] = load(d, "param_%d.bin" % i, np.float32, p["shape"]).to(DT).requires_grad_(True)
    tokens = load(d, "tokens.bin", np.int32, [N])
    targets = load(d, "targets.bin", np.int32, [N]).long()
    mask = load(d, "mask.bin", np.float32, [N]).to(DT)
    row_start = None
    if os.path.exists(os.path.join(d, "row_start.bin")):
        row_start = load(d, "row_start.bin", np.int32, [B, T])
    logits, hiddens = forward(cfg, P, tokens, B, T, row_start)
    ce_rows = -torch.log_softmax(logits, -1).gather(1, targets[:, None].clamp(0, V - 1))[:, 0]
    CE = (mask * ce_rows).sum() / mask.sum()
    KL = torch.zeros((), dtype=DT)
    if os.path.exists(os.path.join(d, "dense.bin")):
        tz = load(d, "dense.bin", np.float32, [N, V]).to(DT)
        valid = load(d, "valid.bin", np.float32, [N]).to(DT)
        w = mask * valid
        KL = (w * dense_kl_rows(lc, logits, tz)).sum() / w.sum()
    elif K > 0:
        ids = load(d, "topk_ids.bin", np.int32, [N, K])
        lps = load(d, "topk_logprobs.bin", np.float32, [N, K]).to(DT)
        tail = load(d, "tail.bin", np.float32, [N, 1]).to(DT)
        tail_t = load(d, "tail_tempered.bin", np.float32, [N, 1]).to(DT)
        valid = load(d, "valid.bin", np.float32, [N]).to(DT)
        w = mask * valid
        KL = (w * kl_rows(lc, logits, ids, lps, tail, tail_t)).sum() / w.sum()
    MSE = torch.zeros((), dtype=DT)
    pairs = lc.get("hidden_map") or []
    for i, pr in enumerate(pairs):
        y = hiddens[pr["student"]]
        name = "distill.hidden_proj.%d.weight" % i
        if name in P:
            y = y @ P[name].T
        Dt = case["hidden_dim"]
        tgt = load(d, "hidden_%d.bin" % pr["teacher"], np.float32, [N, Dt]).to(DT)
        MSE = MSE + (mask[:, None] * (y - tgt) ** 2).sum() / (mask.sum() * Dt) / len(pairs)
    a, g = lc["alpha"], lc["gamma"]
    total = a * KL + (1 - a) * CE + g * MSE
    total.backward()
    logits.detach().to(torch.float32).numpy().tofile(os.path.join(d, "logits.bin"))
    for i, p in enumerate(case["params"]):
        gr = P[p["name"]].grad
        if gr is None:
            gr = torch.zeros_like(P[p["name"]])
        gr.to(torch.float32).numpy().tofile(os.path.join(d, "grad_%d.bin" % i))
    json.dump({"total": total.item(), "ce": CE.item(), "kl": KL.item(), "mse": MSE.item()},
              open(os.path.join(d, "terms.json"), "w"))


if __name__ == "__main__":  # loss/testdata/gen_reference.py imports the KL functions
    for d in sys.argv[1:]:
        run_case(d)
    print("ok")
