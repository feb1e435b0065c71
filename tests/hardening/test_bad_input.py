"""The bad-input matrix (issue 7 §1, §4): every endpoint of the real latchkey-server gets a generated
set of malformed requests, and each answer must be the exact RFC status and error code.

Run: LATCHKEY_SERVER_BIN=build/src/server/latchkey-server /usr/bin/python3 tests/hardening/test_bad_input.py

Requests are written as raw bytes on a socket (http.client would normalise most of the bad input).
Every case comes from its own made-up address through X-Forwarded-For (the server trusts 127.0.0.1
as a proxy here), so that the brute-force throttles, which count per address, never turn a case's
answer into 429. /healthz is asked between cases; a table per endpoint is printed at the end; the
run fails on any 5xx, on any connection dropped without an answer and on any slow connection that
the server did not close within its read timeout.

A second server with small limits shows the limits themselves: body and header sizes, the read
timeout for slow headers and bodies (slowloris), and the connection cap.
"""
from __future__ import annotations

import base64
import collections
import http.client
import json
import os
import secrets
import socket
import sys
import threading
import time
import unittest
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import Client, b64url, only_post_form, pkce_pair  # noqa: E402

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
READ_TIMEOUT = 2            # server.read_timeout_seconds of the matrix server
MAX_BODY = 64 * 1024        # the defaults of server.max_body_bytes and server.max_header_bytes
MAX_HEADER = 8 * 1024
SOCKET_TIMEOUT = 8.0        # no answer within this = a hung connection (a failure)
SLOW_CLOSE_BOUND = READ_TIMEOUT + 3.0
HEALTH_EVERY = 10
BROWSER_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"

# ---------------------------------------------------------------------------------------------
# Raw requests


@dataclass
class Req:
    method: str
    target: str
    headers: list[tuple[str, str | bytes]] = field(default_factory=list)
    body: bytes = b""
    host: bool = True              # add Host
    content_length: bool | None = None  # None: when there is a body or the method is POST
    raw: bytes | None = None       # the whole request as given, nothing added
    chunked: bool = False          # send the body with Transfer-Encoding: chunked

    def copy(self, **kw) -> "Req":
        d = dict(method=self.method, target=self.target, headers=list(self.headers), body=self.body, host=self.host,
                 content_length=self.content_length, raw=self.raw, chunked=self.chunked)
        d.update(kw)
        return Req(**d)

    def with_header(self, name: str, value: str | bytes) -> "Req":
        return self.copy(headers=[h for h in self.headers if h[0].lower() != name.lower()] + [(name, value)])

    def add_header(self, name: str, value: str | bytes) -> "Req":
        return self.copy(headers=self.headers + [(name, value)])

    def without_header(self, name: str) -> "Req":
        return self.copy(headers=[h for h in self.headers if h[0].lower() != name.lower()])

    def placeholders(self) -> set[bytes]:
        blob = self.target.encode("latin-1") + self.body + b"".join(
            v if isinstance(v, bytes) else v.encode("latin-1") for _, v in self.headers)
        return {p for p in PLACEHOLDERS if p in blob}

    def encode(self, port: int, address: str, subst: dict[bytes, bytes] | None = None) -> bytes:
        """`subst` fills placeholders per case (see PLACEHOLDERS) before Content-Length is counted."""
        if self.raw is not None:
            return self.raw

        def fill(b: bytes) -> bytes:
            for k, v in (subst or {}).items():
                b = b.replace(k, v)
            return b
        target = fill(self.target.encode("latin-1"))
        body = fill(self.body)
        lines = [self.method.encode("latin-1") + b" " + target + b" HTTP/1.1"]
        if self.host:
            lines.append(f"Host: 127.0.0.1:{port}".encode())
        for name, value in self.headers:
            v = value if isinstance(value, bytes) else value.encode("latin-1")
            lines.append(name.encode("latin-1") + b": " + fill(v))
        lines.append(b"X-Forwarded-For: " + address.encode())
        lines.append(b"Connection: close")
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = chunked(body)
        send_length = self.content_length if self.content_length is not None else (
            bool(body) or self.method == "POST") and not self.chunked
        if send_length:
            lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


# Filled in per case: a number unique to the case (a username nobody has, so that the per-account
# login throttle never sees the same name twice), and a fresh browser at the device page (its
# CSRF token and cookie; the wrong-code throttle counts per browser).
CASE_NUMBER = b"__N__"
DEVICE_CSRF = b"__DEVICE_CSRF__"
DEVICE_COOKIE = b"__DEVICE_COOKIE__"
PLACEHOLDERS = (CASE_NUMBER, DEVICE_CSRF, DEVICE_COOKIE)


def form(pairs) -> bytes:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return urllib.parse.urlencode(list(items)).encode("ascii")


FORM_TYPE = ("Content-Type", "application/x-www-form-urlencoded")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        return json.loads(self.body)


class Dropped(Exception):
    """The server closed the connection, or went silent, without an answer."""


def exchange(port: int, data: bytes, head: bool = False, timeout: float = SOCKET_TIMEOUT) -> Answer:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # an early answer (413, 431) may already be waiting: read it
        resp = http.client.HTTPResponse(s, method="HEAD" if head else "GET")
        try:
            resp.begin()
            body = resp.read()
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError,
                http.client.BadStatusLine) as e:
            raise Dropped(f"{type(e).__name__}: {e}") from None
        except socket.timeout:
            raise Dropped(f"no answer within {timeout}s") from None
        return Answer(resp.status, resp.headers, body)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Expectations


@dataclass
class Expect:
    status: int | tuple[int, ...]
    kind: str = "any"            # json | page | redirect | bearer | any
    error: str | None = None     # JSON "error", or the error parameter of a redirect
    allow: tuple[str, ...] | None = None  # methods the Allow header must list (405)
    www_authenticate: str | None = None    # prefix of WWW-Authenticate
    location_prefix: str | None = None
    check: Callable[[Answer], str | None] | None = None  # extra check: a message when it fails

    def problems(self, a: Answer) -> list[str]:
        out = []
        statuses = self.status if isinstance(self.status, tuple) else (self.status,)
        if a.status not in statuses:
            out.append(f"status {a.status}, expected {self.status}")
        if self.kind == "json":
            if a.content_type != "application/json":
                out.append(f"Content-Type {a.content_type!r}, expected application/json")
            else:
                try:
                    body = a.json()
                except ValueError:
                    out.append("body is not JSON")
                    body = {}
                if self.error is not None and body.get("error") != self.error:
                    out.append(f"error {body.get('error')!r}, expected {self.error!r}")
        elif self.kind == "page":
            if a.content_type != "text/html":
                out.append(f"Content-Type {a.content_type!r}, expected text/html (an error page)")
        elif self.kind == "redirect":
            loc = a.header("Location") or ""
            if not loc:
                out.append("no Location")
            elif self.location_prefix and not loc.startswith(self.location_prefix):
                out.append(f"Location {loc[:120]!r} does not start with {self.location_prefix!r}")
            if self.error is not None:
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
                if q.get("error") != self.error:
                    out.append(f"redirect error {q.get('error')!r}, expected {self.error!r} ({loc[:160]})")
        if self.allow is not None:
            allow = {m.strip().upper() for m in (a.header("Allow") or "").split(",") if m.strip()}
            if not allow or not set(self.allow) <= allow:
                out.append(f"Allow {a.header('Allow')!r}, expected {', '.join(self.allow)}")
        if self.www_authenticate is not None:
            wa = a.header("WWW-Authenticate") or ""
            if not wa.startswith(self.www_authenticate):
                out.append(f"WWW-Authenticate {wa!r}, expected {self.www_authenticate}...")
        if self.check is not None:
            msg = self.check(a)
            if msg:
                out.append(msg)
        return out


def json_error(error: str, status: int = 400, **kw) -> Expect:
    return Expect(status, "json", error, **kw)


INVALID_REQUEST = json_error("invalid_request")
INVALID_CLIENT_BASIC = json_error("invalid_client", 401, www_authenticate="Basic")
INVALID_CLIENT = json_error("invalid_client", 401)
INVALID_GRANT = json_error("invalid_grant")
PAGE_400 = Expect(400, "page")
PAGE_403 = Expect(403, "page")
TOO_LARGE = Expect(413)
HEADERS_TOO_LARGE = Expect(431)
BAD_HTTP = Expect(400)
JSON_TOO_LARGE = json_error("invalid_request", 413)


def bearer(error: str, status: int) -> Expect:
    return Expect(status, "json", error, www_authenticate="Bearer",
                  check=lambda a: None if f'error="{error}"' in (a.header("WWW-Authenticate") or "")
                  else f"WWW-Authenticate {a.header('WWW-Authenticate')!r} lacks error=\"{error}\"")


