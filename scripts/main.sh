#!/usr/bin/env bash
# Set-up, build and the main job: install dependencies, build with gcc, run nestmmu.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
./build/nestmmu walk examples/4level-ept.scn
