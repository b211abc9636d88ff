"""Minimal safetensors reader/writer for seqgrad's reference fixtures and checkpoints.

Uses only json, struct and numpy (torch optional, for torch tensors); not the `safetensors`
package, so fixtures can be written on a machine without it. Same format as io/safetensors.h:
u64 little-endian header length N, N bytes of JSON (padded with spaces to a multiple of 8),
then the tensors' little-endian row-major bytes back to back in insertion order.

    import st
    st.save("x.safetensors", {"w": np.ones((2, 3)), "n": np.arange(4)}, metadata={"k": "v"})
    tensors, meta = st.load("x.safetensors", with_metadata=True)
"""
import json
import struct

import numpy as np

METADATA_KEY = "__metadata__"
ALIGN = 8
MAX_HEADER = 100 * 1000 * 1000

# header dtype name <-> little-endian numpy dtype (BF16 has no numpy type: see _bf16_*)
_NP_OF = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2", "F16": "<f2",
    "I32": "<i4", "U32": "<u4", "F32": "<f4", "F64": "<f8", "I64": "<i8", "U64": "<u8",
}


def _name_of(dt):
    """Header dtype name of a numpy dtype (any byte order), or None."""
    for name, code in _NP_OF.items():
        ref = np.dtype(code)
        if ref.kind == dt.kind and ref.itemsize == dt.itemsize:
            return name
    return None


def _to_bytes(value):
    """(dtype name, shape, little-endian bytes) of a numpy array or torch tensor."""
    if type(value).__module__.startswith("torch"):  # torch stays optional: imported only when given
        import torch
        t = value.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
            return "BF16", list(t.shape), raw
        value = t.numpy()
    a = np.asarray(value)
    name = _name_of(a.dtype)
    if name is None:
        raise TypeError(f"st.save: unsupported dtype {a.dtype}")
    a = a.astype(np.dtype(_NP_OF[name]), order="C", copy=False)  # keeps 0-d (ascontiguousarray would not)
    return name, list(a.shape), a.tobytes()


def save(path, tensors, metadata=None):
    """Write dict name -> numpy array / torch tensor (insertion order) to path."""
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("st.save: metadata must map str to str")
        header[METADATA_KEY] = dict(metadata)
    blobs, at = [], 0
    for name, value in tensors.items():
        if name == METADATA_KEY or not isinstance(name, str) or not name:
            raise ValueError(f"st.save: invalid tensor name {name!r}")
        dtype, shape, raw = _to_bytes(value)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")  # ensure_ascii: \uXXXX escapes
    text += b" " * (-len(text) % ALIGN)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def _bf16_to_f32(raw, shape):
    u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return u.view(np.float32).reshape(shape)


def load(path, with_metadata=False):
    """Read path; returns dict name -> numpy array (and the metadata dict if with_metadata).
    BF16 tensors come back as float32. Validates offsets like the C reader."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8 or n > MAX_HEADER:
        raise ValueError(f"{path}: header length {n} does not fit the file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    meta = header.pop(METADATA_KEY, {}) or {}
    out, spans = {}, []
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        item = 2 if dtype == "BF16" else np.dtype(_NP_OF[dtype]).itemsize
        if not (0 <= begin <= end <= len(data)) or end - begin != count * item:
            raise ValueError(f"{path}: tensor {name!r}: bad data_offsets {[begin, end]}")
        spans.append((begin, end, name))
        raw = data[begin:end]
        if dtype == "BF16":
            out[name] = _bf16_to_f32(raw, shape)
        else:
            out[name] = np.frombuffer(raw, dtype=_NP_OF[dtype]).reshape(shape).copy()
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            raise ValueError(f"{path}: tensor {name!r} does not start where the previous one ended")
        at = end
    if at != len(data):
        raise ValueError(f"{path}: {len(data) - at} trailing bytes in the data buffer")
    return (out, meta) if with_metadata else out
