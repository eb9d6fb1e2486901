"""A Llama-family decoder with LoRA in plain PyTorch, read top to bottom like nanoGPT's model.py.

Config, Weights (frozen base, HF checkpoint names), the LoRA pairs (PEFT names and shapes), then
forward over a batch of packed rows. The math is the engine's (containers/engine/train-graph.ts):
RMSNorm, rotate-half RoPE, grouped-query attention with a block-diagonal causal mask over packed
documents, SwiGLU, and y = W·x + (alpha/r)·B·(A·dropout(x)) on the adapted projections. Autograd
does the backward the engine writes by hand. No transformers, peft or safetensors import.
"""
import json
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mulberry import Rng, uniforms
from safetensors_io import read_safetensors

# The seven projections a LoRA can adapt, in the engine's order (lora.ts TARGETS): the order of
# the optimizer's parameters, of the checkpoint, and of the dropout draws within a layer.
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MODULE_PATH = {
    "q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj", "o_proj": "self_attn.o_proj",
    "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj", "down_proj": "mlp.down_proj",
}


class ModelError(ValueError):
    """A config or checkpoint this model cannot take (the job's fault: a retry will not help)."""


@dataclass
class Config:
    dim: int  # width of the residual stream (hidden_size)
    hidden_dim: int  # inner width of the SwiGLU MLP (intermediate_size)
    n_layers: int  # decoder blocks
    n_heads: int  # query heads
    n_kv_heads: int  # key/value heads (grouped-query attention)
    vocab_size: int
    max_seq_len: int  # longest context (max_position_embeddings)
    rope_theta: float  # RoPE base
    norm_eps: float  # RMSNorm epsilon
    tie_embeddings: bool  # lm_head shares embed_tokens

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @staticmethod
    def from_hf(j):
        """Our Config from an HF config.json, refusing what the engine does not implement either."""
        def num(k, default=None):
            v = j.get(k, default)
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ModelError(f"config.json: {k} missing or not a number")
            return v
        if j.get("hidden_act", "silu") != "silu":
            raise ModelError(f"config.json: hidden_act {j['hidden_act']} is not supported (silu only)")
        if j.get("rope_scaling"):
            raise ModelError("config.json: rope_scaling is not supported")
        c = Config(dim=num("hidden_size"), hidden_dim=num("intermediate_size"), n_layers=num("num_hidden_layers"),
                   n_heads=num("num_attention_heads"), n_kv_heads=num("num_key_value_heads", j.get("num_attention_heads")),
                   vocab_size=num("vocab_size"), max_seq_len=num("max_position_embeddings"), rope_theta=float(num("rope_theta", 10000)),
                   norm_eps=float(num("rms_norm_eps", 1e-6)), tie_embeddings=j.get("tie_word_embeddings") is True)
        if c.dim % c.n_heads or c.head_dim % 2 or c.n_heads % c.n_kv_heads:
            raise ModelError(f"config.json: heads do not divide the width ({c.dim} wide, {c.n_heads} heads, {c.n_kv_heads} kv heads)")
        if j.get("head_dim", c.head_dim) != c.head_dim:
            raise ModelError("config.json: head_dim other than hidden_size/num_attention_heads is not supported")
        return c

    def projection_dims(self, t):
        """(in, out) of one projection."""
        q, kv = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        return {"q_proj": (self.dim, q), "k_proj": (self.dim, kv), "v_proj": (self.dim, kv), "o_proj": (q, self.dim),
                "gate_proj": (self.dim, self.hidden_dim), "up_proj": (self.dim, self.hidden_dim), "down_proj": (self.hidden_dim, self.dim)}[t]


def load_weights(model_dir, device):
    """config.json + model.safetensors (or the shards of model.safetensors.index.json) as frozen fp32 tensors by HF name."""
    try:
        with open(os.path.join(model_dir, "config.json")) as f:
            config = Config.from_hf(json.load(f))
    except OSError as e:
        raise ModelError(f"{model_dir}: no readable config.json") from e
    single, index = os.path.join(model_dir, "model.safetensors"), os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        files = [single]
    elif os.path.exists(index):
        with open(index) as f:
            files = sorted({os.path.join(model_dir, v) for v in json.load(f)["weight_map"].values()})
    else:
        raise ModelError(f"{model_dir}: no model.safetensors")
    w = {}
    for path in files:
        tensors, _ = read_safetensors(path)
        w.update({k: v.to(device) for k, v in tensors.items()})
    if config.tie_embeddings or "lm_head.weight" not in w:
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    # shapes, as the engine's createModel checks them
    expect = {"model.embed_tokens.weight": (config.vocab_size, config.dim), "model.norm.weight": (config.dim,), "lm_head.weight": (config.vocab_size, config.dim)}
    for l in range(config.n_layers):
        p = f"model.layers.{l}."
        expect[p + "input_layernorm.weight"] = expect[p + "post_attention_layernorm.weight"] = (config.dim,)
        for t in TARGETS:
            n, d = config.projection_dims(t)
            expect[f"{p}{MODULE_PATH[t]}.weight"] = (d, n)
    for name, shape in expect.items():
        if name not in w:
            raise ModelError(f"{model_dir}: weight {name} is missing")
        if tuple(w[name].shape) != shape:
            raise ModelError(f"{model_dir}: weight {name} is {list(w[name].shape)}, expected {list(shape)}")
    return config, w


