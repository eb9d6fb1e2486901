"""The trainer's PyTorch backend: one LoRA training run over the JSON-lines protocol.

    python3 containers/trainer/torch/train.py  < config line (+ control lines)  > event lines

stdin, line 1: the run's config (packed rows, LoRA and training settings; containers/trainer/README.md
documents every field). Later lines: {"type": "stop"}; end of input means stop as well, so an
orphaned process does not train on after its driver died. stdout: one JSON event per line (ready,
resumed, progress, eval, checkpoint, early-stop, stopped, result, error) and nothing else; logs and
warnings go to stderr.

The recipe is the engine's (containers/engine/train.ts), so on the same rows and seed the loss
curve is the same up to fp32 rounding: the same LoRA init and dropout draws (mulberry.py), the same
seeded shuffle per epoch, per-row mean loss averaged over batch x accumulation, global-norm
clipping, the engine's AdamW and warmup + cosine schedule, the same evaluation cadence and early
stopping, and checkpoints in the engine's own format, so a run resumes on either backend.
"""
import json
import math
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources (a read-only image, a clean working tree)
EVENTS = sys.stdout
sys.stdout = sys.stderr  # anything printed by accident must not corrupt the event stream
PROTOCOL = 1


def emit(event):
    """One event line; non-finite floats become null (JSON has no NaN)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    EVENTS.write(json.dumps(clean(event), separators=(",", ":")) + "\n")
    EVENTS.flush()


class InputError(ValueError):
    """The config cannot be trained as given (a retry will not help)."""


class StopWatch:
    """Set by a {"type": "stop"} line or the end of stdin; read between steps."""

    def __init__(self, stream):
        self.requested = threading.Event()
        threading.Thread(target=self._watch, args=(stream,), daemon=True).start()

    def _watch(self, stream):
        for line in stream:
            if line.strip() and json.loads(line).get("type") == "stop":
                break
        self.requested.set()


def lr_at(step, total, lr, warmup, min_ratio):
    """optim.ts lrAt: linear warmup to lr, then cosine decay to lr·min_ratio (step is 0-based)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def fmt_float(x):
    """A float as JavaScript's String() writes it, so the engine's Number() reads it back."""
    return "Infinity" if x == math.inf else "-Infinity" if x == -math.inf else "NaN" if x != x else repr(x)


def parse_config(raw):
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        raise InputError(f"the config line is not JSON: {e}") from e
    if not isinstance(cfg, dict) or cfg.get("protocol") != PROTOCOL:
        raise InputError(f"expected a config object with protocol {PROTOCOL}")
    for k in ("modelDir", "outputDir", "lora", "train", "eval", "steps", "seed", "training"):
        if k not in cfg:
            raise InputError(f"config lacks {k}")
    if not cfg["train"]:
        raise InputError("the training set is empty")
    t = cfg["training"]
    for k in ("batchSize", "gradAccum"):
        if not isinstance(t.get(k), int) or t[k] < 1:
            raise InputError(f"training.{k} must be a positive integer, got {t.get(k)}")
    if not isinstance(cfg["steps"], int) or cfg["steps"] < 1:
        raise InputError(f"steps must be a positive integer, got {cfg['steps']}")
    if not t.get("lr", 0) > 0:
        raise InputError(f"training.lr must be > 0, got {t.get('lr')}")
    return cfg


def pick_device(want):
    import torch
    if want == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for, but torch sees no CUDA GPU")
    return torch.device("cuda" if want in ("cuda", "auto") and torch.cuda.is_available() else "cpu")


