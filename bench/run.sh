#!/bin/sh
# Runs the benchmark (latchkey-server vs node-oidc-provider, same generator) and writes bench/REPORT.md.
#   bench/run.sh [--build-dir DIR] [--duration S] [--concurrency 1,8,32,128] [--scenarios ...] [--no-peer] [--out FILE]
# Build first, in Release: cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench
set -eu
exec python3 "$(dirname "$0")/run.py" "$@"