class Lora:
    """The adapter: per layer and adapted projection, A (r, in) and B (out, r) as PEFT names them."""

    def __init__(self, config, r, alpha, dropout, targets, seed, device):
        bad = [t for t in targets if t not in TARGETS]
        if bad or not targets:
            raise ModelError(f"target modules must be among {', '.join(TARGETS)}, got {targets}")
        if not (isinstance(r, int) and 1 <= r <= 1024) or not alpha > 0 or not 0 <= dropout < 1:
            raise ModelError(f"bad LoRA settings r={r} alpha={alpha} dropout={dropout}")
        self.r, self.alpha, self.dropout, self.scale = r, alpha, dropout, alpha / r
        self.targets = [t for t in TARGETS if t in targets]
        # PEFT's init as lora.ts draws it: A ~ U(-1/sqrt(in), 1/sqrt(in)) from one Rng(seed) stream, layer by layer, B = 0
        rng = Rng(seed)
        self.pairs = []  # pairs[l][t] = (A, B)
        for _ in range(config.n_layers):
            layer = {}
            for t in self.targets:
                n, d = config.projection_dims(t)
                a = ((rng.take(r * n) * 2 - 1) * (1 / math.sqrt(n))).to(torch.float32).reshape(r, n)
                layer[t] = (a.to(device).requires_grad_(True), torch.zeros(d, r, device=device, requires_grad=True))
            self.pairs.append(layer)

    def named_parameters(self):
        """(engine name, tensor) in the engine's paramList order: "{layer}.{target}.A", then ".B"."""
        for l, layer in enumerate(self.pairs):
            for t in self.targets:
                a, b = layer[t]
                yield f"{l}.{t}.A", a
                yield f"{l}.{t}.B", b

    def peft_tensors(self):
        """{PEFT tensor name: tensor}, as containers/engine/peft.ts names them."""
        out = {}
        for l, layer in enumerate(self.pairs):
            for t in self.targets:
                a, b = layer[t]
                out[f"base_model.model.model.layers.{l}.{MODULE_PATH[t]}.lora_A.weight"] = a
                out[f"base_model.model.model.layers.{l}.{MODULE_PATH[t]}.lora_B.weight"] = b
        return out


class DropoutDraws:
    """The engine's LoRA dropout for one packed row: its own Rng, consumed linear by linear in forward order.

    forwardTrain draws T·in uniforms for each adapted linear (q, k, v, o, gate, up, down, layer by
    layer) and keeps an input where the draw is >= p. Here each linear takes its stretch of the stream
    at its offset, so the masks equal the engine's without generating them one by one.
    """

    def __init__(self, seed, length, device):
        self.seed, self.length, self.device, self.offset = seed, length, device, 0

    def keep(self, n, p):
        u = uniforms(self.seed, self.offset, self.length * n, self.device)
        self.offset += self.length * n
        return (u >= p).reshape(self.length, n)


