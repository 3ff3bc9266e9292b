#!/usr/bin/env python3
"""Writes tests/golden/archs/: tiny random GGUF models of each architecture the
engine supports, and the logits Hugging Face transformers (an implementation
independent of ours) computes for them from the same files.

Cases (each a <case>.gguf and a <case>.json):
  qwen2         2 layers, hidden 64, 4 heads / 2 kv heads, ffn 128, Q/K/V
                biases, untied output; F16 matrices.
  qwen3         2 layers, hidden 64, 4 heads / 2 kv heads of size 32 (so the
                query width 128 != hidden), per-head q/k RMSNorm, tied
                embeddings; F16 and Q8_0 matrices.
  llama_mixed   2 layers, hidden 256, 4 heads / 2 kv heads, ffn 256, untied
                output, matrices in F16, BF16, Q8_0, Q5_0, Q4_K, Q5_K and Q6_K,
                and a rope_freqs.weight tensor (llama 3.1 frequency factors).
  llama_linear  2 layers, hidden 64, rope.scaling.type = linear, factor 4;
                Q8_0, Q4_0, Q4_1 and Q5_1 matrices.
Plus two files the engine must reject with a clear error:
  unknown_arch.gguf    general.architecture = "mamba".
  missing_tensor.gguf  a 1-layer qwen2 model without blk.0.attn_v.bias.

How the weights are made: float weights are random normal, stored as F16/BF16
or quantized with gguf.quants.quantize (Q8_0, Q5_0, Q4_0, Q4_1, Q5_1 and BF16
are all it can quantize). It cannot quantize K-quants, so Q4_K, Q5_K and Q6_K
tensors are random but valid blocks: random bytes for the quants and
sub-block scales, with the f16 super-block scale (and min) chosen for a
target standard deviation. Both transformers (via gguf.dequantize) and the
engine read those blocks, so they are as good a test as quantized floats.

Facts about transformers' GGUF loader (5.24) that the script works around,
each passed to from_pretrained as a config override and recorded in the JSON:
  - qwen3: `qwen3.attention.key_length` is not mapped, so head_dim would be
    Qwen3Config's default 128; we pass head_dim=32.
  - llama: neither `rope_freqs.weight` nor `llama.rope.scaling.*` is read. We
    pass the equivalent rope_parameters: rope_type "llama3" (whose factors
    llama.cpp's converter stores as rope_freqs, computed here with the
    converter's formula) and rope_type "linear" respectively. The script
    checks that the resulting inverse frequencies are the GGUF ones and
    records, as a control, how far the logits move when the scaling is
    ignored (so the C++ test's tolerance is known to be discriminating).
  - llama Q/K rows are reverse-permuted by transformers at load (the GGUF
    stores them permuted for adjacent-pair RoPE); qwen2/qwen3 are not.

Run with the reference environment (see README.md):
  /tmp/refenv/bin/python tools/reference/make_arch_goldens.py
"""

import importlib.metadata
import json
import math
import os

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter, RopeScalingType, TokenType
from gguf.quants import dequantize, quantize
from transformers import AutoModelForCausalLM
from transformers.convert_slow_tokenizer import bytes_to_unicode

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "tests", "golden", "archs")

VOCAB = 256
SEQ_LEN = 40
POSITIONS = [0, 9, 21, 33, 39]
TOKEN_SEED = 1234

# Llama 3.1-style RoPE scaling, scaled down so the tiny model's head size
# (64) has frequencies in all three regimes (kept, divided, interpolated).
LLAMA3_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 256}
LINEAR_ROPE_FACTOR = 4.0

K_QUANT_LAYOUT = {  # byte offsets of the f16 scale d, the f16 min (or None), block size
    Q.Q4_K: (0, 2, 144),
    Q.Q5_K: (0, 2, 176),
    Q.Q6_K: (208, None, 210),
}


def exact_float(value):
    # The shortest decimal that reads back as the same float32.
    return float(np.format_float_positional(np.float32(value), unique=True))


