#!/usr/bin/env bash
# Builds the Debian package with CPack from a built tree and checks it: control fields, contents,
# conffiles, maintainer scripts (sh -n and what they must do), the systemd unit; then unpacks it
# into a scratch root with dpkg (as far as the machine allows) and runs the packaged server from
# there: config check of the packaged configuration, migrate, serve, /healthz and /readyz.
# Usage: test_package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build_dir=$1
source_dir=$2
work=$(mktemp -d /tmp/latchkey-package-test.XXXXXX)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
expect_grep() {  # expect_grep DESCRIPTION PATTERN FILE
  if grep -qE -- "$2" "$3"; then pass "$1"; else fail "$1 (no /$2/ in $3)"; cat "$3"; fi
}

command -v cpack >/dev/null || { echo "cpack is not installed"; exit 1; }
command -v dpkg-deb >/dev/null || { echo "dpkg-deb is not installed"; exit 1; }

# --- build the package ------------------------------------------------------------------------
if ! (cd "$work" && timeout 300 cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/out") \
    > "$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "FAIL: cpack -G DEB"
  exit 1
fi
debs=("$work"/out/*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || { cat "$work/cpack.log"; echo "FAIL: expected one .deb"; exit 1; }
deb=${debs[0]}
pass "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

# --- control fields -----------------------------------------------------------------------------
dpkg-deb -I "$deb" > "$work/info"
[[ $(dpkg-deb -f "$deb" Package) == latchkey ]] && pass "Package: latchkey" || fail "Package field"
[[ -n $(dpkg-deb -f "$deb" Version) ]] && pass "Version: $(dpkg-deb -f "$deb" Version)" || fail "Version field"
[[ $(dpkg-deb -f "$deb" Architecture) == $(dpkg --print-architecture) ]] && pass "Architecture" || fail "Architecture field"
dpkg-deb -f "$deb" Depends > "$work/depends"
expect_grep "Depends: adduser" "adduser" "$work/depends"
expect_grep "Depends: shared libraries (dpkg-shlibdeps)" "libsqlite3|libssl3|libsodium" "$work/depends"
dpkg-deb -f "$deb" Maintainer | grep -q . && pass "Maintainer" || fail "Maintainer field"

# --- contents -----------------------------------------------------------------------------------
dpkg-deb -c "$deb" > "$work/contents"
for path in ./usr/bin/latchkey-server ./usr/bin/latchkey ./usr/lib/systemd/system/latchkey-server.service \
            ./etc/latchkey/latchkey.toml ./usr/share/doc/latchkey/configuration.md; do
  if grep -qE " ${path//./\\.}\$" "$work/contents"; then pass "contains $path"; else fail "missing $path"; fi
done
grep -E '^-rwxr-xr-x root/root .* ./usr/bin/latchkey-server$' -q "$work/contents" && pass "binary mode 0755 root" \
  || fail "latchkey-server is not -rwxr-xr-x root/root"
if grep -q "latchkey.env" "$work/contents"; then fail "the package must not ship a key-encryption key"; else
  pass "no key-encryption key in the package"; fi

# --- control scripts and conffiles --------------------------------------------------------------
dpkg-deb -e "$deb" "$work/control"
expect_grep "conffiles lists the configuration" "^/etc/latchkey/latchkey.toml$" "$work/control/conffiles"
for script in postinst prerm postrm; do
  f=$work/control/$script
  [[ -x $f ]] && pass "$script is executable" || fail "$script missing or not executable"
  sh -n "$f" && pass "$script: sh -n" || fail "$script: syntax"
  if command -v checkbashisms >/dev/null; then checkbashisms "$f" && pass "$script: checkbashisms" || fail "$script: bashisms"; fi
done
expect_grep "postinst creates the system user" "adduser --system" "$work/control/postinst"
expect_grep "postinst creates the key file 0600 owned by latchkey" "chown latchkey:latchkey" "$work/control/postinst"
expect_grep "postinst runs migrate as latchkey" "runuser -u latchkey -- /usr/bin/latchkey-server migrate" "$work/control/postinst"
expect_grep "prerm stops the service" "systemctl stop latchkey-server.service" "$work/control/prerm"
# Data is removed on purge only: the rm -rf sits in the purge branch.
awk '/^ *purge\)/{p=1} /;;/{p=0} p && /rm -rf \/var\/lib\/latchkey/{found=1} END{exit !found}' "$work/control/postrm" \
  && pass "postrm removes /var/lib/latchkey on purge" || fail "postrm: no rm of /var/lib/latchkey under purge"
awk '/^ *remove\)/{p=1} /;;/{p=0} p && /rm /{bad=1} END{exit bad}' "$work/control/postrm" \
  && pass "postrm remove keeps the data" || fail "postrm remove deletes something"

# --- the systemd unit ---------------------------------------------------------------------------
dpkg-deb -x "$deb" "$work/root"
unit=$work/root/usr/lib/systemd/system/latchkey-server.service
for directive in "User=latchkey" "ProtectSystem=strict" "ProtectHome=yes" "NoNewPrivileges=yes" "PrivateTmp=yes" \
                 "ReadWritePaths=/var/lib/latchkey" "StateDirectory=latchkey" "EnvironmentFile=/etc/latchkey/latchkey.env" \
                 "ExecStart=/usr/bin/latchkey-server serve --config /etc/latchkey/latchkey.toml" "ExecReload=/bin/kill -HUP"; do
  expect_grep "unit: $directive" "^${directive}" "$unit"
done
if command -v systemd-analyze >/dev/null && [[ -d /run/systemd/system ]]; then
  systemd-analyze verify "$unit" 2>"$work/verify" || true
  grep -v "latchkey-server: Command /usr/bin/latchkey-server is not executable" "$work/verify" | grep -i "unknown\|invalid" \
    && fail "systemd-analyze verify" || pass "systemd-analyze verify"
fi

# --- dpkg into a scratch root -------------------------------------------------------------------
# Unpacking registers files and conffiles in the scratch root's dpkg database; configuring would run
# postinst chrooted there, which needs a whole system (adduser, a shell), so it is not attempted.
dpkg_root=$work/dpkg-root
mkdir -p "$dpkg_root/var/lib/dpkg/info" "$dpkg_root/var/lib/dpkg/updates"
touch "$dpkg_root/var/lib/dpkg/status" "$dpkg_root/var/lib/dpkg/available"
if [[ $(id -u) -eq 0 ]]; then
  if dpkg --root="$dpkg_root" --force-depends --force-script-chrootless --no-triggers --unpack "$deb" > "$work/dpkg.log" 2>&1; then
    pass "dpkg --root --unpack"
    # The hash is "newconffile" until configure computes it.
    expect_grep "dpkg registered the conffile" "^ /etc/latchkey/latchkey.toml (newconffile|[0-9a-f]{32})$" \
      "$dpkg_root/var/lib/dpkg/status"
    [[ -x $dpkg_root/usr/bin/latchkey-server ]] && pass "unpacked binary" || fail "unpacked binary missing"
  else
    fail "dpkg --root --unpack"; cat "$work/dpkg.log"
  fi
else
  echo "skip: dpkg --root needs root here (dpkg-deb -x is used below)"
fi

# --- run the packaged server --------------------------------------------------------------------
bin=$work/root/usr/bin/latchkey-server
"$bin" --help > /dev/null && pass "latchkey-server --help" || fail "latchkey-server --help"
"$work/root/usr/bin/latchkey" --help > /dev/null && pass "latchkey --help" || fail "latchkey --help"
[[ $("$bin" config check "$work/root/etc/latchkey/latchkey.toml") == ok ]] && pass "config check of the packaged file" \
  || fail "config check of the packaged file"

data=$work/data
mkdir -p "$data"
export LATCHKEY_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | basenc --base64url -w0 | tr -d '=')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
timeout 60 "$bin" migrate --database "sqlite:$data/latchkey.db" > /dev/null && pass "migrate" || fail "migrate"
"$bin" serve --database "sqlite:$data/latchkey.db" --listen "127.0.0.1:$port" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" && break; sleep 0.1; done
if curl -fsS --max-time 5 "http://127.0.0.1:$port/healthz" > /dev/null && curl -fsS --max-time 5 "http://127.0.0.1:$port/readyz" > /dev/null; then
  pass "the packaged server answers /healthz and /readyz"
else
  fail "the packaged server does not answer"; cat "$work/serve.out" "$work/serve.err"
fi
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=

# --- a real install (opt-in: it changes the machine) --------------------------------------------
# LATCHKEY_PACKAGE_TEST_INSTALL=1 on a disposable machine or container, as root: dpkg -i runs the
# maintainer scripts for real, then purge must remove data and key.
if [[ ${LATCHKEY_PACKAGE_TEST_INSTALL:-} == 1 ]]; then
  if dpkg -s latchkey >/dev/null 2>&1 || [[ -e /etc/latchkey || -e /var/lib/latchkey ]]; then
    fail "real install: latchkey is already installed or left files here; not touching them"
  elif dpkg -i "$deb" > "$work/install.log" 2>&1; then
    pass "dpkg -i"
    getent passwd latchkey > /dev/null && pass "user latchkey exists" || fail "no user latchkey"
    [[ $(stat -c '%a %U' /etc/latchkey/latchkey.env) == "600 latchkey" ]] && pass "latchkey.env 0600 latchkey" \
      || fail "latchkey.env: $(stat -c '%a %U' /etc/latchkey/latchkey.env)"
    [[ $(stat -c '%U' /var/lib/latchkey/latchkey.db) == latchkey ]] && pass "database created by migrate, owned by latchkey" \
      || fail "no database owned by latchkey"
    key_before=$(cat /etc/latchkey/latchkey.env)
    dpkg -i "$deb" > "$work/reinstall.log" 2>&1 && [[ $(cat /etc/latchkey/latchkey.env) == "$key_before" ]] \
      && pass "reinstall keeps the key" || fail "reinstall changed the key or failed"
    dpkg -r latchkey > "$work/remove.log" 2>&1 && [[ -f /var/lib/latchkey/latchkey.db && -f /etc/latchkey/latchkey.env ]] \
      && pass "remove keeps data and key" || fail "remove lost data or key"
    dpkg -P latchkey > "$work/purge.log" 2>&1 && [[ ! -e /var/lib/latchkey && ! -e /etc/latchkey/latchkey.env ]] \
      && pass "purge removes data and key" || fail "purge left data or key"
  else
    fail "dpkg -i"; cat "$work/install.log"
  fi
fi

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
