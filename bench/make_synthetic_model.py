#!/usr/bin/env python3
"""Writes a random-weight llama-architecture GGUF shaped like Llama-3.2-1B,
for speed benchmarks of the retroinfer engine (the text it generates is
garbage; only the shapes, types and byte counts are realistic).

Shape: hidden 2048, 16 layers, 32 heads / 8 KV heads (head dim 64), FFN 8192,
rope theta 500000, rms eps 1e-5, context 8192. The tokenizer (every
`tokenizer.*` key, vocab 49152) is copied from the SmolLM2-135M GGUF so the
engine can tokenize prompts; the 49152 x 2048 token embedding is tied (no
output.weight, which the engine accepts: weights.cc falls back to the
embedding).

Types (default, like llama.cpp's Q4_K_M):
  token_embd                    Q6_K
  attn_v, ffn_down              Q6_K where use_more_bits(i, n) holds
                                (i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2),
                                else Q4_K
  attn_q/k/output, ffn_gate/up  Q4_K
  norms                         F32, values ~ N(1, 0.05)
`--all TYPE` writes every 2-D weight (embedding included) in TYPE instead.

How weights are made (the ideas of tools/reference/make_arch_goldens.py,
written again here so that torch/transformers are not needed):
  - K-quants (Q4_K, Q5_K, Q6_K): random bytes for quants and sub-block
    scales, with the f16 super-block scale chosen for a target standard
    deviation (1/sqrt(cols), times a random per-block factor 0.75..1.25).
    For Q4_K/Q5_K the 6-bit sub-block mins are set equal to the sub-block
    scales and dmin = d * mean quant value, so every sub-block is centred on
    zero (no per-sub-block offsets). The unit standard deviation is measured
    once per type with gguf.quants.dequantize on a sample of blocks.
  - Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, BF16 (and F16): random normal floats with
    std 1/sqrt(cols) quantized by gguf.quants.quantize, a chunk of rows at a
    time.
Tensors are streamed to the file one at a time (low memory).

Needs the `gguf` package (tools/reference/requirements.txt) and the default
model (scripts/setup.sh) for its tokenizer.

Usage:
  python3 bench/make_synthetic_model.py              # models/synthetic/llama1b_q4km.gguf
  python3 bench/make_synthetic_model.py --all Q8_0   # models/synthetic/llama1b_q8_0.gguf
  python3 bench/make_synthetic_model.py --all Q4_K -o x.gguf
  build/retroinfer bench -m models/synthetic/llama1b_q4km.gguf -t 2 --ctx 256
"""

import argparse
import math
import os
import sys
import time
from collections import Counter

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_SOURCE = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT_DIR = os.path.join(REPO, "models", "synthetic")

SHAPE = dict(hidden=2048, layers=16, heads=32, kv_heads=8, head_dim=64, ffn=8192,
             rope_theta=500000.0, rms_eps=1e-5, context=8192)

# f16 scale d offset, f16 min offset (or None), mean quant value.
K_LAYOUT = {
    Q.Q4_K: (0, 2, 7.5),
    Q.Q5_K: (0, 2, 15.5),
    Q.Q6_K: (208, None, None),
}
FLOAT_QUANT = {Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.BF16, Q.F16}
ALL_CHOICES = {t.name: t for t in list(K_LAYOUT) + sorted(FLOAT_QUANT, key=lambda t: t.value)}

FILE_TYPE = {
    Q.Q4_0: LlamaFileType.MOSTLY_Q4_0, Q.Q4_1: LlamaFileType.MOSTLY_Q4_1,
    Q.Q5_0: LlamaFileType.MOSTLY_Q5_0, Q.Q5_1: LlamaFileType.MOSTLY_Q5_1,
    Q.Q8_0: LlamaFileType.MOSTLY_Q8_0, Q.Q4_K: LlamaFileType.MOSTLY_Q4_K_S,
    Q.Q5_K: LlamaFileType.MOSTLY_Q5_K_S, Q.Q6_K: LlamaFileType.MOSTLY_Q6_K,
    Q.F16: LlamaFileType.MOSTLY_F16, Q.BF16: LlamaFileType.MOSTLY_BF16,
}


