"""Starts the real latchkey-server on a loopback port for integration tests, and a tiny HTTP client.

Standard library only (run with Debian's /usr/bin/python3). Everything is bounded: the server must be
ready within READY_TIMEOUT, every HTTP request has a socket timeout, and stop() kills what SIGTERM
did not end.
"""
from __future__ import annotations

import base64
import hashlib
import html.parser
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

READY_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
ADMIN_TIMEOUT = 60.0  # Argon2id hashing in `user create`/`client create` takes a moment


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a 43-char verifier and its S256 challenge."""
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


def server_binary() -> str:
    path = os.environ.get("LATCHKEY_SERVER_BIN")
    if not path:
        raise RuntimeError("set LATCHKEY_SERVER_BIN to the built latchkey-server binary")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"LATCHKEY_SERVER_BIN={path} is not an executable file")
    return path


def database_for_server(tmp: str) -> str:
    """A fresh database for one server: SQLite in its temp dir, or, when LATCHKEY_IT_POSTGRES_URL
    names a PostgreSQL server (tests/postgres/with_postgres.sh sets it), a new database there, so the
    same suites run on both backends."""
    base = os.environ.get("LATCHKEY_IT_POSTGRES_URL")
    if not base:
        return "sqlite:" + os.path.join(tmp, "latchkey.db")
    name = "latchkey_it_" + secrets.token_hex(6)
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}", base],
                   check=True, capture_output=True, timeout=ADMIN_TIMEOUT, stdin=subprocess.DEVNULL)
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def read_text(path: str) -> str:
    """A log file's text; empty when it is not there (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def race(n: int, call) -> list["Reply"]:
    """n threads released together by a barrier, each making one request on its own connection."""
    barrier = threading.Barrier(n)
    replies: list = [None] * n

    def one(i: int) -> None:
        try:
            barrier.wait(20)
            replies[i] = call()
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            replies[i] = e

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 90
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "requests still running after 90 s"
    failures = [r for r in replies if not isinstance(r, Reply)]
    assert not failures, f"requests failed at the transport level: {failures[:3]}"
    return replies


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Client:
    client_id: str
    secret: str | None
    redirect_uris: list[str]


@dataclass
class User:
    username: str
    password: str
    email: str
    name: str


# ---------------------------------------------------------------------------------------------
# HTTP: no redirects followed, cookies kept, every status recorded (the suite asserts no 5xx).


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def location_params(self) -> dict[str, str]:
        """Query parameters of the Location header; a duplicated one is an error here."""
        assert self.location, f"no Location in {self.status} reply to {self.url}"
        pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(self.location).query, keep_blank_values=True)
        out: dict[str, str] = {}
        for k, v in pairs:
            assert k not in out, f"parameter {k} twice in {self.location}"
            out[k] = v
        return out