def method_not_allowed(allow: tuple[str, ...], kind: str = "any", error: str | None = None) -> Expect:
    return Expect(405, kind, error, allow=allow)


def body_is(expected: dict) -> Callable[[Answer], str | None]:
    def check(a: Answer) -> str | None:
        try:
            body = a.json()
        except ValueError:
            return "body is not JSON"
        for k, v in expected.items():
            if body.get(k) != v:
                return f"body {k}={body.get(k)!r}, expected {v!r}"
        return None
    return check


@dataclass
class Case:
    endpoint: str
    name: str
    req: Req
    expect: Expect
    head: bool = False


@dataclass
class SlowCase:
    endpoint: str
    name: str
    prefix: bytes  # sent at once; then nothing more


# ---------------------------------------------------------------------------------------------
# Servers


class MatrixServer(harness.Server):
    """The harness server (a confidential and a public client, one user) plus a confidential machine
    client (client_credentials, device flow) and a public device client."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__()
        self.env.update(env)
        self.machine = Client("hz-machine", b64url(secrets.token_bytes(32)), ["https://machine.example/unused"])
        self.device = Client("hz-device", None, ["https://device.example/unused"])

    def provision(self) -> None:
        super().provision()
        self.admin("client", "create", "--database", self.db, "--client-id", self.machine.client_id,
                   "--secret-stdin", "--scope", "openid profile reports:read", "--grant-type", "client_credentials",
                   "--grant-type", DEVICE_GRANT, "--redirect-uri", self.machine.redirect_uris[0], "--json",
                   stdin=self.machine.secret + "\n")
        self.admin("client", "create", "--database", self.db, "--client-id", self.device.client_id, "--public",
                   "--scope", "openid profile", "--grant-type", DEVICE_GRANT, "--redirect-uri",
                   self.device.redirect_uris[0], "--json")


def start(server: harness.Server) -> harness.Server:
    harness.STARTED.append(server)
    return server.start()


def basic(client_id: str, secret: str) -> str:
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def basic_raw(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


# ---------------------------------------------------------------------------------------------
# The matrix


class Fixture:
    """What the cases need from a live server: interactions, CSRF tokens, cookies and tokens."""

    def __init__(self, server: MatrixServer) -> None:
        self.s = server
        self.port = server.port
        s = server
        # Browser A: an authorize request parked at the login page.
        a = s.http()
        r = a.get("/authorize?" + urllib.parse.urlencode(self.authorize_params()))
        assert r.status == 303 and r.location.startswith("/interaction/"), (r.status, r.location)
        self.login_path = r.location + "/login"
        page = a.get(r.location)
        assert page.status == 200, page.status
        self.login_csrf = only_post_form(page.text).inputs["csrf"]
        self.login_cookies = a.jar.header()

        # Browser B: logs in, consents, redeems the code (tokens for the userinfo, refresh and
        # revocation cases), then a second request with prompt=consent parks at the consent page.
        b = s.http()
        verifier, challenge = pkce_pair()
        params = self.authorize_params(challenge, scope="openid profile offline_access")
        r = b.get("/authorize?" + urllib.parse.urlencode(params))
        page = b.get(r.location)
        login = only_post_form(page.text)
        r = b.post_form(urllib.parse.urljoin(page.url, login.action),
                        {**login.inputs, "username": s.user.username, "password": s.user.password})
        assert r.status == 303, (r.status, r.text[:300])
        page = b.get(r.location)
        consent = only_post_form(page.text)
        r = b.post_form(urllib.parse.urljoin(page.url, consent.action), {**consent.inputs, "decision": "allow"})
        assert r.status == 303 and r.location.startswith(s.public.redirect_uris[0]), (r.status, r.location)
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.location).query))["code"]
        r = b.post_form("/token", {"grant_type": "authorization_code", "code": code, "client_id": s.public.client_id,
                                   "redirect_uri": s.public.redirect_uris[0], "code_verifier": verifier})
        assert r.status == 200, r.text
        tokens = r.json()
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.id_token = tokens["id_token"]
        r = b.get("/authorize?" + urllib.parse.urlencode(self.authorize_params(prompt="consent")))
        assert r.status == 303 and r.location.startswith("/interaction/"), (r.status, r.location)
        self.consent_path = r.location + "/consent"
        page = b.get(r.location)
        self.consent_csrf = only_post_form(page.text).inputs["csrf"]
        self.consent_cookies = b.jar.header()

        # A machine token (no openid scope) for RFC 6750 insufficient_scope at userinfo.
        r = s.http().post_form("/token", {"grant_type": "client_credentials", "scope": "reports:read"},
                               headers={"Authorization": self.machine_basic()})
        assert r.status == 200, r.text
        self.machine_token = r.json()["access_token"]

        # A pending device code of the device client (RFC 8628 §3.5 pending and slow_down).
        r = s.http().post_form("/device_authorization", {"client_id": s.device.client_id, "scope": "openid"})
        assert r.status == 200, r.text
        self.device_code = r.json()["device_code"]

    def device_browser(self) -> tuple[str, str]:
        """A new browser at the device page: its CSRF token and cookies."""
        c = self.s.http()
        page = c.get("/device")
        assert page.status == 200, page.status
        return only_post_form(page.text).inputs["csrf"], c.jar.header()

    def authorize_params(self, challenge: str | None = None, scope: str = "openid profile", **extra) -> dict:
        if challenge is None:
            challenge = pkce_pair()[1]
        p = {"response_type": "code", "client_id": self.s.public.client_id,
             "redirect_uri": self.s.public.redirect_uris[0], "scope": scope, "state": "st-" + secrets.token_hex(4),
             "nonce": "n-" + secrets.token_hex(4), "code_challenge": challenge, "code_challenge_method": "S256"}
        p.update(extra)
        return p

    def confidential_basic(self) -> str:
        return basic(self.s.confidential.client_id, self.s.confidential.secret)

    def machine_basic(self) -> str:
        return basic(self.s.machine.client_id, self.s.machine.secret)


class Matrix:
    def __init__(self, fx: Fixture) -> None:
        self.fx = fx
        self.cases: list[Case] = []
        self.slow: list[SlowCase] = []

    def add(self, endpoint: str, name: str, req: Req, expect: Expect, head: bool = False) -> None:
        self.cases.append(Case(endpoint, name, req, expect, head))

    # -- generators --------------------------------------------------------------------------
    def param_mutations(self, endpoint: str, base: list[tuple[str, str]], build: Callable[[list], Req],
                        missing: dict[str, Expect], dup: Callable[[str], Expect], bad: Expect,
                        oversized: dict[str, Expect]) -> None:
        """Missing, duplicated, oversized, wrong-typed, invalid UTF-8 and NUL variants of every
        parameter. `build` turns (raw, already encoded) name=value pieces into the request."""
        enc = [(urllib.parse.quote_plus(k), urllib.parse.quote_plus(v)) for k, v in base]

        def pieces(items):
            return "&".join(f"{k}={v}" for k, v in items)
        for i, (name, _) in enumerate(base):
            others = enc[:i] + enc[i + 1:]
            self.add(endpoint, f"missing {name}", build(pieces(others)), missing[name])
            self.add(endpoint, f"{name}[] instead of {name}", build(pieces(others + [(name + "%5B%5D", enc[i][1])])),
                     missing[name])
            self.add(endpoint, f"duplicated {name}", build(pieces(enc + [enc[i]])), dup(name))
            self.add(endpoint, f"empty {name}", build(pieces(others + [(enc[i][0], "")])), missing[name])
            self.add(endpoint, f"oversized {name}", build(pieces(others + [(enc[i][0], "A" * 3000)])), oversized[name])
            self.add(endpoint, f"invalid UTF-8 in {name}", build(pieces(others + [(enc[i][0], enc[i][1] + "%C3%28")])),
                     bad)
            self.add(endpoint, f"%00 in {name}", build(pieces(others + [(enc[i][0], enc[i][1] + "%00x")])), bad)
            self.add(endpoint, f"bad escape in {name}", build(pieces(others + [(enc[i][0], enc[i][1] + "%G1")])), bad)
        self.add(endpoint, "overlong UTF-8 name", build(pieces(enc + [("%C0%AFx", "1")])), bad)
        self.add(endpoint, "lone surrogate", build(pieces(enc + [("x", "%ED%A0%80")])), bad)

    def body_raw_bytes(self, endpoint: str, req: Req, bad: Expect) -> None:
        """Raw NUL and raw non-UTF-8 bytes in a form body."""
        self.add(endpoint, "raw NUL in body", req.copy(body=req.body + b"&x=a\x00b"), bad)
        self.add(endpoint, "raw 0xFF in body", req.copy(body=req.body + b"&x=\xff\xfe"), bad)
        self.add(endpoint, "raw NUL in name", req.copy(body=b"\x00=1&" + req.body), bad)

    def content_types(self, endpoint: str, req: Req, bad: Expect, json_body: bytes) -> None:
        self.add(endpoint, "no Content-Type", req.without_header("Content-Type"), bad)
        self.add(endpoint, "Content-Type text/plain", req.with_header("Content-Type", "text/plain"), bad)
        self.add(endpoint, "Content-Type multipart", req.with_header(
            "Content-Type", "multipart/form-data; boundary=x"), bad)
        self.add(endpoint, "JSON body", req.copy(body=json_body).with_header("Content-Type", "application/json"), bad)
        self.add(endpoint, "Content-Type garbage", req.with_header("Content-Type", ";;;==/"), bad)
        # RFC 9110 §5.5: control characters are not allowed in field values.
        self.add(endpoint, "control characters in Content-Type", req.with_header("Content-Type", "\x01\x7f;;;=="),
                 BAD_HTTP)

    def http_level(self, endpoint: str, req: Req, json_endpoint: bool, allow: tuple[str, ...],
                   method_kind: str = "any", method_error: str | None = None, baseline: Expect | None = None) -> None:
        """What any endpoint must survive: HTTP framing errors, huge headers and bodies, bad methods,
        garbage cookies."""
        too_large = JSON_TOO_LARGE if json_endpoint else Expect(413, "page")
        self.add(endpoint, "huge header (one)", req.add_header("X-Junk", "a" * (MAX_HEADER + 100)), HEADERS_TOO_LARGE)
        self.add(endpoint, "huge header (many)", req.copy(headers=req.headers + [
            (f"X-Junk-{i}", "b" * 90) for i in range(MAX_HEADER // 90 + 10)]), HEADERS_TOO_LARGE)
        self.add(endpoint, "huge cookie", req.add_header("Cookie", "c=" + "x" * (MAX_HEADER + 10)), HEADERS_TOO_LARGE)
        self.add(endpoint, "huge target", req.copy(target=req.target.split("?")[0] + "?pad=" + "p" * (MAX_HEADER + 10)),
                 Expect((414, 431, 400)))
        self.add(endpoint, "oversized body", req.copy(method="POST", body=b"a=" + b"x" * (MAX_BODY + 10))
                 .with_header(*FORM_TYPE), too_large)
        self.add(endpoint, "oversized Content-Length, no body", req.copy(
            method="POST", body=b"", content_length=False).with_header(*FORM_TYPE).add_header(
            "Content-Length", str(10 * MAX_BODY)), too_large)
        self.add(endpoint, "oversized chunked body", req.copy(
            method="POST", body=chunked(b"a=" + b"x" * (MAX_BODY + 10)), content_length=False).with_header(
            *FORM_TYPE).add_header("Transfer-Encoding", "chunked"), too_large)
        for m in ("PUT", "DELETE", "PATCH", "TRACE", "FOO"):
            if m not in allow:
                self.add(endpoint, f"method {m}", req.copy(method=m, body=b"", content_length=False),
                         method_not_allowed(allow, method_kind, method_error))
        self.add(endpoint, "no Host (HTTP/1.1)", req.copy(host=False), BAD_HTTP)
        self.add(endpoint, "two Host headers", req.add_header("Host", "evil.example"), BAD_HTTP)
        self.add(endpoint, "Content-Length and chunked", req.copy(method="POST", body=chunked(b"a=1"),
                                                                  content_length=False).add_header(
            "Transfer-Encoding", "chunked").add_header("Content-Length", "8"), BAD_HTTP)
        self.add(endpoint, "Content-Length not a number", req.copy(method="POST", body=b"a=1", content_length=False)
                 .add_header("Content-Length", "3x"), BAD_HTTP)
        self.add(endpoint, "Content-Length negative", req.copy(method="POST", body=b"", content_length=False)
                 .add_header("Content-Length", "-1"), BAD_HTTP)
        self.add(endpoint, "two different Content-Lengths", req.copy(method="POST", body=b"a=1", content_length=False)
                 .add_header("Content-Length", "3").add_header("Content-Length", "4"), BAD_HTTP)
        self.add(endpoint, "bad chunk size", req.copy(method="POST", body=b"zz\r\nabc\r\n0\r\n\r\n",
                                                      content_length=False).add_header("Transfer-Encoding", "chunked"),
                 BAD_HTTP)
        self.add(endpoint, "unknown Transfer-Encoding", req.copy(method="POST", body=b"a=1", content_length=False)
                 .add_header("Transfer-Encoding", "gzip"), Expect((400, 501)))
        path = req.target.split("?")[0]
        self.add(endpoint, "raw NUL in target", req.copy(target=path + "?a=\x00"), BAD_HTTP)
        self.add(endpoint, "raw space in target", req.copy(target=path + "?a= b"), BAD_HTTP)
        self.add(endpoint, "raw NUL in header value", req.add_header("X-Junk", b"a\x00b"), BAD_HTTP)
        self.add(endpoint, "header without colon", req.add_header("X-Junk-No-Colon" + "\r\nbroken", "x"), BAD_HTTP)
        self.add(endpoint, "absolute-form target", req.copy(target="http://evil.example" + req.target), BAD_HTTP)
        self.add(endpoint, "request line garbage", Req("", "", raw=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
                                                                     b"\r\n\r\n"), BAD_HTTP)
        self.add(endpoint, "HTTP/2 preface", Req("", "", raw=b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Expect((400, 505)))
        if baseline is not None:
            for i, cookie in enumerate(GARBAGE_COOKIES):
                self.add(endpoint, f"garbage cookie {i}", req.add_header("Cookie", cookie), baseline)
            if req.body:
                self.add(endpoint, "chunked body (valid)", req.copy(chunked=True), baseline)
        # Slow clients: headers cut short; headers whole and half the body.
        head = req.encode(self.fx.port, "10.255.0.1")
        self.slow.append(SlowCase(endpoint, "slow headers", head[: max(10, head.find(b"\r\n") + 2)]))
        if req.body:
            cut = head.find(b"\r\n\r\n") + 4 + len(req.body) // 2
            self.slow.append(SlowCase(endpoint, "slow body", head[:cut]))

    # -- endpoints ---------------------------------------------------------------------------
    def client_post(self, path: str, params, auth: str | None, extra_headers=()) -> Req:
        headers = [FORM_TYPE]
        if auth:
            headers.append(("Authorization", auth))
        headers.extend(extra_headers)
        body = params.encode() if isinstance(params, str) else form(params)
        return Req("POST", path, headers, body)

    def client_auth_cases(self, endpoint: str, path: str, params: list, ok: Expect, public_ok: Expect | None) -> None:
        """RFC 6749 §2.3.1 credentials, broken in every way; the form part stays well-formed."""
        fx = self.fx
        cid = fx.s.confidential.client_id
        sec = fx.s.confidential.secret

        def post(auth, extra=()):
            return self.client_post(path, params + list(extra), auth)
        self.add(endpoint, "Basic: correct", post(fx.confidential_basic()), ok)
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before Base64; %-escapes of plain
        # characters must decode to the same credentials.
        escaped = "".join(f"%{b:02X}" for b in sec.encode())
        self.add(endpoint, "Basic: secret fully %-escaped", post(basic_raw(f"{cid}:{escaped}".encode())), ok)
        self.add(endpoint, "Basic: scheme in lower case", post("basic " + fx.confidential_basic()[6:]), ok)
        self.add(endpoint, "Basic: wrong secret", post(basic(cid, sec + "x")), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: unknown client", post(basic("no-such-" + secrets.token_hex(3), sec)),
                 INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: bad base64", post("Basic !!!not*base64@@"), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: base64 without padding", post("Basic " + base64.b64encode(
            f"{cid}:{sec}x".encode()).decode().rstrip("=")), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: no colon", post(basic_raw(cid.encode() + sec.encode())), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: empty", post("Basic "), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: only scheme", post("Basic"), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: empty id", post(basic_raw(b":" + sec.encode())), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: non-UTF-8 id", post(basic_raw(b"\xff\xfe:" + sec.encode())), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: non-UTF-8 secret", post(basic_raw(cid.encode() + b":\xff\xfe")),
                 INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: %zz in id", post(basic_raw(b"%zz:" + sec.encode())), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: %C3%28 in id", post(basic_raw(b"x%C3%28:" + sec.encode())), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: %00 in id", post(basic_raw(cid.encode() + b"%00:" + sec.encode())),
                 INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: truncated %", post(basic_raw(cid.encode() + b":" + sec.encode() + b"%4")),
                 INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: NUL bytes", post(basic_raw(b"\x00\x00:\x00")), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Basic: 4 KB of base64", post("Basic " + "QUFB" * 1000), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Authorization: Bearer", post("Bearer abc"), INVALID_CLIENT_BASIC)
        self.add(endpoint, "Authorization: Digest", post('Digest username="x"'), INVALID_CLIENT_BASIC)
        self.add(endpoint, "two Authorization headers", self.client_post(
            path, params, fx.confidential_basic(), [("Authorization", fx.confidential_basic())]), INVALID_REQUEST)
        self.add(endpoint, "Basic and client_secret", post(fx.confidential_basic(), [("client_secret", sec)]),
                 INVALID_REQUEST)
        self.add(endpoint, "Basic and another client_id", post(fx.confidential_basic(), [("client_id", "other")]),
                 INVALID_CLIENT_BASIC)
        self.add(endpoint, "client_secret_post: correct", post(None, [("client_id", cid), ("client_secret", sec)]), ok)
        self.add(endpoint, "client_secret_post: wrong", post(None, [("client_id", cid), ("client_secret", "x")]),
                 INVALID_CLIENT)
        self.add(endpoint, "client_secret_post: no client_id", post(None, [("client_secret", sec)]), INVALID_CLIENT)
        self.add(endpoint, "no client authentication", post(None), INVALID_CLIENT)
        self.add(endpoint, "confidential client without secret", post(None, [("client_id", cid)]), INVALID_CLIENT)
        self.add(endpoint, "client_id twice", post(None, [("client_id", cid), ("client_id", cid),
                                                          ("client_secret", sec)]), INVALID_REQUEST)
        self.add(endpoint, "oversized client_id", post(None, [("client_id", "c" * 5000)]), INVALID_CLIENT)
        self.add(endpoint, "public client with a secret", post(None, [("client_id", fx.s.public.client_id),
                                                                      ("client_secret", "x")]), INVALID_CLIENT)
        if public_ok is not None:
            self.add(endpoint, "public client (none)", post(None, [("client_id", fx.s.public.client_id)]), public_ok)
        self.add(endpoint, "parameters in the URL", self.client_post(path + "?client_id=" + cid, params,
                                                                     fx.confidential_basic()), INVALID_REQUEST)

    def form_endpoint(self, endpoint: str, path: str, params: list[tuple[str, str]], auth: str,
                      ok: Expect, missing: dict[str, Expect], oversized: dict[str, Expect],
                      public_ok: Expect | None = None, with_auth_cases: bool = True) -> None:
        def build(raw_body):
            return self.client_post(path, raw_body, auth)
        self.param_mutations(endpoint, params, build, missing, lambda n: INVALID_REQUEST, INVALID_REQUEST, oversized)
        base = self.client_post(path, params, auth)
        self.add(endpoint, "well-formed", base, ok)
        self.add(endpoint, "form with charset", base.with_header("Content-Type",
                                                                 "Application/X-WWW-Form-Urlencoded; charset=UTF-8"), ok)
        self.add(endpoint, "empty body", base.copy(body=b""), missing[params[0][0]])
        self.add(endpoint, "body of ampersands", base.copy(body=b"&&&&"), missing[params[0][0]])
        self.add(endpoint, "parameters without names", base.copy(body=b"=&=1"), INVALID_REQUEST)
        self.add(endpoint, "unknown parameter", self.client_post(path, params + [("zz_unknown", "1")], auth), ok)
        self.body_raw_bytes(endpoint, base, INVALID_REQUEST)
        self.content_types(endpoint, base, INVALID_REQUEST, json.dumps(dict(params)).encode())
        if with_auth_cases:
            self.client_auth_cases(endpoint, path, params, ok, public_ok)
        self.add(endpoint, "GET instead of POST", Req("GET", path + "?" + form(params).decode(),
                                                      [("Authorization", auth)]),
                 method_not_allowed(("POST",), "json", "invalid_request"))
        self.http_level(endpoint, base, True, ("POST",), "json", "invalid_request", baseline=ok)

    def token_endpoints(self) -> None:
        fx = self.fx
        s = fx.s
        # authorization_code: a well-formed request whose code is unknown.
        params = [("grant_type", "authorization_code"), ("code", "bogus-" + secrets.token_hex(8)),
                  ("redirect_uri", s.confidential.redirect_uris[0]), ("code_verifier", pkce_pair()[0])]
        missing = {"grant_type": INVALID_REQUEST, "code": INVALID_REQUEST, "redirect_uri": INVALID_GRANT,
                   "code_verifier": INVALID_GRANT}
        oversized = {"grant_type": json_error("unsupported_grant_type"), "code": INVALID_GRANT,
                     "redirect_uri": INVALID_GRANT, "code_verifier": INVALID_GRANT}
        self.form_endpoint("token authorization_code", "/token", params, fx.confidential_basic(), INVALID_GRANT,
                           missing, oversized, public_ok=INVALID_GRANT)
        e = "token authorization_code"
        self.add(e, "grant_type unknown", self.client_post("/token", [("grant_type", "password"), ("username", "a"),
                                                                       ("password", "b")], fx.confidential_basic()),
                 json_error("unsupported_grant_type"))
        self.add(e, "grant_type as number", self.client_post("/token", [("grant_type", "42")],
                                                             fx.confidential_basic()),
                 json_error("unsupported_grant_type"))
        self.add(e, "grant_type in upper case", self.client_post("/token", [("grant_type", "AUTHORIZATION_CODE"),
                                                                            ("code", "x")], fx.confidential_basic()),
                 json_error("unsupported_grant_type"))
        self.add(e, "grant not allowed for client", self.client_post("/token", [("grant_type", "client_credentials")],
                                                                     fx.confidential_basic()),
                 json_error("unauthorized_client"))
        self.add(e, "code of 600 bytes", self.client_post("/token", [("grant_type", "authorization_code"),
                                                                     ("code", "c" * 600)], fx.confidential_basic()),
                 INVALID_GRANT)

        # refresh_token: a real refresh token of the public client.
        params = [("grant_type", "refresh_token"), ("refresh_token", "bogus-" + secrets.token_hex(8)),
                  ("scope", "openid")]
        e = "token refresh_token"
        missing = {"grant_type": INVALID_REQUEST, "refresh_token": INVALID_REQUEST, "scope": INVALID_GRANT}
        oversized = {"grant_type": json_error("unsupported_grant_type"), "refresh_token": INVALID_GRANT,
                     "scope": INVALID_GRANT}
        self.form_endpoint(e, "/token", params, fx.confidential_basic(), INVALID_GRANT, missing, oversized,
                           public_ok=INVALID_GRANT)
        pub = [("client_id", s.public.client_id)]
        self.add(e, "real token, wider scope", self.client_post("/token", [
            ("grant_type", "refresh_token"), ("refresh_token", fx.refresh_token), ("scope", "openid email")] + pub, None),
            json_error("invalid_scope"))
        self.add(e, "real token, unknown scope", self.client_post("/token", [
            ("grant_type", "refresh_token"), ("refresh_token", fx.refresh_token), ("scope", "\u00e9t\u00e9")] + pub,
            None), json_error("invalid_scope"))
        self.add(e, "real token, another client", self.client_post("/token", [
            ("grant_type", "refresh_token"), ("refresh_token", fx.refresh_token)], fx.confidential_basic()),
            INVALID_GRANT)
        self.add(e, "access token as refresh token", self.client_post("/token", [
            ("grant_type", "refresh_token"), ("refresh_token", fx.access_token)] + pub, None), INVALID_GRANT)

        # client_credentials of the machine client.
        params = [("grant_type", "client_credentials"), ("scope", "reports:read")]
        e = "token client_credentials"
        ok = Expect(200, "json", check=lambda a: None if a.json().get("token_type", "").lower() == "bearer"
                    and a.json().get("access_token") else "no Bearer access_token")
        missing = {"grant_type": INVALID_REQUEST, "scope": ok}
        oversized = {"grant_type": json_error("unsupported_grant_type"), "scope": json_error("invalid_scope")}
        self.form_endpoint(e, "/token", params, fx.machine_basic(), ok, missing, oversized, with_auth_cases=False)
        self.add(e, "scope not allowed", self.client_post("/token", [("grant_type", "client_credentials"),
                                                                     ("scope", "admin")], fx.machine_basic()),
                 json_error("invalid_scope"))
        self.add(e, "scope with control character", self.client_post("/token", [
            ("grant_type", "client_credentials"), ("scope", "reports:read\x01")], fx.machine_basic()),
            json_error("invalid_scope"))
        self.add(e, "public client", self.client_post("/token", [("grant_type", "client_credentials"),
                                                                 ("client_id", s.public.client_id)], None),
                 json_error("unauthorized_client"))
        self.add(e, "machine: wrong secret", self.client_post("/token", params, basic(s.machine.client_id, "nope")),
                 INVALID_CLIENT_BASIC)

        # device_code: an unknown code, then the real pending one (RFC 8628 §3.5).
        params = [("grant_type", DEVICE_GRANT), ("device_code", "bogus-" + secrets.token_hex(8))]
        e = "token device_code"
        missing = {"grant_type": INVALID_REQUEST, "device_code": INVALID_REQUEST}
        oversized = {"grant_type": json_error("unsupported_grant_type"), "device_code": INVALID_GRANT}
        self.form_endpoint(e, "/token", params, fx.machine_basic(), INVALID_GRANT, missing, oversized,
                           with_auth_cases=False)
        dev = [("client_id", s.device.client_id)]
        self.add(e, "pending code, first poll", self.client_post("/token", [
            ("grant_type", DEVICE_GRANT), ("device_code", fx.device_code)] + dev, None),
            json_error("authorization_pending"))
        self.add(e, "pending code, polled at once again", self.client_post("/token", [
            ("grant_type", DEVICE_GRANT), ("device_code", fx.device_code)] + dev, None), json_error("slow_down"))
        self.add(e, "another client's device code", self.client_post("/token", [
            ("grant_type", DEVICE_GRANT), ("device_code", fx.device_code)], fx.machine_basic()), INVALID_GRANT)

    def revocation_introspection(self) -> None:
        fx = self.fx
        # RFC 7009 §2.2: unknown tokens are revoked "successfully"; §2.2.1 errors are §5.2 JSON.
        ok = Expect(200)
        params = [("token", "bogus-" + secrets.token_hex(8)), ("token_type_hint", "refresh_token")]
        missing = {"token": INVALID_REQUEST, "token_type_hint": ok}
        oversized = {"token": ok, "token_type_hint": ok}
        self.form_endpoint("revocation", "/revoke", params, fx.confidential_basic(), ok, missing, oversized,
                           public_ok=ok)
        self.add("revocation", "another client's refresh token", self.client_post(
            "/revoke", [("token", fx.refresh_token)], fx.confidential_basic()), json_error("unauthorized_client"))
        self.add("revocation", "token_type_hint unknown", self.client_post(
            "/revoke", [("token", "x"), ("token_type_hint", "saml")], fx.confidential_basic()), ok)

        # RFC 7662 §2.2: anything not active is {"active": false}; §2.3 errors as RFC 6749 §5.2.
        inactive = Expect(200, "json", check=body_is({"active": False}))
        params = [("token", "bogus-" + secrets.token_hex(8)), ("token_type_hint", "access_token")]
        missing = {"token": INVALID_REQUEST, "token_type_hint": inactive}
        oversized = {"token": inactive, "token_type_hint": inactive}
        self.form_endpoint("introspection", "/introspect", params, fx.confidential_basic(), inactive, missing,
                           oversized, public_ok=INVALID_CLIENT)
        self.add("introspection", "malformed JWT", self.client_post("/introspect", [("token", "a.b.c")],
                                                                    fx.confidential_basic()), inactive)
        self.add("introspection", "JWT with alg none", self.client_post("/introspect", [(
            "token", b64url(b'{"alg":"none"}') + "." + b64url(b'{"sub":"x","exp":9999999999}') + ".")],
            fx.confidential_basic()), inactive)
        self.add("introspection", "live access token", self.client_post("/introspect", [("token", fx.access_token)],
                                                                        fx.confidential_basic()),
                 Expect(200, "json", check=body_is({"active": True})))

    def device_authorization(self) -> None:
        fx = self.fx
        ok = Expect(200, "json", check=lambda a: None if {"device_code", "user_code", "verification_uri",
                                                          "expires_in"} <= set(a.json()) else "fields missing")
        params = [("scope", "openid profile")]
        missing = {"scope": json_error("invalid_scope")}
        oversized = {"scope": json_error("invalid_scope")}
        self.form_endpoint("device authorization", "/device_authorization", params, fx.machine_basic(), ok, missing,
                           oversized, with_auth_cases=False)
        self.add("device authorization", "client without the device grant", self.client_post(
            "/device_authorization", params, fx.confidential_basic()), json_error("unauthorized_client"))
        self.add("device authorization", "unknown scope", self.client_post(
            "/device_authorization", [("scope", "openid admin")], fx.machine_basic()), json_error("invalid_scope"))
        self.add("device authorization", "wrong secret", self.client_post(
            "/device_authorization", params, basic(fx.s.machine.client_id, "x")), INVALID_CLIENT_BASIC)

    def userinfo(self) -> None:
        fx = self.fx
        e = "userinfo"
        ok = Expect(200, "json", check=lambda a: None if a.json().get("sub") else "no sub")
        at = fx.access_token
        no_token = Expect(401, "json", www_authenticate="Bearer")
        get = Req("GET", "/userinfo", [("Authorization", "Bearer " + at)])
        self.add(e, "GET with token", get, ok)
        self.add(e, "POST form token", Req("POST", "/userinfo", [FORM_TYPE], form({"access_token": at})), ok)
        self.add(e, "scheme lower case", get.with_header("Authorization", "bearer " + at), ok)
        self.add(e, "no token", Req("GET", "/userinfo"), no_token)
        self.add(e, "token in the query", Req("GET", "/userinfo?access_token=" + at), no_token)
        self.add(e, "garbage token", get.with_header("Authorization", "Bearer garbage"), bearer("invalid_token", 401))
        self.add(e, "tampered token", get.with_header("Authorization", "Bearer " + tampered(at)),
                 bearer("invalid_token", 401))
        self.add(e, "alg none token", get.with_header("Authorization", "Bearer " + b64url(b'{"alg":"none"}') + "." +
                                                      at.split(".")[1] + "."), bearer("invalid_token", 401))
        self.add(e, "ID token as access token", get.with_header("Authorization", "Bearer " + fx.id_token),
                 bearer("invalid_token", 401))
        self.add(e, "refresh token as access token", get.with_header("Authorization", "Bearer " + fx.refresh_token),
                 bearer("invalid_token", 401))
        self.add(e, "token without openid scope", get.with_header("Authorization", "Bearer " + fx.machine_token),
                 bearer("insufficient_scope", 403))
        self.add(e, "oversized token", get.with_header("Authorization", "Bearer " + "A" * 6000),
                 bearer("invalid_token", 401))
        self.add(e, "non-UTF-8 token", get.with_header("Authorization", b"Bearer \xff\xfe\xfd"),
                 bearer("invalid_token", 401))
        self.add(e, "Basic scheme", get.with_header("Authorization", basic("a", "b")), bearer("invalid_request", 400))
        self.add(e, "Bearer without token", get.with_header("Authorization", "Bearer"), bearer("invalid_request", 400))
        self.add(e, "Bearer and spaces", get.with_header("Authorization", "Bearer    "), bearer("invalid_request", 400))
        self.add(e, "two Authorization headers", get.add_header("Authorization", "Bearer " + at),
                 bearer("invalid_request", 400))
        self.add(e, "header and body token", Req("POST", "/userinfo", [FORM_TYPE, ("Authorization", "Bearer " + at)],
                                                 form({"access_token": at})), bearer("invalid_request", 400))
        self.add(e, "access_token twice in body", Req("POST", "/userinfo", [FORM_TYPE], form(
            [("access_token", at), ("access_token", at)])), bearer("invalid_request", 400))
        self.add(e, "body token, JSON body", Req("POST", "/userinfo", [("Content-Type", "application/json")],
                                                 json.dumps({"access_token": at}).encode()), no_token)
        self.add(e, "body token, bad escape", Req("POST", "/userinfo", [FORM_TYPE], b"access_token=%G1"),
                 bearer("invalid_request", 400))
        self.add(e, "body token, NUL", Req("POST", "/userinfo", [FORM_TYPE], b"access_token=a%00b"),
                 bearer("invalid_request", 400))
        self.add(e, "HEAD", get.copy(method="HEAD"), Expect(405, allow=("GET", "POST")), head=True)
        self.http_level(e, get, True, ("GET", "POST"), "json", "invalid_request", baseline=ok)

    def authorize(self) -> None:
        fx = self.fx
        s = fx.s
        redirect = s.public.redirect_uris[0]
        started = Expect(303, "redirect", location_prefix="/interaction/")

        def back(err):
            return Expect(303, "redirect", err, location_prefix=redirect)
        base_params = list(fx.authorize_params().items())
        missing = {"response_type": back("invalid_request"), "client_id": PAGE_400, "redirect_uri": PAGE_400,
                   "scope": back("invalid_scope"), "state": started, "nonce": started,
                   "code_challenge": back("invalid_request"), "code_challenge_method": back("invalid_request")}
        oversized = {"response_type": back("unsupported_response_type"), "client_id": PAGE_400,
                     "redirect_uri": PAGE_400, "scope": back("invalid_scope"), "state": started,
                     "nonce": back("invalid_request"), "code_challenge": back("invalid_request"),
                     "code_challenge_method": back("invalid_request")}

        def dup(name):
            return PAGE_400 if name in ("client_id", "redirect_uri") else back("invalid_request")
        browser = [("Accept", BROWSER_ACCEPT)]
        for method in ("GET", "POST"):
            e = f"authorize {method}"

            def build(raw, method=method):
                if method == "GET":
                    return Req("GET", "/authorize?" + raw, list(browser))
                return Req("POST", "/authorize", browser + [FORM_TYPE], raw.encode())
            self.param_mutations(e, base_params, build, missing, dup, PAGE_400, oversized)
            base = build(form(base_params).decode())
            self.add(e, "well-formed", base, started)
            self.add(e, "no parameters", build(""), PAGE_400)
            self.add(e, "unknown client", build(form(dict(base_params, client_id="nope")).decode()), PAGE_400)
            self.add(e, "unregistered redirect_uri", build(form(dict(
                base_params, redirect_uri="https://evil.example/cb")).decode()), PAGE_400)
            self.add(e, "redirect_uri with extra path", build(form(dict(
                base_params, redirect_uri=redirect + "/../evil")).decode()), PAGE_400)
            self.add(e, "redirect_uri with fragment", build(form(dict(
                base_params, redirect_uri=redirect + "#x")).decode()), PAGE_400)
            self.add(e, "response_type token", build(form(dict(base_params, response_type="token")).decode()),
                     back("unsupported_response_type"))
            self.add(e, "response_type code id_token", build(form(dict(
                base_params, response_type="code id_token")).decode()), back("unsupported_response_type"))
            self.add(e, "code_challenge_method plain", build(form(dict(
                base_params, code_challenge_method="plain")).decode()), back("invalid_request"))
            self.add(e, "code_challenge too short", build(form(dict(base_params, code_challenge="abc")).decode()),
                     back("invalid_request"))
            self.add(e, "unknown scope", build(form(dict(base_params, scope="openid admin")).decode()),
                     back("invalid_scope"))
            self.add(e, "request object", build(form(dict(base_params, request="e30.e30.")).decode()),
                     back("invalid_request"))
            self.add(e, "response_mode fragment", build(form(dict(base_params, response_mode="fragment")).decode()),
                     back("invalid_request"))
            self.add(e, "prompt=none without session", build(form(dict(base_params, prompt="none")).decode()),
                     back("login_required"))
            self.add(e, "prompt unknown", build(form(dict(base_params, prompt="bogus")).decode()),
                     back("invalid_request"))
            self.add(e, "max_age not a number", build(form(dict(base_params, max_age="soon")).decode()),
                     back("invalid_request"))
            self.add(e, "max_age negative", build(form(dict(base_params, max_age="-1")).decode()),
                     back("invalid_request"))
            self.add(e, "max_age huge", build(form(dict(base_params, max_age="9" * 40)).decode()),
                     back("invalid_request"))
            if method == "POST":
                self.body_raw_bytes(e, base, PAGE_400)
                self.content_types(e, base, PAGE_400, json.dumps(dict(base_params)).encode())
            else:
                self.add(e, "raw 0xFF in target", base.copy(target=base.target + "&x=\xff"), (BAD_HTTP))
            self.http_level(e, base, False, ("GET", "POST"), "page", baseline=started)

    def interaction(self) -> None:
        fx = self.fx
        browser = ("Accept", BROWSER_ACCEPT)
        # The login form.
        e = "login form"
        fields = [("csrf", fx.login_csrf), ("username", "nobody-__N__"), ("password", "wrong")]

        def login(body, cookies=fx.login_cookies, path=fx.login_path):
            h = [browser, FORM_TYPE]
            if cookies:
                h.append(("Cookie", cookies))
            return Req("POST", path, h, body if isinstance(body, bytes) else body.encode())
        wrong = Expect(401, "page")
        base = login(form(fields))
        missing = {"csrf": PAGE_403, "username": PAGE_400, "password": PAGE_400}
        oversized = {"csrf": PAGE_403, "username": PAGE_400, "password": PAGE_400}
        self.param_mutations(e, fields, login, missing, lambda n: PAGE_400, PAGE_400, oversized)
        self.add(e, "wrong password", base, wrong)
        self.add(e, "password of 2000 bytes", login(form(fields[:2] + [("password", "p" * 2000)])), PAGE_400)
        self.add(e, "no cookies", login(form(fields), cookies=None), PAGE_403)
        self.add(e, "garbage browser cookie", login(form(fields), cookies="latchkey_browser=garbage"), PAGE_403)
        self.add(e, "wrong csrf", login(form([("csrf", "x" * 43)] + fields[1:])), PAGE_403)
        self.add(e, "csrf of another form", login(form([("csrf", fx.consent_csrf)] + fields[1:])), PAGE_403)
        iid = fx.login_path.split("/")[2]
        for label, bad_id in (("short", "abc"), ("not base64url", "*" * 43), ("unknown", b64url(secrets.token_bytes(32))),
                              ("oversized", "a" * 3000), ("%00", iid[:-3] + "%00"), ("dot segments", "..%2F..%2Ftoken")):
            self.add(e, f"interaction id {label}", login(form(fields), path=f"/interaction/{bad_id}/login"), PAGE_400)
        self.body_raw_bytes(e, base, PAGE_400)
        self.content_types(e, base, PAGE_400, json.dumps(dict(fields)).encode())
        self.add(e, "GET", Req("GET", fx.login_path, [browser, ("Cookie", fx.login_cookies)]),
                 method_not_allowed(("POST",), "page"))
        self.http_level(e, base, False, ("POST",), "page", baseline=wrong)

        # The login page itself (GET /interaction/{id}).
        e = "interaction page"
        page_path = fx.login_path[: -len("/login")]
        page = Req("GET", page_path, [browser, ("Cookie", fx.login_cookies)])
        self.add(e, "well-formed", page, Expect(200, "page"))
        self.add(e, "no cookies", page.without_header("Cookie"), PAGE_403)
        self.add(e, "unknown id", page.copy(target="/interaction/" + b64url(secrets.token_bytes(32))), PAGE_400)
        self.add(e, "POST", page.copy(method="POST", body=b"a=1").add_header(*FORM_TYPE),
                 method_not_allowed(("GET",), "page"))
        self.add(e, "unknown action", page.copy(target=page_path + "/nope"), Expect(404, "page"))
        self.http_level(e, page, False, ("GET", "HEAD"), "page", baseline=Expect(200, "page"))

        # The consent form (browser B: signed in, prompt=consent).
        e = "consent form"
        fields = [("csrf", fx.consent_csrf), ("decision", "maybe")]

        def consent(body, cookies=fx.consent_cookies, path=fx.consent_path):
            h = [browser, FORM_TYPE]
            if cookies:
                h.append(("Cookie", cookies))
            return Req("POST", path, h, body if isinstance(body, bytes) else body.encode())
        base = consent(form(fields))
        missing = {"csrf": PAGE_403, "decision": PAGE_400}
        oversized = {"csrf": PAGE_403, "decision": PAGE_400}
        self.param_mutations(e, fields, consent, missing, lambda n: PAGE_400, PAGE_400, oversized)
        self.add(e, "decision unknown", base, PAGE_400)
        self.add(e, "no cookies", consent(form(fields), cookies=None), PAGE_403)
        self.add(e, "only the browser cookie", consent(form(fields), cookies=";".join(
            c for c in fx.consent_cookies.split("; ") if "browser" in c)),
            Expect(303, "redirect", location_prefix=fx.consent_path[: -len("/consent")]))
        self.add(e, "login csrf", consent(form([("csrf", fx.login_csrf), ("decision", "allow")])), PAGE_403)
        self.body_raw_bytes(e, base, PAGE_400)
        self.content_types(e, base, PAGE_400, json.dumps(dict(fields)).encode())
        self.add(e, "GET", Req("GET", fx.consent_path, [browser, ("Cookie", fx.consent_cookies)]),
                 method_not_allowed(("POST",), "page"))
        self.http_level(e, base, False, ("POST",), "page", baseline=PAGE_400)

    def device_page(self) -> None:
        fx = self.fx
        e = "device page"
        browser = ("Accept", BROWSER_ACCEPT)
        shown = Expect(200, "page")
        get = Req("GET", "/device", [browser])
        self.add(e, "GET", get, shown)
        self.add(e, "GET with user_code", get.copy(target="/device?user_code=BCDF-GHJK"), shown)
        self.add(e, "GET with oversized user_code", get.copy(target="/device?user_code=" + "A" * 4000), shown)
        self.add(e, "GET with bad escape", get.copy(target="/device?user_code=%G1"), shown)
        self.add(e, "GET with %00", get.copy(target="/device?user_code=a%00b"), shown)
        self.add(e, "GET with duplicated user_code", get.copy(target="/device?user_code=a&user_code=b"), shown)

        def post(body, cookies=DEVICE_COOKIE.decode()):
            h = [browser, FORM_TYPE]
            if cookies:
                h.append(("Cookie", cookies))
            return Req("POST", "/device", h, body if isinstance(body, bytes) else body.encode())
        fields = [("csrf", DEVICE_CSRF.decode()), ("user_code", "BCDF-GHJK")]
        wrong = Expect(400, "page")
        missing = {"csrf": PAGE_403, "user_code": wrong}
        oversized = {"csrf": PAGE_403, "user_code": wrong}
        self.param_mutations(e, fields, post, missing, lambda n: PAGE_400, PAGE_400, oversized)
        base = post(form(fields))
        self.add(e, "wrong user code", base, wrong)
        self.add(e, "no cookies", post(form(fields), cookies=None), PAGE_403)
        self.add(e, "garbage cookie", post(form(fields), cookies="latchkey_browser=" + "%" * 50), PAGE_403)
        self.body_raw_bytes(e, base, PAGE_400)
        self.content_types(e, base, PAGE_400, json.dumps(dict(fields)).encode())
        self.http_level(e, base, False, ("GET", "POST"), "page", baseline=wrong)

    def discovery_jwks_logout(self) -> None:
        fx = self.fx
        for e, path, ctype in (("discovery", "/.well-known/openid-configuration", "application/json"),
                               ("discovery (RFC 8414)", "/.well-known/oauth-authorization-server", "application/json"),
                               ("jwks", "/jwks", "application/jwk-set+json")):
            ok = Expect(200, check=lambda a, c=ctype: None if a.content_type == c and json.loads(a.body) else
                        f"Content-Type {a.content_type}")
            get = Req("GET", path)
            self.add(e, "GET", get, ok)
            self.add(e, "HEAD", get.copy(method="HEAD"), Expect(200), head=True)
            self.add(e, "query garbage", get.copy(target=path + "?%G1&a=%00&&=="), ok)
            self.add(e, "Accept garbage", get.add_header("Accept", "*/;q=x,,;"), ok)
            self.add(e, "control character in Accept", get.add_header("Accept", "\x7f/\x7f;q=x"), BAD_HTTP)
            self.add(e, "If-None-Match garbage", get.add_header("If-None-Match", "W/\"x"), ok)
            self.add(e, "control character in If-None-Match", get.add_header("If-None-Match", "W/\"\x01"), BAD_HTTP)
            self.add(e, "Range", get.add_header("Range", "bytes=99999999-"), ok)
            self.add(e, "POST", get.copy(method="POST", body=b"a=1").add_header(*FORM_TYPE),
                     method_not_allowed(("GET", "HEAD")))
            self.add(e, "trailing slash", get.copy(target=path + "/"), Expect(404))
            self.http_level(e, get, True, ("GET", "HEAD"), "any", baseline=ok)

        e = "logout"
        browser = ("Accept", BROWSER_ACCEPT)
        signed_out = Expect(200, "page")
        params = [("client_id", fx.s.public.client_id), ("post_logout_redirect_uri", fx.s.public.redirect_uris[0]),
                  ("state", "s1")]
        back = Expect(303, "redirect", location_prefix=fx.s.public.redirect_uris[0])
        missing = {"client_id": PAGE_400, "post_logout_redirect_uri": signed_out, "state": back}
        oversized = {"client_id": PAGE_400, "post_logout_redirect_uri": PAGE_400, "state": back}

        def get(raw):
            return Req("GET", "/logout?" + raw, [browser])

        def post(raw):
            return Req("POST", "/logout", [browser, FORM_TYPE], raw.encode() if isinstance(raw, str) else raw)
        self.param_mutations(e, params, get, missing, lambda n: PAGE_400, PAGE_400, oversized)
        self.param_mutations("logout POST", params, post, missing, lambda n: PAGE_400, PAGE_400, oversized)
        base = get(form(params).decode())
        self.add(e, "well-formed", base, back)
        self.add(e, "no parameters", get(""), signed_out)
        self.add(e, "unregistered post_logout_redirect_uri", get(form(dict(
            params, post_logout_redirect_uri="https://evil.example/")).decode()), PAGE_400)
        self.add(e, "post_logout_redirect_uri without client", get(form(
            {"post_logout_redirect_uri": fx.s.public.redirect_uris[0]}).decode()), PAGE_400)
        self.add(e, "id_token_hint garbage", get(form({"id_token_hint": "a.b.c"}).decode()), PAGE_400)
        self.add(e, "id_token_hint alg none", get(form({"id_token_hint": b64url(b'{"alg":"none"}') + "." +
                                                        fx.id_token.split(".")[1] + "."}).decode()), PAGE_400)
        self.add(e, "id_token_hint of another client", get(form({"id_token_hint": fx.id_token,
                                                                 "client_id": fx.s.confidential.client_id}).decode()),
                 PAGE_400)
        self.add(e, "access token as id_token_hint", get(form({"id_token_hint": fx.access_token}).decode()), PAGE_400)
        self.add(e, "raw 0xFF in target", base.copy(target=base.target + "&x=\xff"), BAD_HTTP)
        pbase = post(form(params))
        self.body_raw_bytes("logout POST", pbase, PAGE_400)
        self.content_types("logout POST", pbase, PAGE_400, json.dumps(dict(params)).encode())
        self.http_level(e, base, False, ("GET", "POST"), "page", baseline=back)

    def build(self) -> None:
        self.token_endpoints()
        self.revocation_introspection()
        self.device_authorization()
        self.userinfo()
        self.authorize()
        self.interaction()
        self.device_page()
        self.discovery_jwks_logout()


def tampered(jwt: str) -> str:
    """The JWT with one character of the middle of its signature changed (always a different one,
    and never in the last character, whose low bits are padding)."""
    head, _, sig = jwt.rpartition(".")
    i = len(sig) // 2
    return f"{head}.{sig[:i]}{'B' if sig[i] == 'A' else 'A'}{sig[i + 1:]}"


def chunked(data: bytes) -> bytes:
    out = b""
    for i in range(0, len(data), 4096):
        piece = data[i:i + 4096]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


GARBAGE_COOKIES = [
    "latchkey_session=" + "A" * 200,
    "latchkey_session=; latchkey_session=x; latchkey_browser=",
    "latchkey_session=%ZZ%00; latchkey_browser=%%%",
    ";;;; = ; ==; a",
    "latchkey_session=\"quoted\"; $Version=1",
    "__Host-latchkey_session=abc; latchkey_browser=" + "\u00e9".encode().decode("latin-1"),
]


# ---------------------------------------------------------------------------------------------
# Running


def address_for(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"


def healthy(port: int) -> bool:
    try:
        a = exchange(port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode(),
                     timeout=5)
        return a.status == 200
    except (OSError, Dropped):
        return False


def eventually_healthy(port: int, within: float = 3.0) -> bool:
    """/healthz answers 200 within `within` seconds (closed connections take the server a moment
    to notice on a loaded machine)."""
    deadline = time.monotonic() + within
    while True:
        if healthy(port):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def run_slow(port: int, case: SlowCase, results: dict, key) -> None:
    """Sends a prefix and stalls; the server must close within its read timeout (an answer such as
    408 first is fine, a 5xx is not)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=SLOW_CLOSE_BOUND + 5)
    status = None
    try:
        s.sendall(case.prefix)
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            except socket.timeout:
                results[key] = ("hung", time.monotonic() - t0, None)
                return
            if not chunk:
                break
            data += chunk
        if data.startswith(b"HTTP/1.1 "):
            status = int(data[9:12])
        results[key] = ("closed", time.monotonic() - t0, status)
    finally:
        s.close()


class BadInputMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start(MatrixServer({"LATCHKEY_SERVER_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
                                         "LATCHKEY_SERVER_TRUSTED_PROXIES": "127.0.0.1"}))

    def test_matrix(self):
        t_start = time.monotonic()
        fx = Fixture(self.server)
        m = Matrix(fx)
        m.build()
        port = self.server.port
        per_endpoint: dict[str, dict] = collections.OrderedDict()
        failures: list[str] = []
        dropped: list[str] = []
        unhealthy: list[str] = []

        # The slow clients run in the background while the ordinary cases go on: the server must
        # answer the others meanwhile and close the slow ones itself.
        slow_results: dict = {}
        slow_threads = []
        for i, sc in enumerate(m.slow):
            t = threading.Thread(target=run_slow, args=(port, sc, slow_results, i), daemon=True)
            t.start()
            slow_threads.append(t)

        for n, case in enumerate(m.cases):
            stats = per_endpoint.setdefault(case.endpoint, {"cases": 0, "statuses": collections.Counter(),
                                                            "5xx": 0, "failed": 0})
            stats["cases"] += 1
            subst = {CASE_NUMBER: str(n).encode()}
            if case.req.placeholders() & {DEVICE_CSRF, DEVICE_COOKIE}:
                csrf, cookie = fx.device_browser()
                subst.update({DEVICE_CSRF: csrf.encode(), DEVICE_COOKIE: cookie.encode()})
            try:
                answer = exchange(port, case.req.encode(port, address_for(n + 1), subst), head=case.head)
            except (Dropped, OSError) as e:
                dropped.append(f"{case.endpoint}: {case.name}: {e}")
                stats["statuses"]["dropped"] += 1
                stats["failed"] += 1
                continue
            stats["statuses"][answer.status] += 1
            if answer.status >= 500:
                stats["5xx"] += 1
            problems = case.expect.problems(answer)
            if problems:
                stats["failed"] += 1
                failures.append(f"{case.endpoint}: {case.name}: {'; '.join(problems)} -- "
                                f"{answer.body[:200]!r}")
            if n % HEALTH_EVERY == HEALTH_EVERY - 1 and not healthy(port):
                unhealthy.append(f"after case {n} ({case.endpoint}: {case.name})")

        for t in slow_threads:
            t.join(SLOW_CLOSE_BOUND + 10)
        slow_failures = []
        for i, sc in enumerate(m.slow):
            stats = per_endpoint.setdefault(sc.endpoint, {"cases": 0, "statuses": collections.Counter(),
                                                          "5xx": 0, "failed": 0})
            stats["cases"] += 1
            outcome, elapsed, status = slow_results.get(i, ("no result", 0.0, None))
            stats["statuses"]["slow-closed" if outcome == "closed" else "slow-" + outcome] += 1
            if status is not None and status >= 500:
                stats["5xx"] += 1
            if outcome != "closed" or elapsed > SLOW_CLOSE_BOUND or (status is not None and status >= 500):
                stats["failed"] += 1
                slow_failures.append(f"{sc.endpoint}: {sc.name}: {outcome} after {elapsed:.1f}s (status {status})")
        final_health = healthy(port)

        # The table.
        lines = [f"{'endpoint':28} {'cases':>5} {'5xx':>4} {'failed':>6}  statuses seen"]
        for name, st in per_endpoint.items():
            seen = ", ".join(f"{k}x{v}" for k, v in sorted(st["statuses"].items(), key=lambda kv: str(kv[0])))
            lines.append(f"{name:28} {st['cases']:5} {st['5xx']:4} {st['failed']:6}  {seen}")
        total = sum(st["cases"] for st in per_endpoint.values())
        total_5xx = sum(st["5xx"] for st in per_endpoint.values())
        lines.append(f"{'total':28} {total:5} {total_5xx:4} {len(failures) + len(dropped) + len(slow_failures):6}"
                     f"  in {time.monotonic() - t_start:.1f}s")
        sys.stderr.write("\n" + "\n".join(lines) + "\n")
        for f in failures + dropped + slow_failures:
            sys.stderr.write("FAIL " + f + "\n")

        self.assertEqual(total_5xx, 0, "responses 5xx")
        self.assertEqual(dropped, [], "connections dropped or hung without an answer")
        self.assertEqual(slow_failures, [], "slow connections not closed by the server in time")
        self.assertEqual(unhealthy, [], "/healthz failed during the run")
        self.assertTrue(final_health, "/healthz failed at the end")
        self.assertEqual(failures, [], f"{len(failures)} cases answered otherwise than the RFC says")
        self.assertEqual(self.server.stop(), 0, "SIGTERM after the matrix: exit code")


