#!/usr/bin/env bash
# Builds seqgrad and runs its whole test suite (Check suites registered with CTest).
# Usage: scripts/test.sh [build-dir] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bdir="${1:-build}"
shift || true
cmake -S . -B "$bdir" -DSEQGRAD_WERROR=ON "$@" >/dev/null
cmake --build "$bdir" -j"$(nproc)"
ctest --test-dir "$bdir" --output-on-failure -j"$(nproc)"
