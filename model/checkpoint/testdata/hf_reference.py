"""Hugging Face reference models for distill's tests (run by Debian's python3-torch).

Independent of distill: the equations are Hugging Face transformers' modeling_llama,
modeling_qwen2 and modeling_qwen3 (rotate-half RoPE, Q/K/V biases, per-head q_norm/k_norm,
llama3 rope_scaling, tied or untied head), written out with plain torch in float64.
Safetensors are read and written by hand (the format is a JSON header and raw bytes), since
Debian ships no python3-safetensors.

  make ARCH OUT SEED VOCAB [SHARDS]   write a random tiny model in Hugging Face layout:
                                      config.json, model.safetensors (or SHARDS shards and
                                      model.safetensors.index.json), generation_config.json
  forward DIR                         stdin {"tokens": [[...], ...], "targets": [[...]]|null}
                                      stdout {"logits": [...], "loss": x, "grads": {name: [...]}}
                                      (grads of the mean next-token cross-entropy when targets
                                      are given)
  ropefreqs DIR                       stdout [f0, f1, ...]: the llama3 model's rope_freqs.weight
                                      as llama.cpp's convert_hf_to_gguf.py computes it (float32
                                      torch arithmetic; divisors of each pair's frequency)
"""
import json
import math
import os
import struct
import sys

import torch

torch.set_num_threads(1)

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    data = blob[8 + hlen:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = bytearray(data[a:b])
        dt = e["dtype"]
        if dt == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).to(torch.int32) << 16
            t = t.view(torch.float32)
        else:
            t = torch.frombuffer(raw, dtype=DTYPES[dt][0]).to(torch.float32)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, off, chunks = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        chunks.append(b)
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)


def load_weights(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        w = {}
        for fn in files:
            w.update(read_safetensors(os.path.join(d, fn)))
        return w
    return read_safetensors(os.path.join(d, "model.safetensors"))


CONFIGS = {
    # rope_theta 100 with head_dim 8 puts the pairs' wave lengths (6.3, 19.9, 62.8, 199) in all
    # three llama3 bands for original_max_position_embeddings 32 (kept < 8 < interpolated < 32 < scaled).
    "llama": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=32,
                  intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=8, max_position_embeddings=128, rope_theta=100.0,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="silu",
                  attention_bias=False, mlp_bias=False,
                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                    high_freq_factor=4.0, original_max_position_embeddings=32)),
    "qwen2": dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=32,
                  intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rope_theta=10000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu",
                  use_sliding_window=False, rope_scaling=None),
    # head_dim 16 ≠ hidden_size / num_attention_heads = 8.
    "qwen3": dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=32,
                  intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                  hidden_act="silu", attention_bias=False, use_sliding_window=False,
                  rope_scaling=None),
}


def head_dim(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def make(arch, out, seed, vocab, shards):
    c = dict(CONFIGS[arch])
    c.update(vocab_size=vocab, bos_token_id=0, eos_token_id=1, torch_dtype="float32")
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.3
    norm = lambda n: 1 + 0.2 * torch.randn(n, generator=g, dtype=torch.float64)
    d, hd, ff = c["hidden_size"], head_dim(c), c["intermediate_size"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    w = {"model.embed_tokens.weight": rnd(vocab, d)}
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "self_attn.q_proj.weight"] = rnd(H * hd, d)
        w[p + "self_attn.k_proj.weight"] = rnd(KV * hd, d)
        w[p + "self_attn.v_proj.weight"] = rnd(KV * hd, d)
        if arch == "qwen2":
            w[p + "self_attn.q_proj.bias"] = rnd(H * hd)
            w[p + "self_attn.k_proj.bias"] = rnd(KV * hd)
            w[p + "self_attn.v_proj.bias"] = rnd(KV * hd)
        if arch == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "self_attn.o_proj.weight"] = rnd(d, H * hd)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        w[p + "mlp.gate_proj.weight"] = rnd(ff, d)
        w[p + "mlp.up_proj.weight"] = rnd(ff, d)
        w[p + "mlp.down_proj.weight"] = rnd(d, ff)
    w["model.norm.weight"] = norm(d)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(vocab, d)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 0, "eos_token_id": 1, "do_sample": False}, f)
    names = list(w)
    if shards <= 1:
        write_safetensors(os.path.join(out, "model.safetensors"), w)
        return
    per = math.ceil(len(names) / shards)
    wmap = {}
    for s in range(shards):
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: w[n] for n in names[s * per:(s + 1) * per]}
        write_safetensors(os.path.join(out, fn), part)
        wmap.update({n: fn for n in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def inv_freqs(c):
    hd = head_dim(c)
    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = c.get("rope_scaling")
    if rs:
        assert rs.get("rope_type", rs.get("type")) == "llama3"
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_wave, hi_wave = old / lo, old / hi
        wave = 2 * math.pi / inv
        scaled = torch.where(wave > lo_wave, inv / factor, inv)
        smooth = (old / wave - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wave < hi_wave) & ~(wave > lo_wave)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def forward(c, w, tokens):
    """tokens: [B, T] → logits [B, T, V] (float64)."""
    B, T = tokens.shape
    d, hd = c["hidden_size"], head_dim(c)
    H, KV, eps = c["num_attention_heads"], c["num_key_value_heads"], c["rms_norm_eps"]
    inv = inv_freqs(c)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [T, hd]
    x = w["model.embed_tokens.weight"][tokens]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        lin = lambda n: h @ w[p + n + ".weight"].T + (w[p + n + ".bias"] if p + n + ".bias" in w else 0)
        q = lin("self_attn.q_proj").view(B, T, H, hd)
        k = lin("self_attn.k_proj").view(B, T, KV, hd)
        v = lin("self_attn.v_proj").view(B, T, KV, hd)
        if p + "self_attn.q_norm.weight" in w:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, heads, T, hd]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + a @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


def converter_rope_freqs(c):
    """The Llama 3 per-pair frequency divisors the way llama.cpp's converter derives them:
    float32 frequencies and wave lengths, kept pairs 1, slow pairs the factor, the band
    between 1 / ((1 - smooth) / factor + smooth), stored as float32."""
    rs = c["rope_scaling"]
    hd = head_dim(c)
    freqs = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    out = []
    for freq in freqs:
        wave = 2 * math.pi / freq
        if wave < old / hi:
            out.append(1)
        elif wave > old / lo:
            out.append(factor)
        else:
            smooth = (old / wave - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32)


def run_forward(d):
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    req = json.load(sys.stdin)
    w = {n: t.to(torch.float64).requires_grad_(True) for n, t in load_weights(d).items()}
    tokens = torch.tensor(req["tokens"], dtype=torch.long)
    logits = forward(c, w, tokens)
    res = {"logits": logits.detach().reshape(-1).tolist()}
    if req.get("targets") is not None:
        tg = torch.tensor(req["targets"], dtype=torch.long)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tg.reshape(-1))
        loss.backward()
        res["loss"] = loss.item()
        res["grads"] = {n: t.grad.reshape(-1).tolist() for n, t in w.items() if t.grad is not None}
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
             int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    elif sys.argv[1] == "forward":
        run_forward(sys.argv[2])
    elif sys.argv[1] == "ropefreqs":
        with open(os.path.join(sys.argv[2], "config.json")) as f:
            json.dump(converter_rope_freqs(json.load(f)).tolist(), sys.stdout)
    else:
        sys.exit("usage: hf_reference.py make|forward|ropefreqs ...")
