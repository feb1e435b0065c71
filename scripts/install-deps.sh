#!/usr/bin/env bash
# Installs everything Latchkey needs on Debian 12, idempotently: build tools and libraries,
# and (with --test) what the test suite needs: python3-jwcrypto, Chromium, Node.js packages.
# Safe to run again: apt skips what is present, npm ci only when package-lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

build_pkgs=(build-essential cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsodium-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev libmimalloc-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3)
test_pkgs=(python3 python3-jwcrypto chromium curl openssl dpkg-dev postgresql haproxy)
# Fuzzing (scripts/fuzz.sh): clang 16 and its libFuzzer runtime; llvm for llvm-symbolizer, which
# turns sanitizer reports (fuzz.sh, sanitize.sh) into file:line stacks.
test_pkgs+=(clang-16 libclang-rt-16-dev llvm)

pkgs=("${build_pkgs[@]}")
(( want_tests )) && pkgs+=("${test_pkgs[@]}")
command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node packages of the browser/interop tests (tests/e2e) and of the oidc-provider interop (tests/interop).
if (( want_tests )); then
  for dir in tests/e2e tests/interop; do
    [[ -f $dir/package.json ]] || continue
    stamp=$dir/node_modules/.installed-stamp
    if [[ ! -f $stamp || $dir/package-lock.json -nt $stamp ]]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      touch "$stamp"
    fi
  done
fi
echo "install-deps: ok"
