#!/usr/bin/env bash
# The README's first command: install what Latchkey needs, build it, and run the server in
# development mode on SQLite (http://127.0.0.1:8080), ready for `latchkey auth login`.
#   LATCHKEY_SKIP_DEPS=1  skip the package step;  extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${LATCHKEY_SKIP_DEPS:-0}" != 1 ]]; then bash scripts/install-deps.sh; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${LATCHKEY_JOBS:-2}" --target latchkey-server latchkey
mkdir -p .dev
cd .dev
echo "Latchkey binaries: $(cd .. && pwd)/build/src/server/latchkey-server, $(cd .. && pwd)/build/src/cli/latchkey"
exec ../build/src/server/latchkey-server serve --dev "$@"