def run(cfg, stop):
    import torch
    from model import FUSED_ATTENTION, DropoutDraws, Lora, LlamaLora, batch_rows, load_weights, row_losses
    from mulberry import shuffled
    from safetensors_io import read_safetensors, write_safetensors

    torch.manual_seed(0)  # nothing here draws from torch's generator; fixed anyway
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    device = pick_device(cfg.get("device", "auto"))
    t, lc = cfg["training"], cfg["lora"]
    config, weights = load_weights(cfg["modelDir"], device)
    seed, steps = int(cfg["seed"]), int(cfg["steps"])
    for r in cfg["train"]:
        if len(r["tokens"]) > config.max_seq_len:
            raise InputError(f"sequence of {len(r['tokens'])} exceeds the model's context {config.max_seq_len}")
        if max(r["tokens"]) >= config.vocab_size or min(r["tokens"]) < 0:
            raise InputError(f"a token is outside the vocabulary of {config.vocab_size}")
    lora = Lora(config, int(lc["r"]), float(lc["alpha"]), float(lc["dropout"]), list(lc["targets"]), seed, device)
    model = LlamaLora(config, weights, lora, device)
    named = list(lora.named_parameters())
    params = [p for _, p in named]
    m_state = [torch.zeros_like(p) for p in params]
    v_state = [torch.zeros_like(p) for p in params]
    beta1, beta2, eps, wd = t.get("beta1", 0.9), t.get("beta2", 0.999), t.get("eps", 1e-8), t.get("weightDecay", 0.0)
    decay = ["norm" not in name for name, _ in named]
    batch, accum = t["batchSize"], t["gradAccum"]
    per_step = batch * accum
    # rows per forward: a GPU wants the whole micro-batch at once; on the CPU one row at a time keeps
    # the (heads, T, T) attention in cache, which measured faster than batching (bench:train-gpu)
    chunk = int(cfg.get("rowsPerForward") or (batch if device.type == "cuda" else 1))
    eval_every, patience, ckpt_every = t.get("evalEvery", 25), t.get("earlyStopPatience", 0), t.get("checkpointEvery", 0)
    eval_set = cfg["eval"][: t["evalSequences"]] if t.get("evalSequences", 0) > 0 else cfg["eval"]
    emit({"type": "ready", "protocol": PROTOCOL, "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
          "parameters": sum(p.numel() for p in params), "deviceName": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
          "blas": blas_libraries(), "attention": "fused" if FUSED_ATTENTION else "math"})

    step, best_loss, bad_evals, adam_t = 0, math.inf, 0, 0
    ckpt = os.path.join(cfg["checkpointDir"], "checkpoint.safetensors") if cfg.get("checkpointDir") else None
    if ckpt and os.path.exists(ckpt):
        tensors, meta = read_safetensors(ckpt)
        with torch.no_grad():
            for i, (name, p) in enumerate(named):
                for store, key in ((p, f"param.{name}"), (m_state[i], f"adam_m.{name}"), (v_state[i], f"adam_v.{name}")):
                    if key not in tensors or tensors[key].numel() != p.numel():
                        raise InputError(f"checkpoint {ckpt} does not match this run ({key})")
                    store.copy_(tensors[key].reshape(p.shape).to(device))
        step, best_loss, bad_evals, adam_t = int(meta["step"]), float(meta["best_loss"]), int(meta["bad_evals"]), int(meta["adam_t"])
        emit({"type": "resumed", "step": step})

    def evaluate(use_lora):
        """Token-weighted mean loss over the held-out rows, no dropout."""
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(eval_set), batch):
                tokens, targets, starts = batch_rows(eval_set[i:i + batch], device)
                s, n = row_losses(model.forward(tokens, starts, None, use_lora), targets)
                total += s.double().sum().item()
                count += int(n.sum().item())
        return total / count if count else math.nan

    base_eval = evaluate(False) if eval_set else None
    history, evals, best = [], [], None

    def run_eval():
        loss = evaluate(True)
        evals.append({"step": step, "loss": loss})
        emit({"type": "eval", "step": step, "loss": loss, "perplexity": math.exp(loss) if loss < 700 else math.inf, "baseLoss": base_eval,
              "basePerplexity": None if base_eval is None else math.exp(base_eval)})
        return loss

    def save_checkpoint():
        tensors = {}
        for i, (name, p) in enumerate(named):
            tensors[f"param.{name}"], tensors[f"adam_m.{name}"], tensors[f"adam_v.{name}"] = p.reshape(-1), m_state[i].reshape(-1), v_state[i].reshape(-1)
        os.makedirs(os.path.dirname(ckpt), exist_ok=True)
        write_safetensors(ckpt, tensors, {"step": str(step), "best_loss": fmt_float(best_loss), "bad_evals": str(bad_evals), "adam_t": str(adam_t)})

    # the rows of global sample k: a seeded shuffle per epoch, as train.ts's sequenceAt
    orders = {}
    def row_at(k):
        epoch = k // len(cfg["train"])
        if epoch not in orders:
            orders.clear()
            orders[epoch] = shuffled(len(cfg["train"]), seed * 7919 + epoch)
        return cfg["train"][orders[epoch][k % len(cfg["train"])]]

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0, start_step, tokens_seen, last_loss, stopped_early = time.perf_counter(), step, 0, math.nan, False
    while step < steps:
        for p in params:
            p.grad = None
        loss_sum = 0.0
        # the step's batch x accumulation rows, `chunk` rows per forward: the gradient is a sum over
        # rows, so how they are grouped changes nothing but speed and memory
        for first in range(0, per_step, chunk):
            ks = range(first, min(first + chunk, per_step))
            rows = [row_at(step * per_step + k) for k in ks]
            tokens, targets, starts = batch_rows(rows, device)
            # dropout masks depend only on (seed, step, k), as in the engine
            drops = [DropoutDraws((seed * 1_000_003 + step * 131 + k) % 2**32, len(r["tokens"]), device) for k, r in zip(ks, rows)]
            s, n = row_losses(model.forward(tokens, starts, drops), targets)
            row_mean = torch.where(n > 0, s / n.clamp(min=1), torch.zeros_like(s))
            (row_mean.sum() / per_step).backward()
            loss_sum += row_mean.double().sum().item()
            tokens_seen += sum(len(r["tokens"]) for r in rows)
        with torch.no_grad():
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            grad_norm = math.sqrt(sum(g.double().pow(2).sum().item() for g in grads))
            clip = t.get("clipNorm", 1.0)
            if clip > 0 and grad_norm > clip:
                for g in grads:
                    g.mul_(clip / (grad_norm + 1e-6))
            lr = lr_at(step, steps, t["lr"], t.get("warmupSteps", 10), t.get("minLrRatio", 0.1))
            # optim.ts AdamW: p -= lr·(m̂/(√v̂ + eps) + wd·p), decoupled decay on matrices only
            adam_t += 1
            c1, c2 = 1 - beta1 ** adam_t, 1 - beta2 ** adam_t
            for i, p in enumerate(params):
                g, m, v = grads[i], m_state[i], v_state[i]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                update = (m / c1) / ((v / c2).sqrt() + eps)
                if decay[i] and wd:
                    update = update + wd * p
                p.sub_(lr * update)
        step += 1
        last_loss = loss_sum / per_step
        history.append({"step": step, "loss": last_loss})
        elapsed = time.perf_counter() - t0
        rate = (step - start_step) / max(elapsed, 1e-9)
        emit({"type": "progress", "step": step, "totalSteps": steps, "loss": last_loss, "lr": lr, "gradNorm": grad_norm, "tokens": tokens_seen,
              "tokensPerSec": tokens_seen / max(elapsed, 1e-9), "etaSec": (steps - step) / rate, "elapsedSec": elapsed})

        if eval_every > 0 and step % eval_every == 0 and eval_set and step < steps:
            loss = run_eval()
            if loss < best_loss:
                best_loss, bad_evals = loss, 0
                if patience > 0:
                    best = [p.detach().clone() for p in params]
            elif patience > 0:
                bad_evals += 1
                if bad_evals >= patience:
                    if best is not None:  # none after a resume: the engine keeps the last weights then too
                        with torch.no_grad():
                            for p, b in zip(params, best):
                                p.copy_(b)
                    emit({"type": "early-stop", "step": step, "bestLoss": best_loss})
                    stopped_early = True
                    break
        checkpoint_step = bool(ckpt) and ckpt_every > 0 and step % ckpt_every == 0
        if checkpoint_step:
            save_checkpoint()
            emit({"type": "checkpoint", "step": step, "path": ckpt})
        # stop between steps, and on a checkpoint step only once its checkpoint is written (as train-worker.ts)
        if stop.requested.is_set():
            emit({"type": "stopped", "step": step})
            return

    eval_loss = (best_loss if stopped_early else run_eval()) if eval_set else None
    write_adapter(cfg, lora, write_safetensors)
    emit({"type": "result", "steps": step, "trainLoss": last_loss, "evalLoss": eval_loss, "baseEvalLoss": base_eval, "stoppedEarly": stopped_early,
          "history": history, "evals": evals, "adapterDir": cfg["outputDir"], "device": str(device), "tokens": tokens_seen,
          "seconds": time.perf_counter() - t0, "peakMemoryBytes": peak_memory(device)})