def rope_tables(config, device):
    """cos/sin(pos · θ^(-2i/hd)), (max_seq_len, hd/2), computed in float64 as ops.ts does."""
    hd = config.head_dim
    inv = config.rope_theta ** (-2 * torch.arange(hd // 2, dtype=torch.float64) / hd)
    ang = torch.outer(torch.arange(config.max_seq_len, dtype=torch.float64), inv)
    return ang.cos().to(device, torch.float32), ang.sin().to(device, torch.float32)


class LlamaLora:
    """The frozen base plus one adapter; forward(tokens, starts) over a padded batch of packed rows."""

    def __init__(self, config, weights, lora, device):
        self.c, self.w, self.lora, self.device = config, weights, lora, device
        self.cos, self.sin = rope_tables(config, device)

    def rms(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c.norm_eps) * weight

    def rope(self, x, pos):
        """x (B, heads, T, hd) rotated by each token's position (rotate_half layout: pairs (i, i+hd/2))."""
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)  # (B, 1, T, hd/2)
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

    def linear(self, x, l, t, drops, use_lora):
        """x (B, T, in) → (B, T, out): the base projection, plus scale·B·(A·dropout(x)) when adapted."""
        y = x @ self.w[f"model.layers.{l}.{MODULE_PATH[t]}.weight"].T
        pair = self.lora.pairs[l].get(t) if use_lora else None
        if pair is None:
            return y
        xd, p = x, self.lora.dropout
        if drops is not None and p > 0:
            # inverted dropout on the LoRA input (PEFT's lora_dropout), each row from its own stream
            mask = torch.zeros(x.shape, dtype=torch.bool, device=self.device)
            for row, d in enumerate(drops):
                mask[row, :d.length] = d.keep(x.shape[-1], p)
            xd = torch.where(mask, x / (1 - p), torch.zeros((), device=self.device))
        a, b = pair
        return y + self.lora.scale * ((xd @ a.T) @ b.T)

    def forward(self, tokens, starts, drops=None, use_lora=True):
        """Logits (B, T, vocab) of tokens (B, T); starts (B, T): token t sees its row's starts[t]..t, at position t - starts[t]."""
        c, w = self.c, self.w
        B, T = tokens.shape
        hd, group = c.head_dim, c.n_heads // c.n_kv_heads
        if T > c.max_seq_len:
            raise ModelError(f"sequence of {T} exceeds the model's context {c.max_seq_len}")
        pos = torch.arange(T, device=self.device).unsqueeze(0) - starts
        cols = torch.arange(T, device=self.device)
        # block-diagonal causal mask: (B, 1, T query, T key)
        allowed = ((cols.view(1, 1, T) >= starts.unsqueeze(-1)) & (cols.view(1, 1, T) <= cols.view(1, T, 1))).unsqueeze(1)
        # the same mask as an additive bias, built once for every layer (adding it is cheaper than masking each layer, forward and backward)
        bias = None if FUSED_ATTENTION else torch.zeros(allowed.shape, device=self.device).masked_fill(~allowed, float("-inf"))
        x = w["model.embed_tokens.weight"][tokens]  # (B, T, dim)
        for l in range(c.n_layers):
            p = f"model.layers.{l}."
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = self.linear(h, l, "q_proj", drops, use_lora).view(B, T, c.n_heads, hd).transpose(1, 2)
            k = self.linear(h, l, "k_proj", drops, use_lora).view(B, T, c.n_kv_heads, hd).transpose(1, 2)
            v = self.linear(h, l, "v_proj", drops, use_lora).view(B, T, c.n_kv_heads, hd).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)  # query head h reads kv head h // group
            att = attend(q, k, v, allowed, bias)  # (B, heads, T, hd)
            x = x + self.linear(att.transpose(1, 2).reshape(B, T, c.n_heads * hd), l, "o_proj", drops, use_lora)
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            act = F.silu(self.linear(h, l, "gate_proj", drops, use_lora)) * self.linear(h, l, "up_proj", drops, use_lora)
            x = x + self.linear(act, l, "down_proj", drops, use_lora)
        return self.rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


# torch >= 2.0 has fused attention that does not keep the (B, heads, T, T) probabilities for the
# backward (flash or memory-efficient kernels; the mask rules out flash, the memory-efficient one
# takes it): the difference between fitting batch 8 x 1,024 on a 24 GB GPU or not. Debian's torch
# 1.13 lacks it and takes the plain path, which is also what MF_TORCH_ATTENTION=math forces.
FUSED_ATTENTION = hasattr(F, "scaled_dot_product_attention") and os.environ.get("MF_TORCH_ATTENTION") != "math"


def attend(q, k, v, allowed, bias):
    """softmax(q·kᵀ/√hd, masked to `allowed`)·v; q, k, v (B, heads, T, hd), allowed (B, 1, T, T) bool, bias: 0 where allowed, -inf elsewhere."""
    if FUSED_ATTENTION:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return torch.softmax(scores + bias, -1) @ v


def batch_rows(rows, device):
    """Packed rows ({tokens, targets, starts}) of different lengths as padded (B, T) tensors.

    Padding comes after each row's content: a pad token is its own one-token document (start = its
    own position) with no target, so it neither sees nor is seen by the real tokens.
    """
    T = max(len(r["tokens"]) for r in rows)
    tokens = torch.zeros(len(rows), T, dtype=torch.int64)
    targets = torch.full((len(rows), T), -1, dtype=torch.int64)
    starts = torch.arange(T, dtype=torch.int64).repeat(len(rows), 1)
    for i, r in enumerate(rows):
        n = len(r["tokens"])
        tokens[i, :n] = torch.tensor(r["tokens"])
        targets[i, :n] = torch.tensor(r["targets"])
        starts[i, :n] = torch.tensor(r["starts"]) if r.get("starts") is not None else 0
    return tokens.to(device), targets.to(device), starts.to(device)


def row_losses(logits, targets):
    """(sum of token losses, trained-token count) per row; targets of -1 take no loss."""
    nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-1, reduction="none")
    return nll.sum(-1), (targets >= 0).sum(-1)
