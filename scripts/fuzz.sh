#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 and runs each for N seconds (default 30) over its
# committed corpus in tests/fuzz/corpus/<target>/. New inputs go to a scratch dir, not the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
cmake --preset fuzz >/dev/null
# Only the fuzz targets (and the router library they link): the rest of the tree is not needed.
targets=$(ls tests/fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
cmake --build --preset fuzz --target $targets
for fuzzer in build/fuzz/tests/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  scratch=$(mktemp -d)
  echo "fuzz.sh: $name for ${seconds}s (corpus $corpus)"
  "$fuzzer" -max_total_time="$seconds" -print_final_stats=0 "$scratch" "$corpus" 2>&1 | tail -3
  rm -rf "$scratch"
done