class CookieJar:
    """Name -> value for one host; enough for a server that sets a few host-only cookies."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def absorb(self, headers: http.client.HTTPMessage) -> None:
        for line in headers.get_all("Set-Cookie") or []:
            first, _, attrs = line.partition(";")
            name, eq, value = first.strip().partition("=")
            if not eq or not name:
                continue
            attr_lower = attrs.lower().replace(" ", "")
            expired = "max-age=0" in attr_lower or "max-age=-" in attr_lower or "expires=thu,01jan1970" in attr_lower
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def header(self) -> str | None:
        if not self.cookies:
            return None
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


# Every secret that crossed the wire in this run (value -> what it is): tokens and codes from
# responses, cookies the server set, the passwords and client secrets the harness provisioned.
# run_tests() fails the run when any of them shows up in a server's log output (issue 7 §6).
SEEN_SECRETS: dict[str, str] = {}
_SECRET_FIELDS = ("access_token", "refresh_token", "id_token", "device_code", "code", "client_secret")
_WORDS = re.compile(r"[A-Za-z0-9_.~-]+")  # base64url and JWT characters


def note_secret(kind: str, value) -> None:
    # Short values (user codes, test fixtures) would match by accident; every real secret is long.
    if isinstance(value, str) and len(value) >= 16:
        SEEN_SECRETS.setdefault(value, kind)


def _note_reply_secrets(headers: http.client.HTTPMessage, data: bytes) -> None:
    if (headers.get("Content-Type") or "").startswith("application/json"):
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for name in _SECRET_FIELDS:
                note_secret(name, body.get(name))
    location = headers.get("Location")
    if location:
        query = urllib.parse.urlsplit(location).query
        for name, value in urllib.parse.parse_qsl(query):
            if name == "code":
                note_secret("code", value)
    for line in headers.get_all("Set-Cookie") or []:
        name, _, value = line.partition(";")[0].partition("=")
        note_secret(f"cookie {name.strip()}", value.strip())


# Issue 7 §6: every HTML response carries the security headers, every cookie its flags. Checked on
# every response any suite receives; run_tests() fails the run on a violation.
HTML_RESPONSES_CHECKED = 0
COOKIES_CHECKED = 0
HEADER_VIOLATIONS: list[str] = []


def _check_security_headers(method: str, target: str, status: int, headers: http.client.HTTPMessage) -> None:
    global HTML_RESPONSES_CHECKED, COOKIES_CHECKED
    where = f"{method} {target[:80]} -> {status}"
    if status in (502, 503, 504) and headers.get("Server") != "latchkey":
        return  # a load balancer's own error page (tests/cluster kills instances), not ours
    if (headers.get("Content-Type") or "").startswith("text/html"):
        HTML_RESPONSES_CHECKED += 1
        csp = headers.get("Content-Security-Policy") or ""
        expected = {
            "Content-Security-Policy frame-ancestors 'none'": "frame-ancestors 'none'" in csp,
            "Content-Security-Policy default-src 'none'": "default-src 'none'" in csp,
            "X-Frame-Options: DENY": (headers.get("X-Frame-Options") or "").upper() == "DENY",
            "Referrer-Policy: no-referrer": (headers.get("Referrer-Policy") or "").lower() == "no-referrer",
            "Cache-Control: no-store": "no-store" in (headers.get("Cache-Control") or ""),
            "X-Content-Type-Options: nosniff": (headers.get("X-Content-Type-Options") or "").lower() == "nosniff",
        }
        HEADER_VIOLATIONS.extend(f"{where}: missing {name}" for name, ok in expected.items() if not ok)
    for line in headers.get_all("Set-Cookie") or []:
        COOKIES_CHECKED += 1
        attrs = line.lower().replace(" ", "")
        for flag in ("httponly", "samesite=", "path=/"):
            if f";{flag}" not in attrs:
                HEADER_VIOLATIONS.append(f"{where}: cookie {line.split('=')[0]} without {flag}")


def leaked_secrets(output: str) -> list[str]:
    """What kinds of seen secrets appear in `output` (never the secrets themselves)."""
    words = set()
    for word in _WORDS.findall(output):
        words.add(word)
        words.add(word.strip("."))  # a sentence's full stop after a token
        words.update(word.split("."))  # a JWT's parts
    # Tokens are looked up as whole words (fast for thousands of them); anything else, such as a
    # password with spaces, as a substring.
    return sorted({kind for value, kind in list(SEEN_SECRETS.items())
                   if (value in words if _WORDS.fullmatch(value) else value in output)})


class Http:
    def __init__(self, base_url: str, statuses: list[tuple[str, str, int]] | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host = parts.hostname
        self.port = parts.port
        self.base_url = base_url
        self.jar = CookieJar()
        # Shared with the harness so one assertion can cover every request of a test class.
        self.statuses = statuses if statuses is not None else []

    def request(self, method: str, target: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, use_cookies: bool = True) -> Reply:
        if target.startswith("http://") or target.startswith("https://"):
            parts = urllib.parse.urlsplit(target)
            assert (parts.hostname, parts.port) == (self.host, self.port), f"request leaves the server: {target}"
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = dict(headers or {})
        if use_cookies and "Cookie" not in all_headers:
            cookie = self.jar.header()
            if cookie:
                all_headers["Cookie"] = cookie
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, target, body=body, headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if use_cookies:
            self.jar.absorb(resp.headers)
        _note_reply_secrets(resp.headers, data)
        _check_security_headers(method, target, resp.status, resp.headers)
        self.statuses.append((method, target, resp.status))
        return Reply(resp.status, resp.headers, data, target)

    def get(self, target: str, **kw) -> Reply:
        return self.request("GET", target, **kw)

    def post_form(self, target: str, fields, headers: dict[str, str] | None = None, **kw) -> Reply:
        """fields: dict or list of pairs (a list can repeat a name)."""
        items = fields.items() if isinstance(fields, dict) else fields
        body = urllib.parse.urlencode(list(items))
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", target, body=body, headers=h, **kw)


def basic_auth(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")


# ---------------------------------------------------------------------------------------------
# HTML forms: parsed, not pattern-matched, so markup changes that keep the contract don't break tests.


@dataclass
class Form:
    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)      # name -> value (hidden/text/password)
    input_types: dict[str, str] = field(default_factory=dict)  # name -> type
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of submit controls


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.text: list[str] = []
        self._current: Form | None = None
        self._skip = 0  # inside <style>/<script>

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "button"):
            kind = a.get("type", "text" if tag == "input" else "submit").lower()
            name = a.get("name")
            if not name:
                return
            if kind == "submit":
                self._current.buttons.append((name, a.get("value", "")))
            else:
                self._current.inputs[name] = a.get("value", "")
                self._current.input_types[name] = kind

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1
        if tag == "form":
            self._current = None

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


def parse_page(html_text: str) -> tuple[list[Form], str]:
    p = _FormParser()
    p.feed(html_text)
    p.close()
    return p.forms, " ".join(p.text)


def only_post_form(html_text: str) -> Form:
    forms = [f for f in parse_page(html_text)[0] if f.method == "post"]
    assert len(forms) == 1, f"expected one POST form, found {len(forms)} in:\n{html_text[:2000]}"
    return forms[0]


# ---------------------------------------------------------------------------------------------
# The server.


class Server:
    """One latchkey-server with its own temp dir, SQLite database, port, key, clients and user."""

    def __init__(self, extra_public_redirects: list[str] | None = None) -> None:
        self.binary = server_binary()
        self.tmp = tempfile.mkdtemp(prefix="latchkey-it-")
        self.db = database_for_server(self.tmp)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env["LATCHKEY_KEY_ENCRYPTION_KEY"] = b64url(secrets.token_bytes(32))
        self.proc: subprocess.Popen | None = None
        self.stderr_path = os.path.join(self.tmp, "server.stderr")
        self.stdout_lines: list[str] = []
        self.admin_log: list[str] = []
        self.statuses: list[tuple[str, str, int]] = []
        self.exit_code: int | None = None
        self._ready = threading.Event()

        self.confidential = Client("it-confidential", b64url(secrets.token_bytes(32)),
                                   ["https://rp.example/callback", "https://rp.example/other"])
        self.public = Client("it-public", None,
                             ["http://127.0.0.1/callback", "https://app.example/cb"] + (extra_public_redirects or []))
        self.user = User("alice", "correct horse " + secrets.token_hex(8), "alice@example.com", "Alice Example")

    # -- admin commands ---------------------------------------------------------------------
    def admin(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        cmd = [self.binary, *args]
        note_secret("password or client secret", (stdin or "").strip())  # what goes on stdin is secret
        # Always a pipe (empty when no secret): never the caller's stdin, which CI does not have.
        proc = subprocess.run(cmd, input=stdin or "", capture_output=True, text=True, env=self.env,
                              timeout=ADMIN_TIMEOUT)
        self.admin_log.append(f"$ {' '.join(cmd)}\n-> {proc.returncode}\n{proc.stdout}{proc.stderr}")
        if proc.returncode != 0:
            raise RuntimeError(f"admin command failed ({proc.returncode}): {' '.join(cmd)}\n"
                               f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def provision(self) -> None:
        self.admin("migrate", "--database", self.db)
        scope = "openid profile email offline_access"
        args = ["client", "create", "--database", self.db, "--client-id", self.confidential.client_id,
                "--secret-stdin", "--scope", scope, "--json"]
        for uri in self.confidential.redirect_uris:
            args += ["--redirect-uri", uri]
        self.admin(*args, stdin=self.confidential.secret + "\n")
        args = ["client", "create", "--database", self.db, "--client-id", self.public.client_id,
                "--public", "--scope", scope, "--json"]
        for uri in self.public.redirect_uris:
            args += ["--redirect-uri", uri]
        self.admin(*args)
        self.admin("user", "create", "--database", self.db, "--username", self.user.username,
                   "--password-stdin", "--email", self.user.email, "--name", self.user.name, "--json",
                   stdin=self.user.password + "\n")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Server":
        self.provision()
        stderr_file = open(self.stderr_path, "wb")
        try:
            # LATCHKEY_SERVER_WRAPPER, e.g. "gdb -batch -ex run -ex bt --args" or "valgrind -q",
            # runs the server under a debugging tool.
            wrapper = os.environ.get("LATCHKEY_SERVER_WRAPPER", "").split()
            self.proc = subprocess.Popen(
                [*wrapper, self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--issuer", self.issuer,
                 "--database", self.db],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file, env=self.env)
            # gdb prints to stdout as well; keep the readiness check on the server's own line.
        finally:
            stderr_file.close()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            if not self._ready.wait(READY_TIMEOUT):
                raise RuntimeError(f"no 'listening on' line within {READY_TIMEOUT}s "
                                   f"(exit code {self.proc.poll()})\n{self.logs()}")
            while True:
                try:
                    reply = self.http().get("/.well-known/openid-configuration")
                    if reply.status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"discovery not answering 200 within {READY_TIMEOUT}s\n{self.logs()}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        expected = f"latchkey-server listening on {self.issuer}"
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.stdout_lines.append(line)
            if line.startswith(expected):
                self._ready.set()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Returns the exit code of the graceful stop
        (None when it had to be killed)."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
                self.exit_code = None
                self.stdout_lines.append(f"[harness] killed: no exit within {STOP_TIMEOUT}s of SIGTERM")
        else:
            self.exit_code = self.proc.returncode
            self.stdout_lines.append(f"[harness] server had already exited with {self.exit_code}")
        self.proc = None
        return self.exit_code

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def logs(self) -> str:
        tail = read_text(self.stderr_path)[-20000:]
        return ("---- admin commands ----\n" + "\n".join(self.admin_log) +
                "\n---- server stdout ----\n" + "\n".join(self.stdout_lines) +
                "\n---- server stderr (tail) ----\n" + tail)

    def output(self) -> str:
        """Everything the server printed (stdout and stderr), for the secret scan."""
        return "\n".join(self.stdout_lines) + "\n" + read_text(self.stderr_path)

    def http(self) -> Http:
        return Http(self.issuer, self.statuses)

    def server_errors(self) -> list[tuple[str, str, int]]:
        return [s for s in self.statuses if s[2] >= 500]


# Every server started in this process, so a failing run can print their logs.
STARTED: list[Server] = []


def start_server(**kw) -> Server:
    server = Server(**kw)
    STARTED.append(server)
    return server.start()


def run_tests(module_name: str = "__main__") -> None:
    """unittest main that prints the servers' logs when anything failed (ctest shows them)."""
    import unittest

    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_name])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    if not result.wasSuccessful():
        for server in STARTED:
            sys.stderr.write(f"\n==== logs of server {server.issuer} ====\n{server.logs()}\n")
    # No secret in any log line: scan everything every server printed for every secret seen.
    leaks = []
    for server in STARTED:
        server.stop()
        leaks += [f"{server.issuer}: {kind}" for kind in leaked_secrets(server.output())]
    sys.stderr.write(f"secret scan: {len(SEEN_SECRETS)} secrets seen on the wire, "
                     f"{len(STARTED)} server logs scanned, {len(leaks)} leaks\n")
    for leak in leaks:
        sys.stderr.write(f"SECRET IN LOG: {leak}\n")
    sys.stderr.write(f"security headers: {HTML_RESPONSES_CHECKED} HTML responses and {COOKIES_CHECKED} cookies "
                     f"checked, {len(HEADER_VIOLATIONS)} violations\n")
    for violation in HEADER_VIOLATIONS[:50]:
        sys.stderr.write(f"HEADER VIOLATION: {violation}\n")
    for server in STARTED:
        server.cleanup()
    sys.exit(0 if result.wasSuccessful() and not leaks and not HEADER_VIOLATIONS else 1)
