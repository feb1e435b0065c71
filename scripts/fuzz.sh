#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang++-16, ASan + UBSan, see fuzz/README.md) and runs
# them. Exits non-zero when any target finds a crash, a sanitizer report or a broken property;
# the input that did it is kept under <build>/fuzz-artifacts/<target>/.
#
#   scripts/fuzz.sh                      smoke: every target for 30 s, two at a time (CI)
#   scripts/fuzz.sh --time 60 jwt jwk    those targets, 60 s each
#   scripts/fuzz.sh --long 3600 jwt      one long run (all cores of the machine unless --parallel)
#   scripts/fuzz.sh --list               the target names
# Options: --parallel N (targets at once, default 2), --no-build, --build-dir DIR
#          (default build-fuzz, or $LATCHKEY_FUZZ_BUILD_DIR), --seed N (libFuzzer's -seed).
# Smoke runs use seed 1, so CI explores what a developer's run explores and a red CI replays here;
# --long runs use a random seed (0) to go where no run went before.
# The seeds in fuzz/corpus/<target>/ are copied into <build>/fuzz-corpus/<target>/, where new
# inputs accumulate between runs; the repository's seeds are never written.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=30
parallel=2
seed=${LATCHKEY_FUZZ_SEED:-1}
build=1
build_dir=${LATCHKEY_FUZZ_BUILD_DIR:-build-fuzz}
targets=()
all_targets() { sed -n 's/^latchkey_fuzz_target(\([a-z_0-9]*\).*/\1/p' fuzz/CMakeLists.txt; }

while (( $# )); do
  case $1 in
    --time) seconds=$2; shift 2 ;;
    --long) seconds=$2; parallel=${parallel_set:-$(nproc)}; seed=${LATCHKEY_FUZZ_SEED:-0}; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --parallel) parallel=$2; parallel_set=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --list) all_targets; exit 0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
(( ${#targets[@]} )) || mapfile -t targets < <(all_targets)
for t in "${targets[@]}"; do
  [[ -d fuzz/corpus/$t ]] || { echo "fuzz.sh: no target $t (see --list)" >&2; exit 2; }
done

if (( build )); then
  command -v clang++-16 >/dev/null || { echo "fuzz.sh: clang++-16 missing (scripts/install-deps.sh --test)" >&2; exit 2; }
  mkdir -p "$build_dir"
  # -O1 with line tables, as libFuzzer's docs advise: fast enough to fuzz, much faster to compile
  # than -O2 -g, and asserts stay on.
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-16 \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DLATCHKEY_FUZZ=ON -DLATCHKEY_BUILD_TESTS=OFF -DLATCHKEY_BUILD_BENCH=OFF >"$build_dir/configure.log" 2>&1 ||
    { cat "$build_dir/configure.log" >&2; exit 2; }
  cmake --build "$build_dir" -j"${LATCHKEY_JOBS:-2}" --target "${targets[@]/#/fuzz_}"
fi

out=$build_dir/fuzz-logs
mkdir -p "$out"
# Sanitizer reports end the run (UBSan is already fatal through -fno-sanitize-recover=all).
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Stacks with file:line (llvm-symbolizer comes with Debian's llvm package).
if symbolizer=$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer); then
  export ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer
fi

run_target() {
  local t=$1 corpus=$build_dir/fuzz-corpus/$1 artifacts=$build_dir/fuzz-artifacts/$1/
  mkdir -p "$corpus" "$artifacts"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  # -max_len: a whole request or a JWKS needs more than libFuzzer's default of 4096.
  "$build_dir/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" -seed="$seed" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" >"$out/$t.log" 2>&1
}

summary() {
  local t=$1 rc=$2 log=$out/$1.log
  local execs cov ft rate
  # A run that dies on its first input prints no cov/ft line: those fields then read "?".
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
  cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  ft=$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  printf '%-14s %-5s execs=%-10s exec/s=%-7s cov=%-6s ft=%-6s corpus=%s\n' "$t" \
    "$([[ $rc == 0 ]] && echo ok || echo FAIL)" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "$(find "$build_dir/fuzz-corpus/$t" -type f | wc -l)"
}

echo "fuzz.sh: ${#targets[@]} target(s), ${seconds}s each, $parallel at a time; logs in $out/"
declare -A pid_of=()
failed=()
finish_one() {
  local done_pid rc=0 t
  wait -n -p done_pid || rc=$?
  for t in "${!pid_of[@]}"; do
    [[ ${pid_of[$t]} == "$done_pid" ]] || continue
    unset "pid_of[$t]"
    summary "$t" "$rc"
    if (( rc != 0 )); then
      failed+=("$t")
      echo "---- $t: last lines of $out/$t.log" >&2
      tail -40 "$out/$t.log" >&2
    fi
  done
}
for t in "${targets[@]}"; do
  while (( ${#pid_of[@]} >= parallel )); do finish_one; done
  run_target "$t" &
  pid_of[$t]=$!
done
while (( ${#pid_of[@]} )); do finish_one; done

if (( ${#failed[@]} )); then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs in $root/$build_dir/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} target(s) ran clean"
