"""Operations of the real latchkey-server: /metrics moving after a flow, /healthz and /readyz (also
while the database is unavailable), one JSON request log line per request with no secret in it,
trusted reverse proxies, native TLS with a test CA and a certificate reload on SIGHUP, and
`config check` naming a bad key and its line.

Run: LATCHKEY_SERVER_BIN=build/src/server/latchkey-server LATCHKEY_SOURCE_DIR=. /usr/bin/python3 tests/ops/test_ops.py
Servers are started by tests/integration/harness.py (bounded waits, SIGTERM then SIGKILL).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from harness import Http, Reply, basic_auth  # noqa: E402
from test_code_flow import Flow  # noqa: E402

SOURCE_DIR = os.environ.get("LATCHKEY_SOURCE_DIR", os.path.join(HERE, "..", ".."))
COMMAND_TIMEOUT = 30


def metric_values(text: str) -> dict[str, float]:
    """Prometheus text format 0.0.4 -> {'name{labels}': value}; checks every sample has a TYPE."""
    values: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"sample without # TYPE: {line}"
        values[series] = float(value)
    return values


class HttpsHttp(Http):
    """harness.Http over TLS, verifying the server against the test CA."""

    def __init__(self, base_url: str, statuses, context: ssl.SSLContext) -> None:
        super().__init__(base_url, statuses)
        self.context = context

    def request(self, method, target, body=None, headers=None, use_cookies=True) -> Reply:
        if target.startswith("https://"):
            parts = urllib.parse.urlsplit(target)
            assert (parts.hostname, parts.port) == (self.host, self.port), f"request leaves the server: {target}"
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = dict(headers or {})
        if use_cookies and "Cookie" not in all_headers and self.jar.header():
            all_headers["Cookie"] = self.jar.header()
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=harness.REQUEST_TIMEOUT, context=self.context)
        try:
            conn.request(method, target, body=body, headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if use_cookies:
            self.jar.absorb(resp.headers)
        self.statuses.append((method, target, resp.status))
        return Reply(resp.status, resp.headers, data, target)


class OpsServer(harness.Server):
    """harness.Server with configuration through LATCHKEY_* variables, optionally over TLS."""

    def __init__(self, env: dict[str, str] | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.env.update(env or {})
        self.tls_context = tls_context
        if tls_context is not None:
            self.issuer = f"https://127.0.0.1:{self.port}"

    def http(self) -> Http:
        if self.tls_context is not None:
            return HttpsHttp(self.issuer, self.statuses, self.tls_context)
        return Http(self.issuer, self.statuses)

    def stderr_text(self) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def request_lines(self) -> list[dict]:
        lines = []
        for raw in self.stderr_text().splitlines():
            entry = json.loads(raw)  # every line is JSON (log.format = json)
            if entry.get("msg") == "request":
                lines.append(entry)
        return lines


def run_flow(test: unittest.TestCase, server: harness.Server, wrong_password_first: bool = False) -> dict:
    """Authorization code flow with the confidential client, then one refresh. Returns the secrets."""
    flow = Flow(test, server)
    client = server.confidential
    redirect_uri = client.redirect_uris[0]
    reply = flow.authorize(client, redirect_uri, "openid profile offline_access", extra={"prompt": "consent"})
    if wrong_password_first:
        test.assertEqual(reply.status, 303)
        page = flow.get_page(reply.location)
        bad = flow.login(page, password="wrong " + secrets.token_hex(4))
        test.assertEqual(bad.status, 401)
        reply = flow.login(flow.get_page(reply.location))
    reply = flow.complete(reply)
    code = flow.code_from(reply, redirect_uri)
    tokens = flow.exchange(client, code, redirect_uri)
    test.assertEqual(tokens.status, 200, tokens.text)
    body = tokens.json()
    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                           headers={"Authorization": basic_auth(client.client_id, client.secret)})
    test.assertEqual(refreshed.status, 200, refreshed.text)
    interaction_ids = {p.url.split("/")[2] for p in flow.pages if p.url.startswith("/interaction/")}
    return {
        "code": code, "code_verifier": flow.verifier, "state": flow.state, "nonce": flow.nonce,
        "access_token": body["access_token"], "refresh_token": body["refresh_token"], "id_token": body["id_token"],
        "new_refresh_token": refreshed.json()["refresh_token"],
        "password": server.user.password, "client_secret": client.secret,
        **{f"interaction_{i}": v for i, v in enumerate(sorted(interaction_ids))},
        **{f"cookie_{k}": v for k, v in flow.http.jar.cookies.items()},
    }


class PlainServerTest(unittest.TestCase):
    """One plain-HTTP server, JSON logs, 127.0.0.2 as the trusted proxy."""

    server: OpsServer

    @classmethod
    def setUpClass(cls):
        cls.server = OpsServer({"LATCHKEY_LOG_FORMAT": "json", "LATCHKEY_SERVER_TRUSTED_PROXIES": "127.0.0.2"})
        harness.STARTED.append(cls.server)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, f"SIGTERM: exit code {code}"

    def scrape(self) -> dict[str, float]:
        reply = self.server.http().get("/metrics")
        self.assertEqual(reply.status, 200, reply.text)
        self.assertEqual(reply.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        return metric_values(reply.text)

    def test_health_and_metrics_move_after_a_flow(self):
        self.assertEqual(self.server.http().get("/healthz").status, 200)
        before = self.scrape()
        run_flow(self, self.server, wrong_password_first=True)
        after = self.scrape()

        def delta(series: str) -> float:
            return after.get(series, 0) - before.get(series, 0)

        self.assertEqual(delta('latchkey_logins_total{result="ok"}'), 1)
        self.assertEqual(delta('latchkey_logins_total{result="failed"}'), 1)
        self.assertEqual(delta('latchkey_tokens_issued_total{grant_type="authorization_code"}'), 1)
        self.assertEqual(delta('latchkey_tokens_issued_total{grant_type="refresh_token"}'), 1)
        self.assertEqual(delta("latchkey_sessions_created_total"), 1)
        self.assertEqual(delta('latchkey_http_requests_total{endpoint="/token",status="200"}'), 2)
        self.assertEqual(delta('latchkey_http_requests_total{endpoint="/interaction",status="401"}'), 1)
        self.assertEqual(delta('latchkey_http_request_duration_seconds_count{endpoint="/token"}'), 2)
        self.assertGreater(delta('latchkey_http_request_duration_seconds_sum{endpoint="/interaction"}'), 0)
        self.assertEqual(after['latchkey_ready'], 1)
        self.assertGreaterEqual(after['latchkey_http_connections_open'], 1)

    def test_readyz_follows_the_database(self):
        # Method: the SQLite file is moved away and back. The server's open connections would keep
        # working on the moved file (so would chmod 000 for root, which CI may be), but a restart or
        # a new connection would not: readiness checks the file itself as well as a query.
        http_ = self.server.http()
        self.assertEqual(http_.get("/readyz").status, 200)
        path = self.server.db[len("sqlite:"):]
        os.rename(path, path + ".away")
        try:
            not_ready = http_.get("/readyz")
            self.assertEqual(not_ready.status, 503)
            self.assertNotIn(path, not_ready.text)  # the reason is logged, not told
            self.assertEqual(http_.get("/healthz").status, 200)  # alive all the same
            self.assertIn("latchkey_ready 0", http_.get("/metrics").text)
        finally:
            os.rename(path + ".away", path)
        self.assertEqual(http_.get("/readyz").status, 200)
        self.assertIn("not ready: database file", self.server.stderr_text())

    def test_request_log_has_a_line_per_request_and_no_secret(self):
        secrets_seen = run_flow(self, self.server)
        self.server.http().get("/authorize?client_id=x&state=q-" + secrets.token_hex(8))
        time.sleep(0.2)  # lines are written after the response; give the last one a moment
        lines = self.server.request_lines()
        # One line per request (statuses lists every request any test made to this server).
        self.assertEqual(len(lines), len(self.server.statuses),
                         f"{len(lines)} log lines for {len(self.server.statuses)} requests")
        for entry in lines:
            for field in ("ts", "request_id", "method", "path", "status", "duration_ms", "remote"):
                self.assertIn(field, entry)
            self.assertNotIn("?", entry["path"])
            self.assertRegex(entry["request_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(len({e["request_id"] for e in lines}), len(lines), "request ids repeat")
        log = self.server.stderr_text()
        for name, value in secrets_seen.items():
            self.assertTrue(value)
            self.assertNotIn(value, log, f"the log contains the {name}")
        self.assertNotIn("client_id=x", log)

    def test_request_id_is_returned(self):
        reply = self.server.http().get("/jwks")
        request_id = reply.header("X-Request-Id")
        self.assertRegex(request_id or "", r"^[0-9a-f]{32}$")
        time.sleep(0.2)
        self.assertIn(request_id, [e["request_id"] for e in self.server.request_lines()])

    def test_forwarded_for_only_from_trusted_proxies(self):
        def get_from(source: str, headers: dict[str, str]) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=harness.REQUEST_TIMEOUT,
                                              source_address=(source, 0))
            try:
                conn.request("GET", "/metrics", headers=headers)
                resp = conn.getresponse()
                resp.read()
                self.server.statuses.append(("GET", "/metrics", resp.status))
                return resp.status, resp.getheader("X-Request-Id")
            finally:
                conn.close()

        spoof = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
        # From an untrusted peer the header is ignored: the client is 127.0.0.1, which may scrape.
        status, untrusted_id = get_from("127.0.0.1", spoof)
        self.assertEqual(status, 200)
        # Through the trusted proxy the client is 198.51.100.7: not allowed to read /metrics.
        status, proxied_id = get_from("127.0.0.2", spoof)
        self.assertEqual(status, 403)
        time.sleep(0.2)
        by_id = {e["request_id"]: e for e in self.server.request_lines()}
        self.assertEqual(by_id[untrusted_id]["remote"], "127.0.0.1")
        self.assertEqual(by_id[untrusted_id]["scheme"], "http")
        self.assertEqual(by_id[proxied_id]["remote"], "198.51.100.7")
        self.assertEqual(by_id[proxied_id]["scheme"], "https")


# ---------------------------------------------------------------------------------------------
# TLS


def openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=COMMAND_TIMEOUT)


def make_ca(directory: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=Latchkey test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=directory)


def issue_server_certificate(directory: str, name: str, serial: int) -> None:
    """name.key / name.pem for IP 127.0.0.1, signed by the test CA."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
    with open(os.path.join(directory, f"{name}.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", str(serial),
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory)


def served_certificate_serial(port: int, context: ssl.SSLContext) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=harness.REQUEST_TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                          capture_output=True, check=True, timeout=COMMAND_TIMEOUT).stdout.decode()
    return int(text.strip().split("=", 1)[1], 16)


