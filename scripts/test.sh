#!/usr/bin/env bash
# Set-up, build and every test: gcc (-Werror) build + ctest, clang build with
# AddressSanitizer and UndefinedBehaviorSanitizer + ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
echo "== gcc release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure -j "$jobs"
echo "== clang build with ASan+UBSan and tests"
cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DNESTMMU_SANITIZE=ON >/dev/null
cmake --build build-san
ctest --test-dir build-san --output-on-failure -j "$jobs"
echo "== fuzzing the walker and the scenario parser (bounded: 60 s), then a hostile L1 against"
echo "   nested TDP and KPOP (bounded: 45 s each)"
mkdir -p build-san/fuzz-corpus
if ! ./build-san/tests/fuzz/fuzz_walk -max_total_time=60 -max_len=8192 \
     build-san/fuzz-corpus tests/fuzz/corpus > build-san/fuzz.log 2>&1; then
  tail -n 60 build-san/fuzz.log
  echo "fuzz_walk: failure (log above)"
  exit 1
fi
grep -E "DONE" build-san/fuzz.log | tail -n 1
for target in fuzz_ntdp fuzz_kpop; do
  mkdir -p "build-san/$target-corpus"
  if ! "./build-san/tests/fuzz/$target" -max_total_time=45 -max_len=1024 -seed=1 \
       "build-san/$target-corpus" > "build-san/$target.log" 2>&1; then
    tail -n 60 "build-san/$target.log"
    echo "$target: failure (log above)"
    exit 1
  fi
  echo "$target: $(grep -E "DONE" "build-san/$target.log" | tail -n 1)"
done