class Limits:
    """The small limits of the second server."""
    MAX_CONNECTIONS = 8
    BODY = 2048
    HEADER = 2048
    TIMEOUT = 2


def limits_server() -> harness.Server:
    s = harness.Server()
    s.env.update({"LATCHKEY_SERVER_MAX_CONNECTIONS": str(Limits.MAX_CONNECTIONS),
                  "LATCHKEY_SERVER_MAX_BODY_BYTES": str(Limits.BODY),
                  "LATCHKEY_SERVER_MAX_HEADER_BYTES": str(Limits.HEADER),
                  "LATCHKEY_SERVER_READ_TIMEOUT_SECONDS": str(Limits.TIMEOUT)})
    return start(s)


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = limits_server()
        cls.port = cls.server.port

    def token_post(self, body: bytes, extra: str = "") -> bytes:
        return (f"POST /token HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/x-www-form-urlencoded"
                f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n").encode() + body

    def test_body_limit(self):
        # Exactly at the limit: the protocol core answers (no client authentication: 401).
        body = b"grant_type=client_credentials&pad=" + b"x" * (Limits.BODY - 34)
        self.assertEqual(len(body), Limits.BODY)
        a = exchange(self.port, self.token_post(body))
        self.assertEqual(a.status, 401, a.body)
        # One byte over: 413 with RFC 6749 §5.2 JSON for an API client.
        a = exchange(self.port, self.token_post(body + b"x"))
        self.assertEqual(a.status, 413, a.body)
        self.assertEqual(a.content_type, "application/json")
        self.assertEqual(a.json()["error"], "invalid_request")
        # A browser gets a page.
        a = exchange(self.port, self.token_post(body + b"x", "Accept: text/html\r\n"))
        self.assertEqual(a.status, 413)
        self.assertEqual(a.content_type, "text/html")
        self.assertTrue(healthy(self.port))

    def test_header_limit(self):
        pad = "X-Pad: " + "p" * (Limits.HEADER + 1) + "\r\n"
        a = exchange(self.port, f"GET /jwks HTTP/1.1\r\nHost: x\r\n{pad}Connection: close\r\n\r\n".encode())
        self.assertEqual(a.status, 431)
        a = exchange(self.port, f"GET /jwks HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 1000}\r\nConnection: close\r\n\r\n"
                     .encode())
        self.assertEqual(a.status, 200)

    def test_slow_header_and_body_are_cut_off(self):
        results: dict = {}
        cases = [SlowCase("limits", "slow headers", b"GET /jwks HTTP/1.1\r\nHost: x\r\nX-A: "),
                 SlowCase("limits", "slow body", self.token_post(b"grant_type=client_credentials")[:-10]),
                 SlowCase("limits", "idle keep-alive", b"")]
        threads = [threading.Thread(target=run_slow, args=(self.port, c, results, i)) for i, c in enumerate(cases)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(Limits.TIMEOUT + 10)
        for i, c in enumerate(cases):
            outcome, elapsed, status = results[i]
            self.assertEqual(outcome, "closed", c.name)
            self.assertLess(elapsed, Limits.TIMEOUT + 2.5, c.name)
            self.assertGreater(elapsed, Limits.TIMEOUT - 0.5, f"{c.name}: closed before the timeout")
            self.assertTrue(status is None or status < 500, f"{c.name}: {status}")
        # A body that trickles in but completes within the timeout is served.
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            req = self.token_post(b"grant_type=client_credentials")
            for i in range(0, len(req), len(req) // 4 + 1):
                s.sendall(req[i:i + len(req) // 4 + 1])
                time.sleep(0.2)
            resp = http.client.HTTPResponse(s)
            resp.begin()
            self.assertEqual(resp.status, 401)
        finally:
            s.close()

    def test_connection_cap(self):
        held = []
        try:
            for _ in range(Limits.MAX_CONNECTIONS):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                held.append(s)
                # One kept-alive request on each: once answered, the server has surely accepted it
                # and counts it (a sleep would race with the accept loop on a loaded machine).
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                resp = http.client.HTTPResponse(s)
                resp.begin()
                resp.read()
                self.assertEqual(resp.status, 200)
                self.assertFalse(resp.will_close)
            # Over the cap: refused at once (closed, or 503), never left hanging.
            t0 = time.monotonic()
            over = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            try:
                try:
                    over.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                except OSError:
                    pass
                try:
                    data = over.recv(4096)
                except ConnectionResetError:
                    data = b""
                elapsed = time.monotonic() - t0
                self.assertLess(elapsed, 1.5, "a connection over the cap must be refused promptly")
                self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 503"), data[:100])
            finally:
                over.close()
            # Room again once some close.
            for s in held[:3]:
                s.close()
            del held[:3]
            self.assertTrue(eventually_healthy(self.port), "a new connection after others closed")
        finally:
            for s in held:
                s.close()
        self.assertTrue(eventually_healthy(self.port))

    @classmethod
    def tearDownClass(cls):
        assert not cls.server.server_errors()
        code = cls.server.stop()
        assert code == 0, f"SIGTERM: exit code {code}"


if __name__ == "__main__":
    harness.run_tests()