def use_more_bits(i_layer, n_layers):
    # llama.cpp src/llama-quant.cpp
    return (i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8
            or (i_layer - n_layers // 8) % 3 == 2)


def plan_tensors(vocab, all_type):
    """[(name, rows, cols, qtype)] in file order; rows == 0 for vectors."""
    s = SHAPE
    h, n = s["hidden"], s["layers"]
    q_size, kv_size = s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]

    def pick(default):
        return all_type if all_type is not None else default

    plan = [("token_embd.weight", vocab, h, pick(Q.Q6_K))]
    for i in range(n):
        p = f"blk.{i}."
        more = Q.Q6_K if use_more_bits(i, n) else Q.Q4_K
        plan += [
            (p + "attn_norm.weight", 0, h, Q.F32),
            (p + "attn_q.weight", q_size, h, pick(Q.Q4_K)),
            (p + "attn_k.weight", kv_size, h, pick(Q.Q4_K)),
            (p + "attn_v.weight", kv_size, h, pick(more)),
            (p + "attn_output.weight", h, q_size, pick(Q.Q4_K)),
            (p + "ffn_norm.weight", 0, h, Q.F32),
            (p + "ffn_gate.weight", s["ffn"], h, pick(Q.Q4_K)),
            (p + "ffn_up.weight", s["ffn"], h, pick(Q.Q4_K)),
            (p + "ffn_down.weight", h, s["ffn"], pick(more)),
        ]
    plan.append(("output_norm.weight", 0, h, Q.F32))
    return plan


class RandomWeights:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self._unit_std = {}

    def vector(self, size):
        return (1.0 + 0.05 * self.rng.standard_normal(size)).astype(np.float32)

    def matrix(self, rows, cols, qtype, std):
        if qtype in K_LAYOUT:
            return self._k_blocks(rows, cols, qtype, std)
        out = []
        chunk = max(1, (1 << 24) // cols)  # ~64 MB of float32 at a time
        for r in range(0, rows, chunk):
            values = self.rng.standard_normal((min(chunk, rows - r), cols), dtype=np.float32)
            values *= std
            out.append(quantize(values, qtype))
        data = np.concatenate(out, axis=0)
        return data.view(np.uint8).reshape(rows, -1)

    def _raw_k_blocks(self, n_blocks, qtype):
        _, block_bytes = GGML_QUANT_SIZES[qtype]
        blocks = np.frombuffer(self.rng.bytes(n_blocks * block_bytes), dtype=np.uint8)
        blocks = blocks.reshape(n_blocks, block_bytes).copy()
        if qtype == Q.Q6_K:
            # int8 sub-block scales in [-64, 63] rather than the full range.
            sc = blocks[:, 192:208].view(np.int8)
            sc >>= 1
        else:
            # 12 bytes of packed 6-bit (scale, min) pairs at offset 4: make
            # each min equal to its scale, so dmin = d * mean centres the
            # sub-block. j < 4: sc = b[j] & 63, m = b[j+4] & 63, high bits
            # (for j + 4) in b[j] >> 6 and b[j+4] >> 6; j >= 4: sc low nibble
            # of b[j+4], m high nibble of b[j+4].
            blocks[:, 8:12] = blocks[:, 4:8]
            low = blocks[:, 12:16] & 0x0F
            blocks[:, 12:16] = low | (low << 4)
        return blocks

    def _set_scales(self, blocks, qtype, d):
        d_off, m_off, mean_q = K_LAYOUT[qtype]
        blocks[:, d_off:d_off + 2] = d.astype(np.float16).reshape(-1, 1).view(np.uint8)
        if m_off is not None:
            blocks[:, m_off:m_off + 2] = (
                (d * mean_q).astype(np.float16).reshape(-1, 1).view(np.uint8))

    def unit_std(self, qtype):
        if qtype not in self._unit_std:
            sample = self._raw_k_blocks(8192, qtype)
            self._set_scales(sample, qtype, np.ones(len(sample), dtype=np.float32))
            values = dequantize(sample, qtype)
            self._unit_std[qtype] = float(values.std())
            assert abs(values.mean()) < 0.05 * self._unit_std[qtype], (qtype, values.mean())
        return self._unit_std[qtype]

    def _k_blocks(self, rows, cols, qtype, std):
        assert cols % 256 == 0
        n_blocks = rows * cols // 256
        blocks = self._raw_k_blocks(n_blocks, qtype)
        d = (std / self.unit_std(qtype)) * self.rng.uniform(0.75, 1.25, n_blocks)
        self._set_scales(blocks, qtype, d.astype(np.float32))
        return blocks.reshape(rows, -1)


def copy_tokenizer(writer, source):
    reader = GGUFReader(source)
    vocab = None
    copied = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub_type = field.types[1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type)
        copied.append(key)
        if key == "tokenizer.ggml.tokens":
            vocab = len(field.data)
    arch = reader.fields["general.architecture"].contents()
    vocab_key = f"{arch}.vocab_size"
    if vocab_key in reader.fields:
        assert reader.fields[vocab_key].contents() == vocab
    return vocab, copied


def default_output(all_type):
    if all_type is None:
        return os.path.join(OUT_DIR, "llama1b_q4km.gguf")
    return os.path.join(OUT_DIR, f"llama1b_{all_type.name.lower()}.gguf")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", choices=sorted(ALL_CHOICES), default=None,
                    help="store every 2-D weight in this type (default: a Q4_K_M-like mix)")
    ap.add_argument("-o", "--output", default=None, help="output path (default: under models/synthetic)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tokenizer-from", default=TOKENIZER_SOURCE)
    args = ap.parse_args()
    all_type = ALL_CHOICES[args.all] if args.all else None
    out = args.output or default_output(all_type)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    t0 = time.time()

    s = SHAPE
    writer = GGUFWriter(out, "llama")
    mix = all_type.name if all_type else "Q4_K_M-like mix"
    writer.add_name(f"synthetic random llama 1B ({mix})")
    writer.add_description("Random weights with the shape of Llama-3.2-1B, for speed benchmarks only")
    writer.add_block_count(s["layers"])
    writer.add_context_length(s["context"])
    writer.add_embedding_length(s["hidden"])
    writer.add_feed_forward_length(s["ffn"])
    writer.add_head_count(s["heads"])
    writer.add_head_count_kv(s["kv_heads"])
    writer.add_layer_norm_rms_eps(s["rms_eps"])
    writer.add_rope_freq_base(s["rope_theta"])
    writer.add_rope_dimension_count(s["head_dim"])
    writer.add_key_length(s["head_dim"])
    writer.add_value_length(s["head_dim"])
    writer.add_file_type(FILE_TYPE[all_type] if all_type else LlamaFileType.MOSTLY_Q4_K_M)
    writer.add_quantization_version(2)
    vocab, copied = copy_tokenizer(writer, args.tokenizer_from)
    writer.add_vocab_size(vocab)

    plan = plan_tensors(vocab, all_type)
    for name, rows, cols, qtype in plan:
        if rows == 0:
            writer.add_tensor_info(name, (cols,), np.dtype(np.float32), cols * 4)
        else:
            per_block, block_bytes = GGML_QUANT_SIZES[qtype]
            assert cols % per_block == 0, (name, cols, qtype)
            byte_shape = (rows, cols // per_block * block_bytes)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8),
                                   byte_shape[0] * byte_shape[1], raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    w = RandomWeights(args.seed)
    for name, rows, cols, qtype in plan:
        if rows == 0:
            data = w.vector(cols)
        else:
            data = w.matrix(rows, cols, qtype, std=1.0 / math.sqrt(cols))
        writer.write_tensor_data(data)
    writer.close()

    counts = Counter(q.name for _, _, _, q in plan)
    print(f"wrote {out}: {os.path.getsize(out) / 1e6:.1f} MB, {len(plan)} tensors "
          f"{dict(sorted(counts.items()))}, vocab {vocab}, {len(copied)} tokenizer keys, "
          f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