class Weights:
    """Random tensors in a given storage type, reproducible from a seed."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def vector(self, size, mean=1.0, std=0.2):
        return (mean + std * self.rng.standard_normal(size)).astype(np.float32)

    def matrix(self, rows, cols, qtype, std):
        """(data, raw_dtype) for GGUFWriter.add_tensor of a rows x cols matrix."""
        if qtype in K_QUANT_LAYOUT:
            return self._random_k_blocks(rows, cols, qtype, std), qtype
        values = (std * self.rng.standard_normal((rows, cols))).astype(np.float32)
        if qtype == Q.F32:
            return values, None
        if qtype == Q.F16:
            return values.astype(np.float16), None
        return quantize(values, qtype), qtype

    def _random_k_blocks(self, rows, cols, qtype, std):
        d_offset, min_offset, block_bytes = K_QUANT_LAYOUT[qtype]
        assert cols % 256 == 0
        blocks = self.rng.integers(0, 256, size=(rows * cols // 256, block_bytes), dtype=np.uint8)
        if qtype == Q.Q6_K:
            # Sub-block scales (int8) in [-64, 63] rather than the full range.
            blocks[:, 192:208] = self.rng.integers(-64, 64, size=(blocks.shape[0], 16),
                                                   dtype=np.int8).view(np.uint8)

        def set_scales(d):
            blocks[:, d_offset:d_offset + 2] = d.astype(np.float16).reshape(-1, 1).view(np.uint8)
            if min_offset is not None:
                # min = d * mean quant value, so weights are centred on zero.
                mean_quant = 7.5 if qtype == Q.Q4_K else 15.5
                blocks[:, min_offset:min_offset + 2] = (
                    (d * mean_quant).astype(np.float16).reshape(-1, 1).view(np.uint8))

        # Measure the spread with unit scales, then scale every block to the
        # target (with a random per-block factor, so each block's d matters).
        set_scales(np.ones(blocks.shape[0], dtype=np.float32))
        unit_std = float(dequantize(blocks, qtype).std())
        set_scales(std / unit_std * self.rng.uniform(0.75, 1.25, blocks.shape[0]))
        return blocks.reshape(rows, -1)


def write_tokenizer(writer, pre, vocab):
    """A byte-level GPT-2 BPE vocabulary of the first `vocab` bytes, no merges."""
    byte_to_char = bytes_to_unicode()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list([byte_to_char[b] for b in range(vocab)])
    writer.add_token_types([TokenType.NORMAL] * vocab)
    writer.add_token_merges([])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)


def write_model(path, case, skip_tensor=None):
    arch = case["arch"]
    s = case["shape"]
    hidden, ffn, heads, kv_heads = s["hidden"], s["ffn"], s["heads"], s["kv_heads"]
    head_dim = s.get("head_dim", hidden // heads)
    writer = GGUFWriter(path, arch)
    writer.add_name(f"tiny random {case['name']}")
    writer.add_block_count(s["layers"])
    writer.add_context_length(1024)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(case["rms_eps"])
    writer.add_rope_freq_base(case["rope_theta"])
    writer.add_rope_dimension_count(head_dim)
    if "head_dim" in s:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if case.get("linear_rope"):
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(LINEAR_ROPE_FACTOR)
    vocab = s.get("vocab", VOCAB)
    write_tokenizer(writer, case["pre"], vocab)

    w = Weights(case["seed"])
    types = case["types"]  # per-tensor storage types, cycled over the layers

    def add(name, data_and_type):
        if name == skip_tensor:
            return
        data, raw_dtype = data_and_type
        writer.add_tensor(name, data, raw_dtype=raw_dtype)

    def add_matrix(name, key, rows, cols, layer=0):
        choices = types[key]
        qtype = choices[layer % len(choices)]
        add(name, w.matrix(rows, cols, qtype, std=1.0 / math.sqrt(cols)))

    add_matrix("token_embd.weight", "embedding", vocab, hidden)
    q_size, kv_size = heads * head_dim, kv_heads * head_dim
    for layer in range(s["layers"]):
        p = f"blk.{layer}."
        add(p + "attn_norm.weight", (w.vector(hidden), None))
        add_matrix(p + "attn_q.weight", "q", q_size, hidden, layer)
        add_matrix(p + "attn_k.weight", "k", kv_size, hidden, layer)
        add_matrix(p + "attn_v.weight", "v", kv_size, hidden, layer)
        add_matrix(p + "attn_output.weight", "o", hidden, q_size, layer)
        if arch == "qwen2":
            add(p + "attn_q.bias", (w.vector(q_size, mean=0.0, std=0.5), None))
            add(p + "attn_k.bias", (w.vector(kv_size, mean=0.0, std=0.5), None))
            add(p + "attn_v.bias", (w.vector(kv_size, mean=0.0, std=0.5), None))
        if arch == "qwen3":
            add(p + "attn_q_norm.weight", (w.vector(head_dim, std=0.4), None))
            add(p + "attn_k_norm.weight", (w.vector(head_dim, std=0.4), None))
        add(p + "ffn_norm.weight", (w.vector(hidden), None))
        add_matrix(p + "ffn_gate.weight", "gate", ffn, hidden, layer)
        add_matrix(p + "ffn_up.weight", "up", ffn, hidden, layer)
        add_matrix(p + "ffn_down.weight", "down", hidden, ffn, layer)
    add("output_norm.weight", (w.vector(hidden), None))
    if "output" in types:
        add_matrix("output.weight", "output", vocab, hidden)
    if case.get("llama3_rope"):
        add("rope_freqs.weight", (llama3_rope_factors(case["rope_theta"], head_dim), None))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def llama3_rope_factors(theta, head_dim):
    """rope_freqs as llama.cpp's convert_hf_to_gguf.py computes them for
    rope_type llama3: a factor per frequency that divides it."""
    p = LLAMA3_ROPE
    low_wavelen = p["original_max_position_embeddings"] / p["low_freq_factor"]
    high_wavelen = p["original_max_position_embeddings"] / p["high_freq_factor"]
    factors = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * theta ** (i / head_dim)
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(p["factor"])
        else:
            smooth = ((p["original_max_position_embeddings"] / wavelen - p["low_freq_factor"])
                      / (p["high_freq_factor"] - p["low_freq_factor"]))
            factors.append(1 / ((1 - smooth) / p["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


def config_overrides(case):
    """Config values transformers' GGUF loader does not read (see docstring)."""
    overrides = {}
    if "head_dim" in case["shape"]:
        overrides["head_dim"] = case["shape"]["head_dim"]
    if case.get("llama3_rope"):
        overrides["rope_parameters"] = {"rope_type": "llama3", "rope_theta": case["rope_theta"],
                                        **LLAMA3_ROPE}
    if case.get("linear_rope"):
        overrides["rope_parameters"] = {"rope_type": "linear", "rope_theta": case["rope_theta"],
                                        "factor": LINEAR_ROPE_FACTOR}
    return overrides


