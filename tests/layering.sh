#!/usr/bin/env bash
# Fails when a layer includes what it must not (DESIGN.md "Layers"): the protocol core, jose,
# util and the store interfaces know nothing of sockets, Beast/Asio or SQL.
set -u
src=${1:?usage: layering.sh SRC_DIR}
bad=0
check() {  # check DIR PATTERN WHY
  local hits
  hits=$(grep -rnE "#include[[:space:]]*[<\"]($2)" "$src/$1" 2>/dev/null)
  if [[ -n $hits ]]; then echo "layering: $1 must not include $3:"; echo "$hits"; bad=1; fi
}
for dir in oauth jose util; do
  check "$dir" 'boost/beast|boost/asio|sqlite3|libpq|sys/socket|netinet|arpa/inet|http/|store/sqlite|server/' "sockets, HTTP or SQL"
done
check store/store.h 'sqlite3|libpq|boost/' "a backend"
check store/memory 'sqlite3|libpq|boost/beast|boost/asio' "SQL or sockets"
check http 'sqlite3|libpq|store/sqlite' "SQL"
# The client and resource libraries stand alone: nothing of the server.
for dir in client resource; do
  check "$dir" 'oauth/|store/|http/|server/' "the server's code"
done
if ((bad)); then exit 1; fi
echo "layering: ok"
