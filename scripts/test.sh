#!/usr/bin/env bash
# The one test command (README): installs what the tests need, builds Release in build/, and runs
# every test under ctest: unit (GoogleTest), integration (the real server over loopback, Python),
# e2e (headless Chromium and openid-client, Node). Exits non-zero when anything fails.
#   LATCHKEY_SKIP_DEPS=1   skip the package step (machine already set up)
#   LATCHKEY_BUILD_DIR=dir build somewhere else than build/
#   LATCHKEY_CMAKE_ARGS="..." extra configure arguments, e.g. -DLATCHKEY_SANITIZE=ON
#   extra arguments go to ctest, e.g. `bash scripts/test.sh -L integration`
# After the main run, two hardening stages (issue 7 §2-3) run when no ctest arguments were given:
#   sanitize  the unit and integration tests under ASan + UBSan in build-asan/ (scripts/sanitize.sh)
#   fuzz      every libFuzzer target for 30 s, two at a time, in build-fuzz/ (scripts/fuzz.sh)
#   LATCHKEY_STAGES="sanitize fuzz"  which stages to run ("" for none); LATCHKEY_FUZZ_SECONDS=30
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${LATCHKEY_BUILD_DIR:-build}
jobs=${LATCHKEY_JOBS:-2}

if [[ "${LATCHKEY_SKIP_DEPS:-0}" != 1 ]]; then
  bash scripts/install-deps.sh --test
fi

# shellcheck disable=SC2086 # word splitting of LATCHKEY_CMAKE_ARGS is intended
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${LATCHKEY_CMAKE_ARGS:-}
cmake --build "$build_dir" -j"$jobs"

# Server-starting tests are RUN_SERIAL (see tests/integration/CMakeLists.txt); the rest run in
# parallel. --timeout caps any test that sets no TIMEOUT of its own.
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 600 --no-tests=error "$@"

if (( $# == 0 )); then
  stages=${LATCHKEY_STAGES-sanitize fuzz}
  for stage in $stages; do
    echo "test.sh: stage $stage"
    stage_start=$(date +%s)
    case $stage in
      sanitize) bash scripts/sanitize.sh ;;
      fuzz) bash scripts/fuzz.sh --time "${LATCHKEY_FUZZ_SECONDS:-30}" ;;
      *) echo "test.sh: unknown stage $stage" >&2; exit 2 ;;
    esac
    echo "test.sh: stage $stage took $(( $(date +%s) - stage_start )) s"
  done
fi
