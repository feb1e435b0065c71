#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (scripts/postgres.sh) whose URL is in
# LATCHKEY_IT_POSTGRES_URL; the integration harness then gives every server it starts a fresh
# database there, so the same suites run on SQLite and on PostgreSQL. Fails (never skips) when
# PostgreSQL cannot be started.
#
#   with_postgres.sh POSTGRES_SH WORK_DIR COMMAND [ARGS...]
set -uo pipefail
postgres_sh=$1
work=$2
shift 2

rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
cluster=$work/cluster
stop_server() { "$postgres_sh" stop "$cluster" >/dev/null 2>&1 || true; rm -rf "$cluster"; }
trap stop_server EXIT

if ! url=$("$postgres_sh" start "$cluster"); then
  echo "FAIL: PostgreSQL could not be started with $postgres_sh (install it: scripts/install-deps.sh --test)"
  exit 1
fi
echo "PostgreSQL for this run: $url"
LATCHKEY_IT_POSTGRES_URL=$url "$@"
