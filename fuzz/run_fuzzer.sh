#!/usr/bin/env bash
# Builds the GGUF fuzzer with clang (libFuzzer + ASan + UBSan) in build-fuzz/
# and runs it for SECONDS (default 600) on one core.
#
#   fuzz/run_fuzzer.sh [SECONDS] [--update-corpus]
#
# Inputs: the seed files from fuzz/make_seed_corpus.py and the regression
# corpus tests/golden/gguf/corpus/; new inputs go to build-fuzz/gguf_corpus/.
# With --update-corpus, the inputs that add coverage are then merged
# (-merge=1) into tests/golden/gguf/corpus/, which gguf_test replays.
# Crashes are written as build-fuzz/crash-*; replay one with
#   build-fuzz/fuzz/gguf_fuzzer build-fuzz/crash-...
set -euo pipefail

seconds=${1:-600}
update_corpus=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DRETROINFER_FUZZ=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target gguf_fuzzer -j2

python3 "$root/fuzz/make_seed_corpus.py" "$build/gguf_seeds"
mkdir -p "$build/gguf_corpus" "$root/tests/golden/gguf/corpus"

cd "$build"
./fuzz/gguf_fuzzer "$build/gguf_corpus" "$build/gguf_seeds" "$root/tests/golden/gguf/corpus" \
  -dict="$root/fuzz/gguf.dict" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -max_total_time="$seconds" -print_final_stats=1

if [[ $update_corpus == --update-corpus ]]; then
  ./fuzz/gguf_fuzzer -merge=1 "$root/tests/golden/gguf/corpus" "$build/gguf_corpus" "$build/gguf_seeds" \
    -max_len=4096
fi
