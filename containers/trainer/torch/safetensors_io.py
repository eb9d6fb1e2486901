"""safetensors read/write with the standard library only (struct + json), into torch tensors.

The format: an 8-byte little-endian header length, a JSON header
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}, then one flat byte buffer.
Spec: https://github.com/huggingface/safetensors#format. The `safetensors` package is not used so
the trainer needs nothing beyond torch.
"""
import json
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
WIDTH = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}
MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A file that is not valid safetensors (or holds a dtype we do not read)."""


def read_safetensors(path):
    """(tensors: {name: fp32 tensor, row-major, shaped}, metadata: {str: str}) of one file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        raise SafetensorsError(f"{path}: header length {n} exceeds the file size")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise SafetensorsError(f"{path}: header is not valid JSON") from e
    data = memoryview(raw)[8 + n:]
    tensors, metadata = {}, {}
    for name, e in header.items():
        if name == "__metadata__":
            metadata = dict(e or {})
            continue
        dtype = e.get("dtype")
        if dtype not in DTYPES:
            raise SafetensorsError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        begin, end = e["data_offsets"]
        count = 1
        for s in e["shape"]:
            count *= s
        if not (0 <= begin <= end <= len(data)) or end - begin != count * WIDTH[dtype]:
            raise SafetensorsError(f"{path}: tensor {name} has data_offsets that do not match its shape")
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[dtype]) if count else torch.zeros(0, dtype=DTYPES[dtype])
        # a copy in torch's own (64-byte aligned) memory, not the bytearray's: BLAS kernels ran measurably slower on the latter
        tensors[name] = (t.clone() if t.dtype == torch.float32 else t.to(torch.float32)).reshape(e["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Write fp32 tensors, sorted by name and 8-byte aligned as the TS writer does, atomically (tmp + rename)."""
    names = sorted(tensors)
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in names:
        t = tensors[name].detach().to("cpu", torch.float32).contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text.encode())) % 8) % 8)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text.encode())))
        f.write(text.encode())
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