class TlsTest(unittest.TestCase):
    def setUp(self):
        self.pki = tempfile.mkdtemp(prefix="latchkey-ops-pki-")
        make_ca(self.pki)
        issue_server_certificate(self.pki, "first", 1)
        issue_server_certificate(self.pki, "second", 2)
        self.cert = os.path.join(self.pki, "server.pem")
        self.key = os.path.join(self.pki, "server.key")
        self.install("first")
        self.context = ssl.create_default_context(cafile=os.path.join(self.pki, "ca.pem"))
        self.server = OpsServer({"LATCHKEY_TLS_CERTIFICATE_FILE": self.cert, "LATCHKEY_TLS_PRIVATE_KEY_FILE": self.key,
                                 "LATCHKEY_LOG_FORMAT": "json"}, tls_context=self.context)
        harness.STARTED.append(self.server)
        self.server.start()

    def tearDown(self):
        self.server.stop()
        subprocess.run(["rm", "-rf", self.pki], timeout=COMMAND_TIMEOUT)

    def install(self, name: str) -> None:
        # Replaced by rename, as certbot and friends do: a reader never sees half a file.
        for suffix, target in (("pem", self.cert), ("key", self.key)):
            with open(os.path.join(self.pki, f"{name}.{suffix}"), "rb") as src, open(target + ".tmp", "wb") as dst:
                dst.write(src.read())
            os.replace(target + ".tmp", target)

    def wait_for_serial(self, serial: int) -> None:
        deadline = time.monotonic() + 10
        while served_certificate_serial(self.server.port, self.context) != serial:
            self.assertLess(time.monotonic(), deadline, f"certificate serial {serial} not served after SIGHUP")
            time.sleep(0.1)

    def test_handshake_flow_and_reload(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=harness.REQUEST_TIMEOUT) as raw:
            with self.context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(served_certificate_serial(self.server.port, self.context), 1)
        # Plain HTTP on the TLS port gets no HTTP answer.
        plain = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        with self.assertRaises((http.client.HTTPException, OSError)):
            plain.request("GET", "/healthz")
            plain.getresponse().read()
        plain.close()

        discovery = self.server.http().get("/.well-known/openid-configuration").json()
        self.assertEqual(discovery["issuer"], self.server.issuer)
        self.assertTrue(discovery["token_endpoint"].startswith("https://127.0.0.1:"))
        secrets_seen = run_flow(self, self.server)
        self.assertTrue(any(k.startswith("cookie___Host-") for k in secrets_seen), secrets_seen.keys())

        # A connection opened before the reload keeps working after it (the listener stays).
        keep = http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=harness.REQUEST_TIMEOUT,
                                           context=self.context)
        keep.request("GET", "/healthz")
        self.assertEqual(keep.getresponse().read(), b"ok\n")

        self.install("second")
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_for_serial(2)
        keep.request("GET", "/healthz")
        self.assertEqual(keep.getresponse().status, 200)
        keep.close()
        self.assertEqual(self.server.http().get("/readyz").status, 200)

        # A broken certificate file: the reload fails, the current certificate stays.
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "keeping the current TLS certificate" not in self.server.stderr_text():
            self.assertLess(time.monotonic(), deadline, "no log line for the failed reload")
            time.sleep(0.1)
        self.assertEqual(served_certificate_serial(self.server.port, self.context), 2)
        self.assertIsNone(self.server.proc.poll())
        self.assertEqual(self.server.request_lines()[-1]["scheme"], "https")


