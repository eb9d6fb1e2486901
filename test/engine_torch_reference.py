"""PyTorch reference of the engine's Llama + LoRA, used only by test/engine-torch-reference.test.ts.

Reads a model in HF layout (fp32 safetensors read by hand, no extra packages), a PEFT adapter,
and token/target ids; prints logits, the mean cross-entropy and the LoRA gradients as JSON.
Written independently of the TypeScript code: HF LlamaForCausalLM semantics (rotate_half RoPE).
"""
import json, struct, sys
import torch

BENCH = len(sys.argv) > 1 and sys.argv[1] == "bench"

def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=torch.float32).reshape(v["shape"])
        out[k] = t.double() if not BENCH else t.clone()
    return out

if BENCH:  # bench <model_dir> <adapter_dir> <steps> [batch] [seq] [warmup] [profile]: LoRA training tokens/s, one thread
    torch.set_num_threads(1)
    model_dir, adapter_dir, ids_json = sys.argv[2], sys.argv[3], json.dumps({"tokens": [1], "targets": [1]})
else:
    model_dir, adapter_dir, ids_json = sys.argv[1:4]
cfg = json.load(open(f"{model_dir}/config.json"))
W = read_st(f"{model_dir}/model.safetensors")
acfg = json.load(open(f"{adapter_dir}/adapter_config.json"))
A = {k: v.requires_grad_(True) for k, v in read_st(f"{adapter_dir}/adapter_model.safetensors").items()}
scale = acfg["lora_alpha"] / acfg["r"]
ids = json.loads(ids_json)
tokens, targets = torch.tensor(ids["tokens"]), torch.tensor(ids["targets"])

DT = torch.float32 if BENCH else torch.float64
D, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
hd, eps = D // H, cfg["rms_norm_eps"]

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

def lin(x, l, mod, path):
    y = x @ W[f"model.layers.{l}.{path}.{mod}.weight"].T
    ka = f"base_model.model.model.layers.{l}.{path}.{mod}.lora_A.weight"
    if ka in A:
        y = y + scale * (x @ A[ka].T) @ A[ka.replace("lora_A", "lora_B")].T
    return y

