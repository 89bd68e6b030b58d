#!/usr/bin/env bash
# Installs dependencies, builds the ASan+UBSan preset and runs every test (unit, interop,
# integration), then runs each fuzz target briefly over its committed corpus.
# Usage: ./scripts/test.sh [ctest args...]   (FOGMESH_PRESET=debug to use another preset)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${FOGMESH_PRESET:-asan}

./scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset" --parallel 2 "$@"

if [ "${FOGMESH_SKIP_FUZZ:-0}" != 1 ] && [ -d tests/fuzz ] && [ -f tests/fuzz/CMakeLists.txt ]; then
  ./scripts/fuzz.sh 30
fi
echo "test.sh: all tests passed"
