"""The engine's seeded PRNG (containers/engine/rng.ts: mulberry32), bit for bit, in Python and torch.

mulberry32 is counter based: draw i (0-based) of a generator seeded with s is a hash of the 32-bit
state s + (i + 1) * 0x6D2B79F5. So any stretch of a stream can be computed at once, on any device,
which is how the LoRA initialisation, the epoch shuffles and the dropout masks here equal the
engine's exactly, without a Python loop per draw.
"""
import torch

GOLDEN = 0x6D2B79F5
M32 = 0xFFFFFFFF


def _imul(a, b):
    """Low 32 bits of a * b for uint32 values in int64 tensors, without overflowing int64."""
    lo = (a & 0xFFFF) * (b & 0xFFFF)
    hi = ((a >> 16) * (b & 0xFFFF) + (a & 0xFFFF) * (b >> 16)) & 0xFFFF
    return ((hi << 16) + lo) & M32


def uniforms(seed, start, count, device="cpu"):
    """Draws start .. start+count-1 of Rng(seed).next() as float64 in [0, 1)."""
    i = torch.arange(start + 1, start + count + 1, dtype=torch.int64, device=device)
    t = ((seed & M32) + _imul(i & M32, torch.full_like(i, GOLDEN))) & M32
    t = _imul(t ^ (t >> 15), t | 1)
    t = t ^ ((t + _imul(t ^ (t >> 7), t | 61)) & M32)
    return (t ^ (t >> 14)).to(torch.float64) / 4294967296.0


class Rng:
    """A sequential view of one stream, as rng.ts's `Rng` (its state is the draw count here)."""

    def __init__(self, seed):
        self.seed = seed & M32
        self.drawn = 0

    def next(self):
        u = uniforms(self.seed, self.drawn, 1)[0].item()
        self.drawn += 1
        return u

    def take(self, count, device="cpu"):
        """The next `count` draws as one float64 tensor."""
        u = uniforms(self.seed, self.drawn, count, device)
        self.drawn += count
        return u


def shuffled(n, seed):
    """The engine's epoch order: Fisher-Yates over 0..n-1 with Rng(seed), as train.ts's sequenceAt."""
    order = list(range(n))
    if n < 2:
        return order
    u = uniforms(seed, 0, n - 1).tolist()
    for k, i in enumerate(range(n - 1, 0, -1)):
        j = int(u[k] * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order
