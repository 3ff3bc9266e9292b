#!/usr/bin/env python3
"""Writes a few tiny valid GGUF files with the `gguf` Python package's
GGUFWriter, as the seed corpus of fuzz/gguf_fuzzer.cc.

Usage: make_seed_corpus.py OUT_DIR
"""
import os
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter


def write(path: Path, arch: str, build) -> None:
    writer = GGUFWriter(str(path), arch)
    build(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def tiny_llama(w: GGUFWriter) -> None:
    """A model-shaped file: llama keys, a tokenizer and one tensor per format."""
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(32)
    w.add_head_count(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "a", "b", "ab"])
    w.add_token_types([3, 1, 1, 1])
    w.add_token_merges(["a b"])
    w.add_add_bos_token(True)
    rng = np.random.default_rng(0)
    w.add_tensor("output_norm.weight", rng.standard_normal(32).astype(np.float32))
    w.add_tensor("token_embd.weight", rng.standard_normal((4, 32)).astype(np.float16))
    # Quantized tensors as raw blocks: 34 bytes per Q8_0 block, 20 per Q4_1.
    w.add_tensor("blk.0.attn_q.weight", rng.integers(0, 256, (2, 34), dtype=np.uint8),
                 raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_k.weight", rng.integers(0, 256, (1, 20), dtype=np.uint8),
                 raw_dtype=GGMLQuantizationType.Q4_1)


def every_value_type(w: GGUFWriter) -> None:
    """Metadata only: every scalar type, arrays and a nested array."""
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_uint64("t.u64", 2**40)
    w.add_int64("t.i64", -(2**40))
    w.add_float32("t.f32", 0.5)
    w.add_float64("t.f64", 2.5)
    w.add_bool("t.bool", False)
    w.add_string("t.str", "hello")
    w.add_array("t.floats", [0.25, 0.5])
    w.add_key_value("t.nested", [[1, 2], [3]], GGUFValueType.ARRAY)


def aligned_64(w: GGUFWriter) -> None:
    """A custom data alignment with two small tensors."""
    w.add_custom_alignment(64)
    w.add_tensor("a", np.arange(3, dtype=np.float32))
    w.add_tensor("b", np.arange(6, dtype=np.float32).reshape(2, 3))


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write(out / "tiny_llama.gguf", "llama", tiny_llama)
    write(out / "every_value_type.gguf", "test", every_value_type)
    write(out / "aligned_64.gguf", "test", aligned_64)
    # The same small file as format version 2 (GGUFWriter writes version 3).
    v2 = bytearray((out / "aligned_64.gguf").read_bytes())
    v2[4:8] = (2).to_bytes(4, "little")
    (out / "aligned_64_v2.gguf").write_bytes(bytes(v2))


if __name__ == "__main__":
    main()