def run_batch(tokens, targets):
    """The model and its loss over a (B, T) batch at once, B sequences per op: (logits, mean loss)."""
    Bn, T = tokens.shape
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=DT) / hd))
    ang = torch.outer(torch.arange(T, dtype=DT), inv)
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    def rope(x):  # (B, heads, T, hd)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    x = W["model.embed_tokens.weight"][tokens]
    mask = torch.full((T, T), float("-inf"), dtype=DT).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        h = rms(x, W[f"model.layers.{l}.input_layernorm.weight"])
        q = rope(lin(h, l, "q_proj", "self_attn").view(Bn, T, H, hd).transpose(1, 2))
        k = rope(lin(h, l, "k_proj", "self_attn").view(Bn, T, KV, hd).transpose(1, 2)).repeat_interleave(H // KV, 1)
        v = lin(h, l, "v_proj", "self_attn").view(Bn, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + mask, -1) @ v
        x = x + lin(att.transpose(1, 2).reshape(Bn, T, D), l, "o_proj", "self_attn")
        h = rms(x, W[f"model.layers.{l}.post_attention_layernorm.weight"])
        x = x + lin(torch.nn.functional.silu(lin(h, l, "gate_proj", "mlp")) * lin(h, l, "up_proj", "mlp"), l, "down_proj", "mlp")
    x = rms(x, W["model.norm.weight"])
    logits = x @ W.get("lm_head.weight", W["model.embed_tokens.weight"]).T
    return logits, torch.nn.functional.cross_entropy(logits.reshape(Bn * T, -1), targets.reshape(-1), ignore_index=-1)

def run(tokens, targets):
    """One sequence (T,): run_batch over a batch of one, so both modes run the same code."""
    logits, loss = run_batch(tokens[None], targets[None])
    return logits[0], loss

def blas_libraries():
    """The BLAS shared objects this process has mapped: Debian's libblas.so.3 is reference BLAS or OpenBLAS by alternatives."""
    try:
        maps = open("/proc/self/maps").read().split("\n")
    except OSError:
        return []
    return sorted({line.split()[-1] for line in maps if "blas" in line.lower() and line.split()[-1].startswith("/")})

# what each aten op is, for the per-op breakdown (self CPU time, so nested ops count once)
OP_GROUPS = [
    ("matmul (mm, addmm, bmm for attention: forward and backward)", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")),
    ("softmax (fwd + bwd)", ("aten::_softmax", "aten::_softmax_backward_data")),
    ("cross-entropy (log_softmax, nll: fwd + bwd)", ("aten::_log_softmax", "aten::_log_softmax_backward_data", "aten::nll_loss", "aten::nll_loss_forward", "aten::nll_loss_backward")),
    ("SiLU (fwd + bwd)", ("aten::silu", "aten::silu_backward")),
    ("element-wise (mul, add, rsqrt, pow, mean, cat, neg, …)", ("aten::mul", "aten::add", "aten::add_", "aten::rsqrt", "aten::pow", "aten::mean", "aten::cat", "aten::neg", "aten::sub", "aten::div", "aten::sum", "aten::mul_", "aten::div_", "aten::where", "aten::masked_fill", "aten::fill_", "aten::zero_", "aten::copy_", "aten::clone", "aten::sqrt", "aten::lerp_", "aten::addcmul_", "aten::addcdiv_", "aten::_foreach_add_", "aten::exp")),
    ("views, indexing, layout (view, transpose, repeat_interleave, index, slice, …)", ("aten::view", "aten::transpose", "aten::t", "aten::reshape", "aten::_reshape_alias", "aten::repeat_interleave", "aten::index", "aten::index_select", "aten::slice", "aten::expand", "aten::as_strided", "aten::unsqueeze", "aten::select", "aten::embedding", "aten::contiguous", "aten::permute", "aten::_unsafe_view", "aten::squeeze", "aten::stack", "aten::narrow", "aten::repeat", "aten::flatten", "aten::empty", "aten::empty_like", "aten::empty_strided", "aten::zeros", "aten::zeros_like", "aten::ones_like", "aten::full", "aten::resize_", "aten::detach", "aten::alias", "aten::lift_fresh", "aten::to", "aten::_to_copy", "aten::result_type", "aten::arange", "aten::triu", "aten::outer", "aten::cos", "aten::sin", "aten::randint", "aten::random_")),
]

def op_group(name):
    if name.startswith("Optimizer.") or "adamw" in name.lower() or name.startswith("aten::_foreach"):
        return "optimizer (AdamW)"
    for g, names in OP_GROUPS:
        if name in names:
            return g
    return "autograd engine and other ops"

if BENCH:
    import os, time
    steps = int(sys.argv[4])
    B = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    T = int(sys.argv[6]) if len(sys.argv) > 6 else cfg["max_position_embeddings"]
    warmup = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    profile = "profile" in sys.argv[8:]
    batched = "batched" in sys.argv[8:]  # the B sequences as one (B, T) batch, instead of one at a time as the engine runs them
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(list(A.values()), lr=1e-3)
    def step():
        opt.zero_grad()
        if batched:
            seq = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=g)
            run_batch(seq[:, :-1], seq[:, 1:])[1].backward()
            opt.step()
            return
        for _ in range(B):
            seq = torch.randint(0, cfg["vocab_size"], (T + 1,), generator=g)
            _, loss = run(seq[:-1], seq[1:])
            (loss / B).backward()
        opt.step()
    for _ in range(warmup):  # first steps allocate and warm caches: left out, as the engine's warm-up is
        step()
    ops = None
    if profile:
        from torch.profiler import profile as tprofile, ProfilerActivity
        with tprofile(activities=[ProfilerActivity.CPU]) as prof:
            c0 = time.process_time()
            for _ in range(steps):
                step()
            cpu = time.process_time() - c0
        groups = {}
        events = prof.key_averages()
        total_self = sum(e.self_cpu_time_total for e in events) or 1
        for e in events:
            k = op_group(e.key)
            groups[k] = groups.get(k, 0) + e.self_cpu_time_total
        # shares of the profiler's self times, scaled to the process CPU time per step
        ops = sorted(({"op": k, "share": v / total_self, "ms_per_step": v / total_self * cpu * 1000 / steps} for k, v in groups.items()), key=lambda o: -o["ms_per_step"])
        seconds = cpu
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"tokens_per_sec": steps * B * T / seconds, "tokens_per_cpu_sec": steps * B * T / cpu, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_libraries(), "ops": ops}))
    sys.exit(0)
logits, loss = run(tokens, targets)
loss.backward()
print(json.dumps({"logits": logits.detach().flatten().tolist(), "loss": loss.item(), "grads": {k: v.grad.flatten().tolist() for k, v in A.items()}}))
