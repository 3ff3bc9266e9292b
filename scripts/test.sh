#!/usr/bin/env bash
# Builds and runs the whole test suite (installs what is missing first; the
# model-level tests need the default model).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install_deps.sh" --tests
bash "$root/scripts/fetch_model.sh"
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j"$(nproc)" "$@"
