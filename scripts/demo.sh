#!/usr/bin/env bash
# Fresh machine to trained LSTM: installs dependencies, builds, runs the adding-problem demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" --target adding_demo
./build/adding_demo "$@"
