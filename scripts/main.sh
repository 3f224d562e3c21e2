#!/usr/bin/env bash
# Set-up, build and the main job: install dependencies, build with gcc, run nestmmu.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
# The main job: the default workload (kbuild) natively and under each
# hypervisor configuration, with the comparison table.
./build/nestmmu run "$@"