def load_reference(case, overrides):
    model = AutoModelForCausalLM.from_pretrained(
        OUT_DIR, gguf_file=case["name"] + ".gguf", dtype=torch.float32, **overrides)
    model.eval()
    return model


@torch.no_grad()
def all_logits(model, ids):
    return model(input_ids=torch.tensor([ids])).logits[0].float().numpy()


def check_rope(model, case):
    """The reference's inverse frequencies are the ones the GGUF describes."""
    s = case["shape"]
    head_dim = s.get("head_dim", s["hidden"] // s["heads"])
    expected = 1.0 / (case["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    if case.get("llama3_rope"):
        expected /= llama3_rope_factors(case["rope_theta"], head_dim)
    if case.get("linear_rope"):
        expected /= LINEAR_ROPE_FACTOR
    actual = model.model.rotary_emb.inv_freq.double().numpy()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.allclose(actual, expected, rtol=1e-5), (actual, expected)


def pairs_to_halves(t, num_heads):
    """Reorders each head's rows (2i, 2i+1) -> (i, i + d/2): halves ("NEOX")
    RoPE on the result equals adjacent-pair RoPE on `t`."""
    head_dim = t.shape[0] // num_heads
    return t.reshape(num_heads, head_dim // 2, 2, *t.shape[1:]).transpose(1, 2).reshape(t.shape)


@torch.no_grad()
def logits_with_adjacent_pair_rope(model, ids):
    """Logits of a halves-RoPE model (qwen) had it used adjacent-pair RoPE."""
    c = model.config
    for layer in model.model.layers:
        attention = layer.self_attn
        for projection, heads in ((attention.q_proj, c.num_attention_heads),
                                  (attention.k_proj, c.num_key_value_heads)):
            projection.weight.copy_(pairs_to_halves(projection.weight, heads))
            if projection.bias is not None:
                projection.bias.copy_(pairs_to_halves(projection.bias, heads))
        for norm in (getattr(attention, "q_norm", None), getattr(attention, "k_norm", None)):
            if norm is not None:
                norm.weight.copy_(pairs_to_halves(norm.weight, 1))
    return all_logits(model, ids)


def make_case(case, ids, versions):
    path = os.path.join(OUT_DIR, case["name"] + ".gguf")
    write_model(path, case)
    overrides = config_overrides(case)
    model = load_reference(case, overrides)
    config = model.config
    assert config.model_type == case["arch"], config.model_type
    assert config.tie_word_embeddings == ("output" not in case["types"])
    check_rope(model, case)
    logits = all_logits(model, ids)

    # Controls: how far the logits move under a plausible engine mistake, to
    # show the C++ test's tolerance is far below them.
    controls = {}
    if case["arch"] != "llama":
        wrong = logits_with_adjacent_pair_rope(load_reference(case, overrides), ids)
        controls["max_logit_change_with_adjacent_pair_rope"] = exact_float(
            np.abs(wrong[POSITIONS] - logits[POSITIONS]).max())
    if "rope_parameters" in overrides:
        # The same file without the scaling override: how far ignoring it moves logits.
        plain = {k: v for k, v in overrides.items() if k != "rope_parameters"}
        unscaled = all_logits(load_reference(case, plain), ids)
        controls["max_logit_change_without_rope_scaling"] = exact_float(
            np.abs(unscaled[POSITIONS] - logits[POSITIONS]).max())

    positions = []
    for pos in POSITIONS:
        row = logits[pos]
        order = np.argsort(-row, kind="stable")
        positions.append({
            "pos": pos,
            "top1": int(order[0]),
            "top1_margin": exact_float(row[order[0]] - row[order[1]]),
            "logits": [exact_float(v) for v in row],
        })
    record = {
        "case": case["name"],
        "architecture": case["arch"],
        "gguf": case["name"] + ".gguf",
        "config": {
            "num_layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size,
            "ffn_size": config.intermediate_size,
            "num_heads": config.num_attention_heads,
            "num_kv_heads": config.num_key_value_heads,
            "head_dim": getattr(config, "head_dim", None)
                        or config.hidden_size // config.num_attention_heads,
            "vocab_size": config.vocab_size,
            "rms_norm_eps": exact_float(config.rms_norm_eps),
            "rope_parameters": config.rope_parameters,
            "tie_word_embeddings": config.tie_word_embeddings,
        },
        "reference_overrides": overrides,
        "tensor_types": {k: [t.name for t in v] for k, v in case["types"].items()},
        "controls": controls,
        "generated_with": versions,
        "logit_std": exact_float(logits.std()),
        "token_ids": ids,
        "positions": positions,
    }
    with open(os.path.join(OUT_DIR, case["name"] + ".json"), "w") as f:
        json.dump(record, f, separators=(",", ":"))
        f.write("\n")
    margins = [p["top1_margin"] for p in positions]
    print(f"{case['name']:13s} {os.path.getsize(path):7d} bytes  logit std {logits.std():.3f}  "
          f"min top-1 margin {min(margins):.4f}  controls {controls}")


CASES = [
    {
        "name": "qwen2", "arch": "qwen2", "pre": "qwen2", "seed": 2,
        "shape": {"layers": 2, "hidden": 64, "ffn": 128, "heads": 4, "kv_heads": 2},
        "rms_eps": 1e-6, "rope_theta": 10000.0,
        "types": {"embedding": [Q.Q8_0], "q": [Q.F16, Q.Q8_0], "k": [Q.F16, Q.BF16],
                  "v": [Q.F16], "o": [Q.Q8_0, Q.F16], "gate": [Q.Q8_0], "up": [Q.Q8_0],
                  "down": [Q.Q8_0], "output": [Q.F16]},
    },
    {
        "name": "qwen3", "arch": "qwen3", "pre": "qwen2", "seed": 3,
        "shape": {"layers": 2, "hidden": 64, "ffn": 128, "heads": 4, "kv_heads": 2,
                  "head_dim": 32},
        "rms_eps": 1e-6, "rope_theta": 10000.0,
        "types": {"embedding": [Q.F16], "q": [Q.F16, Q.Q8_0], "k": [Q.Q8_0, Q.F16],
                  "v": [Q.F16, Q.Q8_0], "o": [Q.Q8_0], "gate": [Q.Q8_0], "up": [Q.Q8_0],
                  "down": [Q.Q8_0]},
    },
    {
        "name": "llama_mixed", "arch": "llama", "pre": "default", "seed": 4,
        "shape": {"layers": 2, "hidden": 256, "ffn": 128, "heads": 4, "kv_heads": 2},
        "rms_eps": 1e-5, "rope_theta": 10000.0, "llama3_rope": True,
        "types": {"embedding": [Q.Q4_K], "q": [Q.Q4_K, Q.Q5_K], "k": [Q.Q8_0, Q.Q6_K],
                  "v": [Q.Q5_0, Q.Q4_K], "o": [Q.Q6_K, Q.Q4_K], "gate": [Q.Q5_K, Q.Q6_K],
                  "up": [Q.Q4_K, Q.Q5_0], "down": [Q.Q8_0, Q.Q5_0], "output": [Q.Q4_K]},
    },
    {
        "name": "llama_linear", "arch": "llama", "pre": "default", "seed": 5,
        "shape": {"layers": 2, "hidden": 64, "ffn": 96, "heads": 4, "kv_heads": 2},
        "rms_eps": 1e-5, "rope_theta": 10000.0, "linear_rope": True,
        "types": {"embedding": [Q.Q8_0], "q": [Q.Q4_0, Q.Q8_0], "k": [Q.Q8_0, Q.Q4_1],
                  "v": [Q.Q5_1], "o": [Q.Q8_0], "gate": [Q.Q4_1], "up": [Q.Q4_0],
                  "down": [Q.Q5_1, Q.Q4_0], "output": [Q.Q4_1]},
    },
]


def write_error_cases():
    shape = {"layers": 1, "hidden": 32, "ffn": 32, "heads": 2, "kv_heads": 1, "vocab": 32}
    base = dict(CASES[0], shape=shape, types={key: [Q.Q4_0] for key in CASES[0]["types"]})
    write_model(os.path.join(OUT_DIR, "missing_tensor.gguf"), dict(base, name="missing_tensor"),
                skip_tensor="blk.0.attn_v.bias")
    write_model(os.path.join(OUT_DIR, "unknown_arch.gguf"),
                dict(base, name="unknown_arch", arch="mamba"))


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    versions = {p: importlib.metadata.version(p) for p in ("torch", "transformers", "gguf", "numpy")}
    ids = [int(t) for t in np.random.default_rng(TOKEN_SEED).integers(0, VOCAB, SEQ_LEN)]
    for case in CASES:
        make_case(case, ids, versions)
    write_error_cases()


if __name__ == "__main__":
    main()
