#!/usr/bin/env python3
"""Writes the dequantization goldens of tests/golden/kernels/ with the `gguf`
Python package's reference dequantizer (gguf.quants.dequantize, numpy float32).

1. dequant_<TYPE>.bin for 11 types: `count` raw blocks (seeded random bytes
   with random finite f16 scales, plus special blocks: all zero bytes, all
   quant bits set) followed by the float32 little-endian output of those
   blocks. count = file size / (type_size + 4 * block_size).
   For F32 / F16 / BF16 a "block" is one element.
2. model_tensors.txt: for every tensor of the default model one line
   `name type_id data_offset n_elements dims sha256`, where data_offset is the
   absolute file offset of the tensor data, dims are comma-separated in GGUF
   order, and sha256 is the hash of the dequantized float32 little-endian
   bytes.

Usage: make_dequant_golden.py [model.gguf] [out_dir]
"""
import hashlib
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT = os.path.join(ROOT, "tests", "golden", "kernels")

# Byte offsets of the f16 scale fields (d, m, dmin) inside a block.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
RANDOM_BLOCKS = {T.F32: 256, T.F16: 256, T.BF16: 256}  # others: 40


def random_finite_f16(rng, n):
    """Random half bit patterns over the whole finite range (subnormals too)."""
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32)
    h = np.where((h & 0x7C00) == 0x7C00, h & ~np.uint32(0x4000), h)
    return h.astype(np.uint16)


def make_blocks(qtype, rng):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n = RANDOM_BLOCKS.get(qtype, 40)
    blocks = rng.integers(0, 256, size=(n, type_size), dtype=np.uint8)
    if qtype == T.F16:
        blocks = random_finite_f16(rng, n).view(np.uint8).reshape(n, 2)
    for off in F16_FIELDS.get(qtype, []):
        blocks[:, off:off + 2] = random_finite_f16(rng, n).view(np.uint8).reshape(n, 2)
    # Special blocks: all zero bytes; all quant bits set with the largest
    # finite scales; all quant bits set with scale 1 and min -1.
    zeros = np.zeros(type_size, np.uint8)
    largest = np.full(type_size, 0xFF, np.uint8)
    unit = np.full(type_size, 0xFF, np.uint8)
    if qtype == T.F16:
        largest[:] = np.array([65504.0], np.float16).view(np.uint8)
    for off in F16_FIELDS.get(qtype, []):
        largest[off:off + 2] = np.array([65504.0], np.float16).view(np.uint8)
    for off, value in zip(F16_FIELDS.get(qtype, []), (1.0, -1.0)):
        unit[off:off + 2] = np.array([value], np.float16).view(np.uint8)
    specials = [zeros, largest, unit]
    return np.concatenate([blocks, np.stack(specials)], axis=0)


def write_block_goldens(out_dir, rng):
    types = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]
    for qtype in types:
        blocks = make_blocks(qtype, rng)
        values = np.asarray(dequantize(blocks.reshape(-1), qtype), dtype=np.float32)
        block_size, _ = GGML_QUANT_SIZES[qtype]
        assert values.size == blocks.shape[0] * block_size
        path = os.path.join(out_dir, f"dequant_{qtype.name}.bin")
        with open(path, "wb") as f:
            f.write(blocks.tobytes())
            f.write(values.astype("<f4").tobytes())
        print(f"{path}: {blocks.shape[0]} blocks")


def write_model_hashes(model, out_dir):
    reader = GGUFReader(model)
    lines = []
    for t in reader.tensors:
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        assert values.size == t.n_elements
        digest = hashlib.sha256(values.astype("<f4").tobytes()).hexdigest()
        dims = ",".join(str(int(d)) for d in t.shape)
        lines.append(f"{t.name} {int(t.tensor_type)} {int(t.data_offset)} {int(t.n_elements)} {dims} {digest}\n")
    path = os.path.join(out_dir, "model_tensors.txt")
    with open(path, "w") as f:
        f.write(f"# {os.path.basename(model)} {os.path.getsize(model)} bytes; "
                "name type_id data_offset n_elements dims sha256(float32 LE)\n")
        f.writelines(lines)
    print(f"{path}: {len(lines)} tensors")


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    out_dir = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)
    write_block_goldens(out_dir, np.random.default_rng(20240601))
    write_model_hashes(model, out_dir)


if __name__ == "__main__":
    main()