# ---------------------------------------------------------------------------------------------
# config check


class ConfigCheckTest(unittest.TestCase):
    def check(self, text: str) -> subprocess.CompletedProcess:
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(text)
        try:
            return subprocess.run([harness.server_binary(), "config", "check", f.name], capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        finally:
            os.unlink(f.name)

    def test_bad_key_is_named_with_its_line(self):
        result = self.check("[server]\nlisten = \"127.0.0.1:8080\"\n\n[log]\nlevel = \"info\"\nformt = \"json\"\n")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("log.formt: unknown key (line 6)", result.stderr)
        self.assertIn("did you mean log.format?", result.stderr)
        bad_value = self.check("[tls]\ncertificate_file = \"/c.pem\"\nprivate_key_file = 7\n")
        self.assertEqual(bad_value.returncode, 1)
        self.assertIn("tls.private_key_file: expected a string (line 3)", bad_value.stderr)

    def test_packaged_configuration_and_its_defaults_are_valid(self):
        with open(os.path.join(SOURCE_DIR, "packaging", "latchkey.toml")) as f:
            packaged = f.read()
        result = self.check(packaged)
        self.assertEqual((result.returncode, result.stdout.strip()), (0, "ok"), result.stderr)
        # Every commented default, uncommented, is a valid setting too.
        uncommented = re.sub(r"(?m)^# (\w+ = )", r"\1", packaged)
        self.assertGreaterEqual(len(re.findall(r"(?m)^\w+ = ", uncommented)), 30)
        # An empty string in the packaged file means "not set": leave those keys out.
        result = self.check(re.sub(r'(?m)^\w+ = ""[^\n]*$', "", uncommented))
        self.assertEqual((result.returncode, result.stdout.strip()), (0, "ok"), result.stderr)


if __name__ == "__main__":
    harness.run_tests()
