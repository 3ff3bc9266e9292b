#!/usr/bin/env python3
"""Writes tests/golden/model/logits.json: reference next-token logits of the
default model, computed by Hugging Face transformers (an implementation
independent of ours) from the same GGUF file.

For each prompt it records the exact prompt token ids (so the C++ test can feed
identical ids even if our tokenizer differed), and at selected positions the
top-1 token, the TOP_N largest logits (ids and float32 values, written exactly)
and summary statistics of the full-vocabulary logits. Two prompts also get a
greedy continuation.

Run with the reference environment (see README.md):
  /tmp/refenv/bin/python tools/reference/make_logits_golden.py
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL_DIR = os.path.join(REPO_ROOT, "models")
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BOOK_PATH = "/work/shared/data/books/frankenstein.txt"
OUTPUT = os.path.join(REPO_ROOT, "tests", "golden", "model", "logits.json")

TOP_N = 64
GREEDY_TOKENS = 16
# Frankenstein excerpt: characters [BOOK_CHAR_START, BOOK_CHAR_START +
# BOOK_CHAR_COUNT) of the body that follows the "*** START OF" line, with CRLF
# line endings normalized to LF.
BOOK_CHAR_START = 2000
BOOK_CHAR_COUNT = 10000
BOOK_MIN_TOKENS = 2000

SHORT_SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs into the forest."
CODE_SNIPPET = (
    "def fibonacci(n):\n"
    "    \"\"\"Returns the n-th Fibonacci number.\"\"\"\n"
    "    a, b = 0, 1\n"
    "    for _ in range(n):\n"
    "        a, b = b, a + b\n"
    "    return a\n"
    "\n"
    "print(fibonacci(10))\n"
)
CHAT_QUESTION = "What is the capital of France?"


def exact_float(value):
    # repr of the float32 value widened to double: exact and round-trips.
    return float(np.float32(value))


def book_excerpt():
    with open(BOOK_PATH, "r", encoding="utf-8-sig") as f:
        text = f.read().replace("\r\n", "\n")
    marker = text.index("*** START OF")
    body = text[text.index("\n", marker) + 1:]
    excerpt = body[BOOK_CHAR_START:BOOK_CHAR_START + BOOK_CHAR_COUNT]
    source = {
        "file": os.path.basename(BOOK_PATH),
        "recipe": "decode UTF-8 (strip BOM), replace CRLF by LF, take the text after "
                  "the line containing '*** START OF', then characters [char_start, char_end)",
        "char_start": BOOK_CHAR_START,
        "char_end": BOOK_CHAR_START + len(excerpt),
        "excerpt_sha256": hashlib.sha256(excerpt.encode("utf-8")).hexdigest(),
    }
    return excerpt, source


def spread_positions(n, count):
    """`count` positions spread over [0, n), always including 0, 1 and n-1."""
    picks = {0, min(1, n - 1), n - 1}
    picks.update(int(round(i * (n - 1) / (count - 1))) for i in range(count))
    return sorted(picks)


@torch.no_grad()
def logits_at(model, ids, positions):
    """Logits [len(positions), vocab] of the next token after each position.
    Only the requested rows go through lm_head, so long prompts stay cheap."""
    hidden = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    return model.lm_head(hidden[positions]).float().numpy()


def position_record(pos, row):
    order = np.lexsort((np.arange(row.size), -row))  # logit desc, id asc
    top = order[:TOP_N]
    return {
        "pos": int(pos),
        "top1": int(top[0]),
        "top_ids": [int(i) for i in top],
        "top_logits": [exact_float(row[i]) for i in top],
        "max_logit": exact_float(row.max()),
        "min_logit": exact_float(row.min()),
        "mean_logit": exact_float(row.astype(np.float64).mean()),
        "std_logit": exact_float(row.astype(np.float64).std()),
    }


@torch.no_grad()
def greedy(model, ids, steps):
    """Greedy continuation without stopping at EOS (recomputes the whole
    sequence each step: prompts here are short). Also returns each step's
    top-1 minus top-2 logit so a consumer knows how robust each choice is."""
    ids = list(ids)
    tokens, margins = [], []
    for _ in range(steps):
        row = logits_at(model, ids, [len(ids) - 1])[0]
        best2 = np.lexsort((np.arange(row.size), -row))[:2]
        tokens.append(int(best2[0]))
        margins.append(exact_float(row[best2[0]] - row[best2[1]]))
        ids.append(int(best2[0]))
    return tokens, margins


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=OUTPUT)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE, dtype=torch.float32)
    model.eval()
    config = model.config

    def encode(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": CHAT_QUESTION}], add_generation_prompt=True, tokenize=False)
    excerpt, book_source = book_excerpt()

    prompts = [
        {"name": "chat_capital_of_france", "text": chat, "greedy": True,
         "note": "apply_chat_template([user: question], add_generation_prompt=True)"},
        {"name": "short_sentence", "text": SHORT_SENTENCE, "greedy": True},
        {"name": "code_snippet", "text": CODE_SNIPPET, "greedy": False},
        {"name": "frankenstein_long", "text": excerpt, "greedy": False, "source": book_source},
    ]

    records = []
    for prompt in prompts:
        ids = encode(prompt["text"])
        long_prompt = "source" in prompt
        if long_prompt and len(ids) < BOOK_MIN_TOKENS:
            sys.exit(f"book excerpt has only {len(ids)} tokens; raise BOOK_CHAR_COUNT")
        positions = spread_positions(len(ids), 10 if long_prompt else 5)
        rows = logits_at(model, ids, positions)
        record = {"name": prompt["name"]}
        if long_prompt:
            record["source"] = prompt["source"]  # the book text itself stays out of the repo
        else:
            record["text"] = prompt["text"]
        if "note" in prompt:
            record["note"] = prompt["note"]
        record["token_ids"] = [int(i) for i in ids]
        record["positions"] = [position_record(p, row) for p, row in zip(positions, rows)]
        if prompt["greedy"]:
            tokens, margins = greedy(model, ids, GREEDY_TOKENS)
            record["greedy_continuation"] = tokens
            record["greedy_margins"] = margins
            record["greedy_text"] = tokenizer.decode(tokens)
        records.append(record)
        print(f"{prompt['name']}: {len(ids)} tokens, positions {positions}", file=sys.stderr)

    golden = {
        "generator": "tools/reference/make_logits_golden.py",
        "reference": "Hugging Face transformers LlamaForCausalLM, float32 on CPU, weights "
                     "dequantized from the GGUF by the gguf package",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "gguf": importlib.metadata.version("gguf"), "numpy": np.__version__},
        "model_file": MODEL_FILE,
        "config": {
            "n_layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size,
            "intermediate_size": config.intermediate_size,
            "n_heads": config.num_attention_heads,
            "n_kv_heads": config.num_key_value_heads,
            "head_dim": config.head_dim,
            "vocab_size": config.vocab_size,
            "context_length": config.max_position_embeddings,
            "rope_theta": float(config.rope_parameters["rope_theta"]),
            "rope_type": config.rope_parameters["rope_type"],
            "rms_norm_eps": float(config.rms_norm_eps),
            "tie_word_embeddings": bool(config.tie_word_embeddings),
            "hidden_act": config.hidden_act,
        },
        "top_n": TOP_N,
        "ordering": "top_ids sorted by logit descending, ties by id ascending; logits are "
                    "float32 values written as exact decimals",
        "prompts": records,
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
