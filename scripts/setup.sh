#!/usr/bin/env bash
# Fresh machine to first answer: installs the dependencies, fetches the
# default model, builds, and generates with it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/fetch_model.sh"
bash "$root/scripts/build.sh"
"$root/build/retroinfer" generate --chat -n 64 -p "What is the capital of France?"
