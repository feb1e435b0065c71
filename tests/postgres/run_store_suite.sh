#!/usr/bin/env bash
# ctest store_postgres: starts a throwaway PostgreSQL server (scripts/postgres.sh), runs the
# PostgreSQL instantiations of the shared storage suite and the PostgreSQL-only tests of unit_store
# against it, and stops it. Fails when the server cannot be started, when a test fails, and when a
# test was skipped or none ran (the suite must not pass without having run).
#
#   run_store_suite.sh UNIT_STORE_BINARY POSTGRES_SH WORK_DIR
set -uo pipefail
binary=$1
postgres_sh=$2
work=$3

rm -rf "$work"
mkdir -p "$work"
cluster=$work/cluster
stop_server() { "$postgres_sh" stop "$cluster" >/dev/null 2>&1 || true; }
trap stop_server EXIT

if ! url=$("$postgres_sh" start "$cluster"); then
  echo "FAIL: PostgreSQL could not be started with $postgres_sh (install it: scripts/install-deps.sh --test)"
  exit 1
fi
echo "PostgreSQL for the store tests: $url"

export LATCHKEY_TEST_POSTGRES_URL=$url
export LATCHKEY_TEST_POSTGRES_DIR=$cluster
export LATCHKEY_TEST_POSTGRES_SCRIPT=$postgres_sh
"$binary" --gtest_filter='*/postgres:*/postgres_serializable:PostgresUrl.*:PostgresStoreTest.*:PostgresOutageTest.*' \
  2>&1 | tee "$work/unit_store.log"
status=${PIPESTATUS[0]}

if [[ $status -ne 0 ]]; then
  echo "FAIL: unit_store exited with $status"
  exit 1
fi
if grep -q '^\[  SKIPPED \]' "$work/unit_store.log"; then
  echo "FAIL: tests were skipped although PostgreSQL was configured"
  exit 1
fi
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\.$/\1/p' "$work/unit_store.log")
if [[ -z $passed || $passed -lt 100 ]]; then
  echo "FAIL: only '${passed:-no}' tests passed; the PostgreSQL instantiations did not run"
  exit 1
fi
echo "store_postgres: $passed tests passed on PostgreSQL"
rm -rf "$cluster"
