#!/usr/bin/env bash
# Smoke run of `retroinfer eval` (what CI runs, well under two minutes on two
# cores): each evaluation on a small slice of the real data must exit 0, print
# its table and write its JSON records and SVG charts; two identical runs must
# give identical numbers; bad options must fail with a clear message.
# Usage: eval_smoke_test.sh RETROINFER_BINARY MODEL_PATH DATA_DIR
set -uo pipefail
bin="$1"
model="$2"
data="$3"
# shellcheck source=../../tests/shell_checks.sh
source "$(dirname "$0")/../../tests/shell_checks.sh"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

if [ ! -f "$model" ] || [ ! -d "$data" ]; then
  echo "SKIP: model ($model) or evaluation data ($data) missing"
  exit 0
fi

# run_eval NAME EXPECTED_RECORDS ARGS...: runs an eval writing NAME.jsonl and
# NAME.svg and checks the exit status, the table and both files.
run_eval() {
  local name="$1" records="$2"
  shift 2
  local output
  if ! output="$(timeout 120 "$bin" eval "$@" -m "$model" -t 2 --data-dir "$data" \
      --json "$scratch/$name.jsonl" --svg "$scratch/$name.svg" 2>"$scratch/$name.err")"; then
    fail "$name: exit status $?: $(cat "$scratch/$name.err")"
    return
  fi
  if ! grep -q '^| full |' <<<"$output"; then fail "$name: no table row for full: $output"; return; fi
  if [ "$(wc -l <"$scratch/$name.jsonl")" -ne "$records" ]; then
    fail "$name: expected $records JSON records in $scratch/$name.jsonl"
    return
  fi
  if ! head -c 5 "$scratch/$name.svg" | grep -q '<svg' || ! tail -n 1 "$scratch/$name.svg" | grep -q '</svg>'; then
    fail "$name: $scratch/$name.svg is not an SVG document"
    return
  fi
  passes=$((passes + 1))
}

book="$data/books/alice_in_wonderland.txt"
run_eval ppl 2 ppl --text "$book" --prompt-tokens 128 --eval-tokens 64 --bucket 32 \
  --policies full,retro:b=0.25:w=2
run_eval fidelity 3 fidelity --text "$book" --prompt-tokens 64 --eval-tokens 32 --bucket 16 \
  --policies quest:b=0.25,retro:b=0.25:w=4
run_eval longgenbench 3 longgenbench --task gsm8k --questions 1 --max-new-tokens 32 --prime-answer \
  --max-samples 1

# Determinism: the same run gives the same perplexities.
cp "$scratch/ppl.jsonl" "$scratch/first.jsonl"
run_eval ppl 2 ppl --text "$book" --prompt-tokens 128 --eval-tokens 64 --bucket 32 \
  --policies full,retro:b=0.25:w=2
numbers() { grep -o '"perplexity":[0-9.e+-]*' "$1"; }
if [ "$(numbers "$scratch/first.jsonl")" = "$(numbers "$scratch/ppl.jsonl")" ] &&
   [ -n "$(numbers "$scratch/ppl.jsonl")" ]; then passes=$((passes + 1)); else
  fail "two identical ppl runs differ: $(numbers "$scratch/first.jsonl") vs $(numbers "$scratch/ppl.jsonl")"
fi

expect_failure "no eval kind" "subcommand" eval
expect_failure "bad policy" "unknown attention policy" eval ppl -m "$model" --text "$book" --policies full,magic
expect_failure "single-policy option" "--attention" eval ppl -m "$model" --text "$book" --attention quest
expect_failure "text too short" "tokens" eval ppl -m "$model" --text "$data/longgenbench/gsm8k_8shot_prompt.txt" --prompt-tokens 4000 --eval-tokens 100
expect_failure "missing text" "cannot read" eval ppl -m "$model" --text "$scratch/none.txt"
expect_failure "unknown task" "task" eval longgenbench -m "$model" --task csqa
expect_failure "missing data" "mmlu" eval longgenbench -m "$model" --task mmlu --data-dir "$scratch"

finish
