#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests (issue 6): Debian's postgresql package, a cluster in a
# directory of our own, listening on 127.0.0.1 only, trust authentication, fsync off.
#
#   scripts/postgres.sh start DIR    initdb DIR/data if absent, start on a free loopback port (the
#                                    port DIR already used when it is still free), wait until it
#                                    accepts connections, print the URL and write it to DIR/url:
#                                    postgresql://USER@127.0.0.1:PORT/latchkey
#   scripts/postgres.sh stop DIR     fast shutdown (clients are disconnected, a checkpoint is written)
#   scripts/postgres.sh restart DIR  stop, then start on the same port
#   scripts/postgres.sh kill DIR     immediate shutdown (no checkpoint: crash recovery at next start)
# Every command is idempotent: starting a running server prints its URL, stopping a stopped one is fine.
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user (created
# by the Debian package) and DIR is handed to it; otherwise it runs as the current user.
# Layout: DIR/data (cluster), DIR/socket (unix socket), DIR/log, DIR/port, DIR/url. As root, when a
# parent of DIR is closed to the postgres user (a checkout under a 0700 `mktemp -d`, say), the
# server's own files (data, socket, log) go to /tmp/latchkey-postgres-HASH instead, HASH from DIR's
# path, so every command on DIR finds them again; port and url stay in DIR.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|restart|kill DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
command=$1
dir=$2
case $command in start | stop | restart | kill) ;; *) usage ;; esac

# The newest installed major version; PATH is not trusted (an unrelated pg_ctl may come first).
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z $bin || ! -x $bin/pg_ctl ]]; then
  echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql/*/bin (install the postgresql package:" \
    "scripts/install-deps.sh --test)" >&2
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  db_user=postgres
  if ! id -u "$db_user" >/dev/null 2>&1; then
    echo "postgres.sh: running as root needs the 'postgres' system user (from the postgresql package)" >&2
    exit 1
  fi
  as_db_user() { runuser -u "$db_user" -- "$@"; }
else
  db_user=$(id -un)
  as_db_user() { "$@"; }
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
home=$dir
if [[ $(id -u) -eq 0 ]]; then
  chown "$db_user" "$dir"
  if ! as_db_user test -w "$dir"; then
    home=/tmp/latchkey-postgres-$(printf '%s' "$dir" | sha256sum | cut -c1-16)
    mkdir -p "$home"
    chown "$db_user" "$home"
    chmod 700 "$home"
    if ! as_db_user test -w "$home"; then
      echo "postgres.sh: user $db_user can write neither to $dir nor to $home" >&2
      exit 1
    fi
  fi
fi
data=$home/data
socket_dir=$home/socket
log=$home/log

pg_ctl() { as_db_user "$bin/pg_ctl" -D "$data" "$@"; }
is_running() { [[ -f $data/PG_VERSION ]] && pg_ctl status >/dev/null 2>&1; }

# Free for a server, as PostgreSQL binds (SO_REUSEADDR: connections of the previous run lingering
# in TIME_WAIT do not count; another listener does).
port_is_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
except OSError:
    sys.exit(1)
EOF
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url_for() { echo "postgresql://$db_user@127.0.0.1:$1/latchkey"; }

init_cluster() {
  [[ -f $data/PG_VERSION ]] && return 0
  as_db_user "$bin/initdb" -D "$data" -U "$db_user" --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
    echo "postgres.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  }
  as_db_user mkdir -p "$socket_dir"
  # Throwaway server: durability off, loopback only, enough connections for several pooled instances.
  as_db_user tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 32MB
EOF
}

start() {
  init_cluster
  if is_running; then
    url_for "$(cat "$dir/port")"
    return 0
  fi
  local port=""
  if [[ -f $dir/port ]] && port_is_free "$(cat "$dir/port")"; then port=$(cat "$dir/port"); fi
  [[ -n $port ]] || port=$(free_port)
  echo "$port" >"$dir/port"
  # Ports picked by free_port can be taken by someone else before the server binds: a few tries.
  local attempt
  for attempt in 1 2 3; do
    if pg_ctl -l "$log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then break; fi
    if [[ $attempt -eq 3 ]] || is_running; then
      echo "postgres.sh: the server did not start; the end of $log:" >&2
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
    port=$(free_port)
    echo "$port" >"$dir/port"
  done
  # pg_ctl -w waits for the socket; also wait for TCP, then make sure the database exists.
  local i
  for i in $(seq 1 100); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$db_user" -d postgres; then break; fi
    [[ $i -eq 100 ]] && { echo "postgres.sh: the server does not accept connections on port $port" >&2; exit 1; }
    sleep 0.1
  done
  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U "$db_user" -d postgres -v ON_ERROR_STOP=1)
  if [[ -z $("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'latchkey'") ]]; then
    "${psql[@]}" -c "CREATE DATABASE latchkey" >/dev/null
  fi
  url_for "$port" | tee "$dir/url"
}

stop() {
  local mode=$1
  is_running || return 0
  pg_ctl -m "$mode" -w -t 60 stop >/dev/null
}

case $command in
  start) start ;;
  stop) stop fast ;;
  kill) stop immediate ;;
  restart)
    stop fast
    start
    ;;
esac
