"""The authorization code flow against the real latchkey-server over loopback HTTP.

Run: LATCHKEY_SERVER_BIN=build/src/server/latchkey-server /usr/bin/python3 tests/integration/test_code_flow.py
Tokens are verified with jwcrypto (Debian's python3-jwcrypto) against the server's JWKS: an
implementation independent of the server's own JOSE code.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from jwcrypto import jwk, jws  # noqa: E402

import harness  # noqa: E402
from harness import Http, Reply, b64url, basic_auth, only_post_form, parse_page, pkce_pair  # noqa: E402

PAGE_HEADERS_NEEDED = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "Cache-Control")


def is_on(server: harness.Server, url: str) -> bool:
    """True when a Location points back at the server (relative, or absolute on the issuer)."""
    return url.startswith("/") or url.startswith(server.issuer + "/")


def assert_page_headers(test: unittest.TestCase, reply: Reply) -> None:
    for name in PAGE_HEADERS_NEEDED:
        test.assertIsNotNone(reply.header(name), f"{name} missing on {reply.status} {reply.url}")
    test.assertIn("frame-ancestors 'none'", reply.header("Content-Security-Policy"))
    test.assertEqual(reply.header("X-Frame-Options").upper(), "DENY")
    test.assertEqual(reply.header("Referrer-Policy").lower(), "no-referrer")
    test.assertIn("no-store", reply.header("Cache-Control"))


class Flow:
    """Drives authorize -> login -> consent over HTTP with one cookie jar."""

    def __init__(self, test: unittest.TestCase, server: harness.Server, http: Http | None = None) -> None:
        self.t = test
        self.server = server
        self.http = http or server.http()
        self.pages: list[Reply] = []  # every HTML page seen, for header checks

    def authorize(self, client: harness.Client, redirect_uri: str, scope: str = "openid profile",
                  pkce: bool = True, extra: dict[str, str] | None = None, method: str = "GET"):
        self.state = b64url(secrets.token_bytes(12))
        self.nonce = b64url(secrets.token_bytes(12))
        self.verifier, challenge = pkce_pair()
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
                  "scope": scope, "state": self.state, "nonce": self.nonce}
        if pkce:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(extra or {})
        if method == "GET":
            return self.http.get("/authorize?" + urllib.parse.urlencode(params))
        return self.http.post_form("/authorize", params)

    def get_page(self, location: str) -> Reply:
        page = self.http.get(location)
        self.t.assertEqual(page.status, 200, f"GET {location}: {page.status} {page.text[:500]}")
        self.t.assertTrue(page.header("Content-Type").startswith("text/html"), page.header("Content-Type"))
        self.pages.append(page)
        return page

    def login(self, page: Reply, username: str | None = None, password: str | None = None,
              csrf: str | None | bool = True) -> Reply:
        form = only_post_form(page.text)
        self.t.assertEqual(form.input_types.get("password"), "password", "login page has no password field")
        self.t.assertIn("username", form.inputs)
        fields = dict(form.inputs)
        fields["username"] = username if username is not None else self.server.user.username
        fields["password"] = password if password is not None else self.server.user.password
        if csrf is False:
            fields.pop("csrf", None)
        elif isinstance(csrf, str):
            fields["csrf"] = csrf
        else:
            self.t.assertIn("csrf", fields, "login form carries no csrf field")
        return self.http.post_form(urllib.parse.urljoin(page.url, form.action), fields)

    def consent(self, page: Reply, decision: str = "allow", csrf: str | None | bool = True) -> Reply:
        form = only_post_form(page.text)
        self.t.assertIn(("decision", "allow"), form.buttons)
        self.t.assertIn(("decision", "deny"), form.buttons)
        fields = dict(form.inputs)
        fields["decision"] = decision
        if csrf is False:
            fields.pop("csrf", None)
        elif isinstance(csrf, str):
            fields["csrf"] = csrf
        else:
            self.t.assertIn("csrf", fields, "consent form carries no csrf field")
        return self.http.post_form(urllib.parse.urljoin(page.url, form.action), fields)

    def complete(self, reply: Reply, decision: str = "allow", max_steps: int = 8) -> Reply:
        """Follows the server's own redirects, logging in and consenting as asked, until a redirect
        leaves the server (to the redirect_uri). Returns that last reply."""
        for _ in range(max_steps):
            self.t.assertEqual(reply.status, 303, f"{reply.url}: {reply.status} {reply.text[:500]}")
            location = reply.location
            if not is_on(self.server, location):
                return reply
            page = self.get_page(location)
            form = only_post_form(page.text)
            if form.input_types.get("password") == "password":
                reply = self.login(page)
            else:
                reply = self.consent(page, decision)
        self.t.fail("the flow did not leave the server")

    def code_from(self, reply: Reply, redirect_uri: str) -> str:
        self.t.assertEqual(reply.status, 303)
        self.t.assertTrue(reply.location.startswith(redirect_uri + "?"), reply.location)
        params = reply.location_params()
        self.t.assertNotIn("error", params, reply.location)
        self.t.assertEqual(params.get("state"), self.state)
        self.t.assertEqual(params.get("iss"), self.server.issuer)  # RFC 9207 §2
        code = params.get("code")
        self.t.assertTrue(code)
        # RFC 6749 §10.10 / issue: >= 128 bits of randomness -> at least 22 base64url chars.
        self.t.assertGreaterEqual(len(code), 22)
        return code

    def token(self, fields: dict[str, str] | list[tuple[str, str]], headers: dict[str, str] | None = None) -> Reply:
        return self.http.post_form("/token", fields, headers=headers, use_cookies=False)

    def exchange(self, client: harness.Client, code: str, redirect_uri: str, auth: str = "basic",
                 verifier: str | None = None) -> Reply:
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                  "code_verifier": verifier or self.verifier}
        headers = {}
        if client.secret is None:
            fields["client_id"] = client.client_id
        elif auth == "basic":
            headers["Authorization"] = basic_auth(client.client_id, client.secret)
        else:
            fields.update(client_id=client.client_id, client_secret=client.secret)
        return self.token(fields, headers)


def jwt_parts(token: str) -> tuple[dict, dict]:
    header_b64, payload_b64, _ = token.split(".")
    return json.loads(harness.b64url_decode(header_b64)), json.loads(harness.b64url_decode(payload_b64))


def aud_list(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


class CodeFlowTest(unittest.TestCase):
    server: harness.Server

    @classmethod
    def setUpClass(cls):
        cls.server = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        server = cls.server
        try:
            # The server survived everything below and never answered 5xx.
            health = server.http().get("/.well-known/openid-configuration")
            errors = server.server_errors()
        finally:
            code = server.stop()
        assert health.status == 200, f"discovery answered {health.status} at the end"
        assert not errors, f"server answered 5xx: {errors}"
        assert code == 0, f"SIGTERM: exit code {code}, expected 0"

    def setUp(self):
        self.s = self.server
        self.flow = Flow(self, self.s)

    # ---- helpers ------------------------------------------------------------------------------
    def jwks(self) -> jwk.JWKSet:
        reply = self.s.http().get("/jwks")
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.header("Content-Type").startswith("application/"), reply.header("Content-Type"))
        doc = reply.json()
        for key in doc["keys"]:
            self.assertIn("kid", key)
            for private in ("d", "p", "q", "dp", "dq", "qi"):
                self.assertNotIn(private, key, "JWKS leaks private key material")
        return jwk.JWKSet.from_json(reply.text)

    def verify_jwt(self, token: str, keys: jwk.JWKSet) -> tuple[dict, dict]:
        header, _ = jwt_parts(token)
        self.assertEqual(header.get("alg"), "ES256")
        self.assertIn("kid", header)
        key = keys.get_key(header["kid"])
        self.assertIsNotNone(key, f"kid {header['kid']} not in JWKS")
        obj = jws.JWS()
        obj.allowed_algs = ["ES256"]
        obj.deserialize(token)
        obj.verify(key)  # raises on a bad signature
        return header, json.loads(obj.payload)

    def full_flow(self, client, redirect_uri, scope="openid profile", auth="basic", extra=None):
        flow = Flow(self, self.s)
        reply = flow.complete(flow.authorize(client, redirect_uri, scope, extra=extra))
        code = flow.code_from(reply, redirect_uri)
        tokens = flow.exchange(client, code, redirect_uri, auth=auth)
        self.assertEqual(tokens.status, 200, tokens.text)
        return flow, code, tokens

    def assert_redirect_error(self, reply: Reply, redirect_uri: str, error: str, state: str | None):
        self.assertEqual(reply.status, 303, f"{reply.status} {reply.text[:300]}")
        self.assertTrue(reply.location.startswith(redirect_uri + "?"), reply.location)
        params = reply.location_params()
        self.assertEqual(params.get("error"), error, reply.location)
        self.assertNotIn("code", params)
        self.assertEqual(params.get("iss"), self.s.issuer)
        if state is not None:
            self.assertEqual(params.get("state"), state)

    def assert_error_page(self, reply: Reply, status: int = 400):
        self.assertEqual(reply.status, status, reply.text[:300])
        self.assertIsNone(reply.location, "an error before client/redirect_uri validation must not redirect")
        self.assertTrue((reply.header("Content-Type") or "").startswith("text/html"))
        assert_page_headers(self, reply)

    def assert_token_error(self, reply: Reply, error: str, status: int = 400):
        self.assertEqual(reply.status, status, reply.text)
        self.assertTrue(reply.header("Content-Type").startswith("application/json"))
        self.assertEqual(reply.json().get("error"), error, reply.text)
        self.assertIn("no-store", reply.header("Cache-Control") or "")

    def test_secret_scan_finds_a_secret_in_log_output(self):
        # run_tests() scans every server's output for the secrets seen on the wire; the scan itself
        # must be able to fail.
        _, _, tokens = self.full_flow(self.s.confidential, self.s.confidential.redirect_uris[0],
                                      "openid offline_access")
        body = tokens.json()
        self.assertEqual(harness.SEEN_SECRETS.get(body["access_token"]), "access_token")
        self.assertEqual(harness.leaked_secrets(self.s.output()), [], "the server logged a secret")
        leaky = 'msg="refresh failed" token=' + body["refresh_token"] + " bearer " + body["access_token"] + "."
        self.assertEqual(harness.leaked_secrets(leaky), ["access_token", "refresh_token"])
        self.assertEqual(harness.leaked_secrets(f'login "{self.s.user.password}"'), ["password or client secret"])

    def test_security_header_check_flags_a_bare_page_and_a_bare_cookie(self):
        # run_tests() fails the run on any violation it recorded; the check itself must be able to fail.
        import email.message
        bare = email.message.Message()
        bare["Content-Type"] = "text/html"
        bare["Set-Cookie"] = "sid=abc; Path=/"
        before = len(harness.HEADER_VIOLATIONS)
        harness._check_security_headers("GET", "/planted", 200, bare)
        planted = harness.HEADER_VIOLATIONS[before:]
        del harness.HEADER_VIOLATIONS[before:]
        self.assertEqual(len(planted), 8, planted)  # six headers, HttpOnly and SameSite

    # ---- the happy path -----------------------------------------------------------------------
    def test_full_flow_confidential_basic_tokens_verify(self):
        started = int(time.time())
        client = self.s.confidential
        redirect_uri = client.redirect_uris[0]
        flow, code, tokens = self.full_flow(client, redirect_uri, "openid profile email offline_access")
        body = tokens.json()
        self.assertIn("no-store", tokens.header("Cache-Control"))
        self.assertEqual(tokens.header("Pragma"), "no-cache")
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIsInstance(body["expires_in"], int)
        self.assertGreater(body["expires_in"], 0)
        self.assertEqual(set(body["scope"].split()), {"openid", "profile", "email", "offline_access"})
        self.assertTrue(body.get("refresh_token"), "offline_access granted but no refresh_token")
        self.assertGreaterEqual(len(body["refresh_token"]), 43)  # 256 bits

        keys = self.jwks()
        now = int(time.time())
        # RFC 9068 §2.1-2.2
        header, at = self.verify_jwt(body["access_token"], keys)
        self.assertIn(header.get("typ", "").lower(), ("at+jwt", "application/at+jwt"))
        self.assertEqual(at["iss"], self.s.issuer)
        self.assertTrue(at["sub"])
        self.assertIn(self.s.issuer, aud_list(at), "no audience requested: aud should default to the issuer")
        self.assertEqual(at["client_id"], client.client_id)
        self.assertEqual(set(at["scope"].split()), {"openid", "profile", "email", "offline_access"})
        self.assertTrue(at["jti"])
        self.assertLessEqual(abs(at["iat"] - now), 60)
        self.assertEqual(at["exp"] - at["iat"], body["expires_in"])
        self.assertGreaterEqual(at["auth_time"], started - 5)
        self.assertLessEqual(at["auth_time"], now + 5)

        # OIDC Core §2, §3.1.3.6, §3.1.3.7
        id_header, idt = self.verify_jwt(body["id_token"], keys)
        self.assertNotEqual(id_header.get("typ", "").lower(), "at+jwt", "id_token must not look like an access token")
        self.assertEqual(idt["iss"], self.s.issuer)
        self.assertEqual(idt["sub"], at["sub"])
        self.assertIn(client.client_id, aud_list(idt))
        self.assertEqual(idt.get("azp", client.client_id), client.client_id)
        self.assertEqual(idt["nonce"], flow.nonce)
        self.assertEqual(idt["auth_time"], at["auth_time"])
        self.assertGreater(idt["exp"], now)
        self.assertLessEqual(abs(idt["iat"] - now), 60)
        digest = hashlib.sha256(body["access_token"].encode("ascii")).digest()
        self.assertEqual(idt["at_hash"], b64url(digest[:16]))

        # The verifier really verifies: a tampered payload fails.
        h, p, sig = body["access_token"].split(".")
        forged = dict(at, scope="openid admin")
        tampered = ".".join([h, b64url(json.dumps(forged).encode()), sig])
        with self.assertRaises(Exception):
            self.verify_jwt(tampered, keys)

    def test_public_client_loopback_any_port_and_client_secret_post(self):
        # RFC 8252 §7.3: registered http://127.0.0.1/callback, used with an ephemeral port.
        redirect_uri = "http://127.0.0.1:53123/callback"
        flow, code, tokens = self.full_flow(self.s.public, redirect_uri, "openid")
        body = tokens.json()
        self.assertNotIn("refresh_token", body, "no offline_access: no refresh_token")
        _, idt = self.verify_jwt(body["id_token"], self.jwks())
        self.assertIn(self.s.public.client_id, aud_list(idt))
        # client_secret_post for the confidential client
        self.full_flow(self.s.confidential, self.s.confidential.redirect_uris[1], "openid", auth="post")

    def test_no_openid_no_id_token(self):
        _, _, tokens = self.full_flow(self.s.confidential, self.s.confidential.redirect_uris[0], "profile")
        self.assertNotIn("id_token", tokens.json())
        self.assertEqual(tokens.json()["scope"], "profile")

    def test_post_authorize(self):
        flow = Flow(self, self.s)
        reply = flow.authorize(self.s.public, "https://app.example/cb", method="POST")
        self.assertEqual(reply.status, 303, reply.text[:300])
        self.assertTrue(is_on(self.s, reply.location), reply.location)

    def test_pages_login_then_consent_then_code(self):
        """The documented steps one by one: 303 to the interaction, login page, 303, consent page."""
        flow = Flow(self, self.s)
        client = self.s.confidential
        redirect_uri = client.redirect_uris[0]
        reply = flow.authorize(client, redirect_uri, "openid email", extra={"prompt": "consent"})
        self.assertEqual(reply.status, 303)
        self.assertIn("/interaction/", reply.location)
        self.assertTrue(reply.headers.get_all("Set-Cookie"), "authorize sets the browser-binding cookie")
        for cookie in reply.headers.get_all("Set-Cookie"):
            self.assertIn("httponly", cookie.lower().replace(" ", ""), cookie)
            self.assertIn("samesite=lax", cookie.lower().replace(" ", ""), cookie)
        login_page = flow.get_page(reply.location)
        assert_page_headers(self, login_page)
        form = only_post_form(login_page.text)
        self.assertTrue(form.action.endswith("/login"), form.action)
        after_login = flow.login(login_page)
        self.assertEqual(after_login.status, 303)
        self.assertTrue(is_on(self.s, after_login.location), after_login.location)
        consent_page = flow.get_page(after_login.location)
        assert_page_headers(self, consent_page)
        consent_form = only_post_form(consent_page.text)
        self.assertTrue(consent_form.action.endswith("/consent"), consent_form.action)
        # Both forms belong to the same interaction: /interaction/<id>/login and .../consent.
        self.assertEqual(form.action.rsplit("/", 1)[0], consent_form.action.rsplit("/", 1)[0])
        self.assertIn(client.client_id, consent_page.text, "the consent page names the client")
        code = flow.code_from(flow.consent(consent_page, "allow"), redirect_uri)
        tokens = flow.exchange(client, code, redirect_uri)
        self.assertEqual(tokens.status, 200, tokens.text)

    # ---- codes ------------------------------------------------------------------------------
    def test_code_works_once(self):
        client = self.s.confidential
        redirect_uri = client.redirect_uris[0]
        flow, code, _ = self.full_flow(client, redirect_uri)
        again = flow.exchange(client, code, redirect_uri)
        self.assert_token_error(again, "invalid_grant")

    def test_code_concurrent_exchange_one_wins(self):
        client = self.s.confidential
        redirect_uri = client.redirect_uris[0]
        flow = Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(client, redirect_uri)), redirect_uri)
        results: list[int] = []
        barrier = threading.Barrier(4)

        def exchange():
            barrier.wait(5)
            results.append(flow.exchange(client, code, redirect_uri).status)

        threads = [threading.Thread(target=exchange) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(sorted(results), [200, 400, 400, 400])

    def test_wrong_code_verifier(self):
        client = self.s.public
        redirect_uri = "https://app.example/cb"
        flow = Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(client, redirect_uri)), redirect_uri)
        wrong, _ = pkce_pair()
        self.assert_token_error(flow.exchange(client, code, redirect_uri, verifier=wrong), "invalid_grant")

    def test_redirect_uri_mismatch_at_token(self):
        client = self.s.confidential
        flow = Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(client, client.redirect_uris[0])), client.redirect_uris[0])
        self.assert_token_error(flow.exchange(client, code, client.redirect_uris[1]), "invalid_grant")

    def test_code_of_another_client(self):
        flow = Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(self.s.public, "https://app.example/cb")),
                              "https://app.example/cb")
        reply = flow.exchange(self.s.confidential, code, "https://app.example/cb")
        self.assert_token_error(reply, "invalid_grant")

    def test_unknown_code(self):
        flow = Flow(self, self.s)
        flow.verifier = pkce_pair()[0]
        reply = flow.exchange(self.s.confidential, b64url(secrets.token_bytes(32)), self.s.confidential.redirect_uris[0])
        self.assert_token_error(reply, "invalid_grant")

    # ---- client authentication at /token -------------------------------------------------------
    def test_basic_wrong_secret_401(self):
        client = self.s.confidential
        flow = Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(client, client.redirect_uris[0])), client.redirect_uris[0])
        wrong = harness.Client(client.client_id, "x" * 40, client.redirect_uris)
        reply = flow.exchange(wrong, code, client.redirect_uris[0], auth="basic")
        self.assert_token_error(reply, "invalid_client", 401)
        self.assertTrue((reply.header("WWW-Authenticate") or "").lower().startswith("basic"),
                        reply.header("WWW-Authenticate"))
        # Whether a failed authentication burns the code is the server's choice; no 5xx either way.
        self.assertLess(flow.exchange(client, code, client.redirect_uris[0]).status, 500)

    def test_wrong_secret_post_and_unknown_client(self):
        fields = {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://rp.example/callback",
                  "code_verifier": pkce_pair()[0]}
        flow = Flow(self, self.s)
        reply = flow.token(dict(fields, client_id=self.s.confidential.client_id, client_secret="y" * 40))
        self.assert_token_error(reply, "invalid_client", 401)
        reply = flow.token(dict(fields, client_id="no-such-client", client_secret="y" * 40))
        self.assert_token_error(reply, "invalid_client", 401)
        # A confidential client may not pretend to be public.
        reply = flow.token(dict(fields, client_id=self.s.confidential.client_id))
        self.assert_token_error(reply, "invalid_client", 401)

    def test_two_auth_methods_invalid_request(self):
        c = self.s.confidential
        fields = {"grant_type": "authorization_code", "code": "x", "redirect_uri": c.redirect_uris[0],
                  "code_verifier": pkce_pair()[0], "client_id": c.client_id, "client_secret": c.secret}
        reply = Flow(self, self.s).token(fields, {"Authorization": basic_auth(c.client_id, c.secret)})
        self.assert_token_error(reply, "invalid_request")

    def test_unsupported_grant_type(self):
        c = self.s.confidential
        reply = Flow(self, self.s).token({"grant_type": "password", "username": "alice", "password": "x"},
                                         {"Authorization": basic_auth(c.client_id, c.secret)})
        self.assertEqual(reply.status, 400, reply.text)
        self.assertIn(reply.json()["error"], ("unsupported_grant_type", "unauthorized_client"))

    # ---- authorization endpoint errors -------------------------------------------------------
    def test_unknown_client_error_page(self):
        flow = Flow(self, self.s)
        reply = flow.authorize(harness.Client("no-such-client", None, []), "https://rp.example/callback")
        self.assert_error_page(reply)

    def test_mismatched_redirect_uri_error_page(self):
        c = self.s.confidential
        for uri in ("https://evil.example/callback", c.redirect_uris[0] + "/x", c.redirect_uris[0] + "?a=1",
                    "https://rp.example:8443/callback", c.redirect_uris[0].upper(),
                    # loopback port freedom is for loopback only, and only for registered loopback URIs
                    "http://127.0.0.1:9999/callback", "http://localhost/callback"):
            with self.subTest(uri=uri):
                self.assert_error_page(Flow(self, self.s).authorize(c, uri))
        # Two registered URIs: redirect_uri is required (RFC 6749 §3.1.2.3).
        params = {"response_type": "code", "client_id": c.client_id, "scope": "openid", "state": "s"}
        self.assert_error_page(self.s.http().get("/authorize?" + urllib.parse.urlencode(params)))

    def test_public_client_without_pkce(self):
        flow = Flow(self, self.s)
        reply = flow.authorize(self.s.public, "https://app.example/cb", pkce=False)
        self.assert_redirect_error(reply, "https://app.example/cb", "invalid_request", flow.state)
        self.assertIn("error_description", reply.location_params())

    def test_plain_pkce_refused(self):
        flow = Flow(self, self.s)
        reply = flow.authorize(self.s.public, "https://app.example/cb",
                               extra={"code_challenge_method": "plain", "code_challenge": pkce_pair()[0]})
        self.assert_redirect_error(reply, "https://app.example/cb", "invalid_request", flow.state)
        reply = flow.authorize(self.s.public, "https://app.example/cb", extra={"code_challenge": "short"})
        self.assert_redirect_error(reply, "https://app.example/cb", "invalid_request", flow.state)

    def test_response_type_and_scope_errors(self):
        c = self.s.confidential
        uri = c.redirect_uris[0]
        flow = Flow(self, self.s)
        self.assert_redirect_error(flow.authorize(c, uri, extra={"response_type": "token"}), uri,
                                   "unsupported_response_type", flow.state)
        reply = flow.authorize(c, uri, extra={"response_type": ""})
        self.assertEqual(reply.status, 303)
        self.assertIn(reply.location_params().get("error"), ("invalid_request", "unsupported_response_type"))
        self.assert_redirect_error(flow.authorize(c, uri, scope="openid admin"), uri, "invalid_scope", flow.state)

    def test_deny(self):
        client = self.s.confidential
        uri = client.redirect_uris[0]
        flow = Flow(self, self.s)
        reply = flow.complete(flow.authorize(client, uri, extra={"prompt": "consent"}), decision="deny")
        self.assert_redirect_error(reply, uri, "access_denied", flow.state)

    def test_prompt_none_without_session(self):
        flow = Flow(self, self.s)
        uri = self.s.confidential.redirect_uris[0]
        reply = flow.authorize(self.s.confidential, uri, extra={"prompt": "none"})
        self.assert_redirect_error(reply, uri, "login_required", flow.state)

    def test_sso_and_remembered_consent(self):
        client = self.s.confidential
        uri = client.redirect_uris[0]
        flow = Flow(self, self.s)
        first = flow.code_from(flow.complete(flow.authorize(client, uri, "openid profile")), uri)
        self.assertEqual(flow.exchange(client, first, uri).status, 200)
        # Same cookie jar: logged in and consented -> straight to the redirect_uri.
        reply = flow.authorize(client, uri, "openid profile")
        second = flow.code_from(reply, uri)
        self.assertNotEqual(first, second)
        tokens = flow.exchange(client, second, uri)
        self.assertEqual(tokens.status, 200, tokens.text)
        # prompt=none works with the session too.
        reply = flow.authorize(client, uri, "openid profile", extra={"prompt": "none"})
        flow.code_from(reply, uri)
        # prompt=login forces the login page again.
        reply = flow.authorize(client, uri, "openid profile", extra={"prompt": "login"})
        self.assertEqual(reply.status, 303)
        self.assertTrue(is_on(self.s, reply.location), reply.location)
        page = flow.get_page(reply.location)
        self.assertEqual(only_post_form(page.text).input_types.get("password"), "password")
        # new scopes (not yet consented) + prompt=none -> consent_required
        # (the public client never got consent for these scopes in this suite).
        flow2 = Flow(self, self.s, flow.http)
        public_uri = "https://app.example/cb"
        reply = flow2.authorize(self.s.public, public_uri, "openid profile email offline_access",
                                extra={"prompt": "none"})
        self.assert_redirect_error(reply, public_uri, "consent_required", flow2.state)

    # ---- login page ---------------------------------------------------------------------------
    def _login_page(self, flow: Flow) -> Reply:
        reply = flow.authorize(self.s.confidential, self.s.confidential.redirect_uris[0])
        self.assertEqual(reply.status, 303)
        return flow.get_page(reply.location)

    def test_wrong_password_and_unknown_user_same_message(self):
        flow = Flow(self, self.s)
        page = self._login_page(flow)
        _, original_text = parse_page(page.text)
        wrong_pw = flow.login(page, password="not the password")
        self.assertLess(wrong_pw.status, 500)
        self.assertNotEqual(wrong_pw.status, 303, "a wrong password must not proceed")
        forms, wrong_pw_text = parse_page(wrong_pw.text)
        self.assertEqual(only_post_form(wrong_pw.text).input_types.get("password"), "password")
        assert_page_headers(self, wrong_pw)
        self.assertNotEqual(wrong_pw_text, original_text, "the page says the login failed")

        flow2 = Flow(self, self.s)
        page2 = self._login_page(flow2)
        unknown = flow2.login(page2, username="mallory-" + secrets.token_hex(4), password="whatever")
        self.assertEqual(unknown.status, wrong_pw.status)
        _, unknown_text = parse_page(unknown.text)
        self.assertEqual(unknown_text, wrong_pw_text, "wrong user and wrong password must read the same")

        # After a failure the right password still works (the page re-issued a usable form).
        reply = flow.login(Reply(wrong_pw.status, wrong_pw.headers, wrong_pw.body, page.url))
        self.assertEqual(reply.status, 303)
        final = flow.complete(reply)
        flow.code_from(final, self.s.confidential.redirect_uris[0])

    def test_csrf_missing_or_garbled_on_login(self):
        for csrf in (False, "", "garbage", b64url(secrets.token_bytes(32))):
            with self.subTest(csrf=csrf):
                flow = Flow(self, self.s)
                page = self._login_page(flow)
                reply = flow.login(page, csrf=csrf)
                self.assertGreaterEqual(reply.status, 400, f"csrf={csrf!r}: {reply.status} {reply.location}")
                self.assertLess(reply.status, 500)
                # No session was created: prompt=none still asks for a login.
                again = flow.authorize(self.s.confidential, self.s.confidential.redirect_uris[0],
                                       extra={"prompt": "none"})
                self.assert_redirect_error(again, self.s.confidential.redirect_uris[0], "login_required", flow.state)

    def test_csrf_of_another_browser_rejected(self):
        """A CSRF token is bound to its browser: flow B's token does not work in flow A."""
        a, b = Flow(self, self.s), Flow(self, self.s)
        page_a, page_b = self._login_page(a), self._login_page(b)
        stolen = only_post_form(page_b.text).inputs["csrf"]
        reply = a.login(page_a, csrf=stolen)
        self.assertGreaterEqual(reply.status, 400)
        self.assertLess(reply.status, 500)

    def test_csrf_garbled_on_consent(self):
        client = self.s.confidential
        uri = client.redirect_uris[0]
        flow = Flow(self, self.s)
        reply = flow.authorize(client, uri, extra={"prompt": "consent"})
        page = flow.get_page(reply.location)
        reply = flow.login(page)
        consent_page = flow.get_page(reply.location)
        reply = flow.consent(consent_page, "allow", csrf="garbage")
        self.assertGreaterEqual(reply.status, 400)
        self.assertLess(reply.status, 500)
        self.assertNotIn("code=", reply.location or "")

    def test_interaction_needs_its_browser(self):
        """Another cookie jar cannot continue someone else's interaction."""
        flow = Flow(self, self.s)
        reply = flow.authorize(self.s.confidential, self.s.confidential.redirect_uris[0])
        page = flow.get_page(reply.location)
        form = only_post_form(page.text)
        thief = self.s.http()
        fields = dict(form.inputs, username=self.s.user.username, password=self.s.user.password)
        stolen = thief.post_form(urllib.parse.urljoin(page.url, form.action), fields)
        self.assertGreaterEqual(stolen.status, 400, f"{stolen.status} {stolen.location}")
        self.assertLess(stolen.status, 500)

    # ---- discovery and JWKS -------------------------------------------------------------------
    def test_discovery_documents(self):
        for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            with self.subTest(path=path):
                reply = self.s.http().get(path)
                self.assertEqual(reply.status, 200)
                self.assertTrue(reply.header("Content-Type").startswith("application/json"))
                doc = reply.json()
                self.assertEqual(doc["issuer"], self.s.issuer)  # RFC 8414 §3.3
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    self.assertTrue(doc[key].startswith(self.s.issuer + "/"), f"{key}={doc.get(key)}")
                self.assertEqual(doc["response_types_supported"], ["code"])
                self.assertIn("authorization_code", doc.get("grant_types_supported", ["authorization_code"]))
                self.assertEqual(doc["code_challenge_methods_supported"], ["S256"])
                self.assertTrue({"client_secret_basic", "client_secret_post", "none"}
                                <= set(doc["token_endpoint_auth_methods_supported"]))
                self.assertIn("openid", doc["scopes_supported"])
                self.assertTrue(doc.get("authorization_response_iss_parameter_supported"))  # RFC 9207 §3
                # The endpoints named are the real ones.
                jwks = self.s.http().get(doc["jwks_uri"])
                self.assertEqual(jwks.status, 200)
        oidc = self.s.http().get("/.well-known/openid-configuration").json()
        self.assertIn("public", oidc["subject_types_supported"])
        self.assertIn("ES256", oidc["id_token_signing_alg_values_supported"])

    def test_security_headers_on_error_page(self):
        reply = Flow(self, self.s).authorize(harness.Client("nope", None, []), "https://x.example/")
        assert_page_headers(self, reply)

    # ---- bad input ----------------------------------------------------------------------------
    def test_duplicated_parameters(self):
        c = self.s.confidential
        uri = c.redirect_uris[0]
        base = [("response_type", "code"), ("client_id", c.client_id), ("redirect_uri", uri),
                ("scope", "openid"), ("state", "s1")]
        http = self.s.http()
        # RFC 6749 §3.1: duplicated scope with a valid client -> invalid_request redirect.
        reply = http.get("/authorize?" + urllib.parse.urlencode(base + [("scope", "profile")]))
        self.assertEqual(reply.status, 303, reply.text[:200])
        self.assertEqual(reply.location_params().get("error"), "invalid_request")
        # Duplicated client_id or redirect_uri -> cannot trust them: error page.
        for dup in (("client_id", c.client_id), ("redirect_uri", uri)):
            reply = http.get("/authorize?" + urllib.parse.urlencode(base + [dup]))
            self.assert_error_page(reply)
        # At the token endpoint.
        fields = [("grant_type", "authorization_code"), ("code", "a"), ("code", "b"), ("redirect_uri", uri),
                  ("code_verifier", pkce_pair()[0])]
        reply = Flow(self, self.s).token(fields, {"Authorization": basic_auth(c.client_id, c.secret)})
        self.assert_token_error(reply, "invalid_request")

    def test_invalid_utf8_and_malformed_encoding(self):
        c = self.s.confidential
        http = self.s.http()
        reply = http.get("/authorize?response_type=code&client_id=%FF%FE&redirect_uri=https%3A%2F%2Frp.example%2Fcallback")
        self.assert_error_page(reply)
        for bad in ("%FF", "%zz", "%", "a%2"):
            with self.subTest(state=bad):
                target = ("/authorize?response_type=code&client_id=" + c.client_id +
                          "&redirect_uri=" + urllib.parse.quote(c.redirect_uris[0], safe="") +
                          "&scope=openid&state=" + bad)
                reply = http.get(target)
                self.assertIn(reply.status, (303, 400), reply.text[:200])
                if reply.status == 303:
                    self.assertEqual(reply.location_params().get("error"), "invalid_request")
                else:
                    self.assertIsNone(reply.location)
        body = "grant_type=authorization_code&code=%FF&redirect_uri=x&code_verifier=" + pkce_pair()[0]
        reply = http.request("POST", "/token", body=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "Authorization": basic_auth(c.client_id, c.secret)})
        self.assertEqual(reply.status, 400, reply.text)
        self.assertIn(reply.json()["error"], ("invalid_request", "invalid_grant"))

    def test_oversized_body_413(self):
        body = b"grant_type=authorization_code&code=" + b"A" * (70 * 1024)
        sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=harness.REQUEST_TIMEOUT)
        try:
            head = (f"POST /token HTTP/1.1\r\nHost: 127.0.0.1:{self.s.port}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            try:
                sock.sendall(head + body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may stop reading once it saw Content-Length; the answer still counts
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        finally:
            sock.close()
        status_line = data.split(b"\r\n", 1)[0]
        self.assertTrue(status_line.startswith(b"HTTP/1.1 413"), f"got {status_line!r} (full: {data[:300]!r})")

    def test_oversized_header_rejected(self):
        reply = self.s.http().get("/.well-known/openid-configuration", headers={"X-Big": "a" * (64 * 1024)})
        self.assertIn(reply.status, (400, 413, 431))

    def test_wrong_content_type_at_token(self):
        c = self.s.confidential
        http = self.s.http()
        body = json.dumps({"grant_type": "authorization_code", "code": "x"})
        for ctype in ("application/json", "text/plain", "multipart/form-data; boundary=x", None):
            with self.subTest(ctype=ctype):
                headers = {"Authorization": basic_auth(c.client_id, c.secret)}
                if ctype:
                    headers["Content-Type"] = ctype
                reply = http.request("POST", "/token", body=body, headers=headers, use_cookies=False)
                self.assert_token_error(reply, "invalid_request")
        # GET at the token endpoint is not how it works (RFC 6749 §3.2: POST).
        reply = http.get("/token?grant_type=authorization_code")
        self.assertIn(reply.status, (400, 405))

    def test_garbage_cookies_are_harmless(self):
        c = self.s.confidential
        uri = c.redirect_uris[0]
        # Learn the cookie names the server uses, then send garbage values and garbage syntax.
        probe = Flow(self, self.s)
        probe.authorize(c, uri)
        names = list(probe.http.jar.cookies) or ["session"]
        garbage_headers = ["; ".join(f"{n}={v}" for n in names) for v in
                           ("garbage", "", "%FF%FE", "a" * 4000, '"quoted"', b64url(secrets.token_bytes(32)))]
        garbage_headers += ["=;;;=", "no-equals-sign", "\x01\x02;\x7f=1"]
        for cookie in garbage_headers:
            with self.subTest(cookie=cookie[:40]):
                flow = Flow(self, self.s)
                try:
                    reply = flow.http.request("GET", "/authorize?" + urllib.parse.urlencode({
                        "response_type": "code", "client_id": c.client_id, "redirect_uri": uri,
                        "scope": "openid", "state": "st", "code_challenge": pkce_pair()[1],
                        "code_challenge_method": "S256"}), headers={"Cookie": cookie})
                except ValueError:
                    continue  # http.client refuses control characters in headers: nothing to send
                self.assertIn(reply.status, (303, 400), reply.text[:200])
                if reply.status == 303:
                    self.assertTrue(is_on(self.s, reply.location), "garbage cookie must not count as a session")
                # prompt=none with garbage: login_required, not a crash and not a session.
                reply = flow.http.request("GET", "/authorize?" + urllib.parse.urlencode({
                    "response_type": "code", "client_id": c.client_id, "redirect_uri": uri,
                    "scope": "openid", "state": "st", "prompt": "none"}), headers={"Cookie": cookie})
                self.assertLess(reply.status, 500)
                if reply.status == 303:
                    self.assertEqual(reply.location_params().get("error"), "login_required")

    def test_malformed_request_line_does_not_hang(self):
        for raw in (b"GARBAGE\r\n\r\n", b"GET /authorize HTTP/9.9\r\n\r\n", b"\x00\x01\x02\r\n\r\n",
                    b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"):
            with self.subTest(raw=raw):
                sock = socket.create_connection(("127.0.0.1", self.s.port), timeout=harness.REQUEST_TIMEOUT)
                try:
                    sock.sendall(raw)
                    data = b""
                    try:
                        while True:  # the server answers and/or closes; it must not leave us hanging
                            chunk = sock.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                    except ConnectionResetError:
                        pass
                    except socket.timeout:
                        self.fail(f"server kept the connection open {harness.REQUEST_TIMEOUT}s after {raw!r}")
                finally:
                    sock.close()
                if data:
                    self.assertRegex(data.split(b"\r\n", 1)[0], rb"^HTTP/1\.[01] 4\d\d")

    def test_keep_alive(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=harness.REQUEST_TIMEOUT)
        try:
            for _ in range(3):
                conn.request("GET", "/jwks")
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 200)
            self.assertIsNotNone(conn.sock, "server closed a keep-alive connection")
        finally:
            conn.close()

    def test_unknown_path_404(self):
        reply = self.s.http().get("/no/such/path")
        self.assertEqual(reply.status, 404)


class SlowRequestsTest(unittest.TestCase):
    """Password checks (Argon2id, tens of ms of CPU each) run on a pool of their own: with a single
    I/O thread, a quick request sent while a dozen logins are hashing is answered before most of
    them. Without the pool it would queue behind every login that arrived before it."""

    def test_quick_requests_are_answered_while_logins_hash(self):
        server = harness.Server()
        server.env["LATCHKEY_SERVER_THREADS"] = "1"
        server.start()
        try:
            n = 12
            flows, pages = [], []
            for _ in range(n):
                flow = Flow(self, server)
                reply = flow.authorize(server.public, "http://127.0.0.1/callback")
                pages.append(flow.get_page(reply.location))
                flows.append(flow)
            order: list[tuple[str, int]] = []
            lock = threading.Lock()

            def login(i: int) -> None:
                reply = flows[i].login(pages[i])
                with lock:
                    order.append(("login", reply.status))

            threads = [threading.Thread(target=login, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            time.sleep(0.05)  # the logins are on the wire (not a timing assertion: only the order is checked)
            quick = server.http().get("/jwks")
            with lock:
                order.append(("jwks", quick.status))
            for t in threads:
                t.join()
            self.assertEqual(quick.status, 200)
            self.assertEqual([status for kind, status in order if kind == "login"], [303] * n, order)
            position = [kind for kind, _ in order].index("jwks")
            self.assertLess(position, n // 2, f"the quick request waited for {position} of {n} logins: {order}")
        finally:
            server.stop()
            server.cleanup()


class ShutdownTest(unittest.TestCase):
    """SIGTERM ends the server promptly with exit code 0, even with idle and half-sent connections."""

    def test_sigterm_with_open_connections(self):
        import http.client
        server = harness.start_server()
        idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=harness.REQUEST_TIMEOUT)
        partial = socket.create_connection(("127.0.0.1", server.port), timeout=harness.REQUEST_TIMEOUT)
        try:
            idle.request("GET", "/jwks")
            self.assertEqual(idle.getresponse().read() and 200, 200)  # now an idle keep-alive connection
            partial.sendall(b"GET /jwks HTTP/1.1\r\nHost: x\r\n")  # a request that never finishes
            started = time.monotonic()
            code = server.stop()
            elapsed = time.monotonic() - started
            self.assertEqual(code, 0, f"exit code after SIGTERM (None = had to be killed)\n{server.logs()}")
            self.assertLess(elapsed, harness.STOP_TIMEOUT)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        finally:
            idle.close()
            partial.close()
            server.cleanup()


if __name__ == "__main__":
    harness.run_tests()
