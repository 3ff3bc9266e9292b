#!/usr/bin/env bash
# End-to-end checks of the retroinfer program: error paths exit non-zero with
# a clear message, and greedy chat generation answers a simple question.
# Usage: cli_test.sh RETROINFER_BINARY MODEL_PATH GOLDEN_DIR
set -uo pipefail
bin="$1"
model="$2"
golden="$3"
# shellcheck source=../../tests/shell_checks.sh
source "$(dirname "$0")/../../tests/shell_checks.sh"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

expect_failure "no subcommand" "subcommand"
expect_failure "unknown subcommand" "unknown" frobnicate
expect_failure "unknown option" "--nope" generate --nope -p hi
expect_failure "missing prompt" "needs a prompt" generate -m "$model"
expect_failure "missing model file" "cannot open" generate -m "$scratch/none.gguf" -p hi
printf 'GGUF\x03\x00\x00\x00' >"$scratch/truncated.gguf"
expect_failure "truncated model" "truncated" generate -m "$scratch/truncated.gguf" -p hi
head -c 3000 "$golden/tokenizer/spm_tiny.gguf" >"$scratch/cut.gguf"
expect_failure "cut model" "truncated" info -m "$scratch/cut.gguf"
expect_failure "bad temperature" "temperature" generate -m "$model" -p hi --temp -1
expect_failure "bad top-p" "top" generate -m "$model" -p hi --top-p 1.5
expect_failure "zero tokens" "max-tokens" generate -m "$model" -p hi -n 0
expect_failure "context too large" "context" generate -m "$model" -p hi -c 100000
expect_failure "unknown policy" "unknown attention policy" generate -m "$model" -p hi --attention magic
expect_failure "zero budget" "budget" generate -m "$model" -p hi --attention quest --budget 0
expect_failure "unknown prompt attention" "prompt-attention" generate -m "$model" -p hi --prompt-attention fp8
expect_failure "prompt arithmetic in a bench spec" "prefills once" bench -m "$model" --ctx 64 \
  --policies full,full:prompt=bf16
expect_failure "page size" "power of two" generate -m "$model" -p hi --attention quest --page-size 12
expect_failure "unknown template" "chat template" generate -m "$model" -p hi --chat --chat-template nope
head -c 20000 /dev/urandom | base64 >"$scratch/long.txt"
expect_failure "prompt longer than context" "context" generate -m "$model" -f "$scratch/long.txt" -c 256
expect_failure "missing prompt file" "cannot read" generate -m "$model" -f "$scratch/none.txt"

if [ -f "$model" ]; then
  answer="$("$bin" generate -m "$model" --chat -n 24 -t 2 -p "What is the capital of France?" 2>/dev/null)"
  if grep -q "Paris" <<<"$answer"; then passes=$((passes + 1)); else
    fail "greedy chat answer has no Paris: $answer"
  fi
  # BF16 prompt attention (exact where the CPU lacks AMX-BF16) keeps the answer.
  answer="$("$bin" generate -m "$model" --chat -n 24 -t 2 --prompt-attention bf16 \
              -p "What is the capital of France?" 2>/dev/null)"
  if grep -q "Paris" <<<"$answer"; then passes=$((passes + 1)); else
    fail "greedy chat answer with bf16 prompt attention has no Paris: $answer"
  fi
  for policy in "quest --budget 0.5" "retro --budget 0.5 --window 4" "streaming --budget 64" "tova --budget 64"; do
    # shellcheck disable=SC2086
    if output="$("$bin" generate -m "$model" -n 8 -t 2 -p "The history of Rome" --stats --attention $policy 2>&1)" &&
       grep -q "decode steps" <<<"$output"; then passes=$((passes + 1)); else
      fail "generate with --attention $policy: $output"
    fi
  done
  # The profile's top-level phases cover the measured time without counting
  # any of it twice, and the attention call contains its parts.
  if output="$("$bin" bench -m "$model" -t 2 --ctx 64 -r 1 --decode-tokens 2 --profile \
                 --json "$scratch/bench.json" 2>&1)" && grep -q "Where the time goes" <<<"$output" &&
     python3 - "$scratch/bench.json" <<'PY'
import json, sys
record = json.load(open(sys.argv[1]))[0]
for name, ms in record["profile_ms"].items():
    parts = sum(v for k, v in ms.items() if k.startswith("attention: "))
    total = sum(v for k, v in ms.items() if not k.startswith("attention: "))
    assert all(v >= 0 for k, v in ms.items() if k != "other"), (name, ms)
    assert ms["other"] > -0.02 * total, (name, ms)
    assert parts <= ms["attention (policy call)"] * 1.001 + 1e-6, (name, ms)
PY
  then passes=$((passes + 1)); else
    fail "bench --profile: $output"
  fi
  if "$bin" info -m "$model" | grep -q "architecture:    llama"; then passes=$((passes + 1)); else
    fail "info"
  fi
else
  echo "SKIP model-level checks: $model missing"
fi

finish