def write_adapter(cfg, lora, write_safetensors):
    """adapter_model.safetensors + adapter_config.json in PEFT layout, as containers/engine/peft.ts writes them."""
    os.makedirs(cfg["outputDir"], exist_ok=True)
    write_safetensors(os.path.join(cfg["outputDir"], "adapter_model.safetensors"), lora.peft_tensors(), {"format": "pt"})
    peft = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": cfg.get("baseModelName", ""), "r": lora.r,
        "lora_alpha": cfg["lora"]["alpha"], "lora_dropout": cfg["lora"]["dropout"], "target_modules": list(cfg["lora"]["targets"]),
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "modules_to_save": None,
        "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {}, "use_rslora": False,
        "use_dora": False, "revision": None,
    }
    with open(os.path.join(cfg["outputDir"], "adapter_config.json"), "w") as f:
        f.write(json.dumps(peft, indent=2) + "\n")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "cpu")
    except OSError:
        return "cpu"


def blas_libraries():
    """The BLAS shared objects mapped into this process (Debian's libblas.so.3 is the reference BLAS or OpenBLAS): benchmarks name it."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({l.split()[-1] for l in f if "blas" in l.lower() and l.split()[-1].startswith("/")})
    except OSError:
        return []


def peak_memory(device):
    """Peak GPU memory allocated by tensors on CUDA; the process's peak RSS on the CPU (bytes)."""
    import torch
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    line = sys.stdin.readline()
    try:
        cfg = parse_config(line)
        stop = StopWatch(sys.stdin)
        run(cfg, stop)
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        emit({"type": "error", "name": "EnvironmentError", "message": f"PyTorch is not installed for {sys.executable}", "retryable": False})
        sys.exit(2)
    except InputError as e:
        emit({"type": "error", "name": "InputError", "message": str(e), "retryable": False})
        sys.exit(3)
    except Exception as e:  # classified by type: the model's refusals are the job's fault, the rest may pass on a retry
        from model import ModelError
        from safetensors_io import SafetensorsError
        job = isinstance(e, (ModelError, SafetensorsError))
        emit({"type": "error", "name": type(e).__name__, "message": str(e), "retryable": not job})
        import traceback
        traceback.print_exc()
        sys.exit(3 if job else 1)


if __name__ == "__main__":
    main()
