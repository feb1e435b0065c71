"""Token lifecycle against the real latchkey-server over loopback HTTP: refresh rotation and reuse
detection (also under 50 concurrent refreshes), client_credentials, the device flow end to end,
revocation, introspection, userinfo per scope, RP-initiated logout, key rotation on a running
server, expiry, and bad input (never a 5xx).

Run: LATCHKEY_SERVER_BIN=build/src/server/latchkey-server /usr/bin/python3 tests/integration/test_lifecycle.py
Tokens are verified with jwcrypto (Debian's python3-jwcrypto) against the server's /jwks.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from jwcrypto import jwk, jws  # noqa: E402

import harness  # noqa: E402
from harness import Client, Http, Reply, b64url, basic_auth, only_post_form  # noqa: E402
from test_code_flow import Flow, aud_list, jwt_parts  # noqa: E402  (the code-flow walker; no tests imported)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_RE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")  # RFC 8628 §6.1
DEVICE_POLL_INTERVAL = 2   # LATCHKEY_DEVICE_POLL_INTERVAL for the main server: keeps the suite fast
DEVICE_CODE_TTL = 60       # the smallest the server accepts; test_zz_device_code_expires waits it out
KEY_RELOAD_DEADLINE = 15.0  # a running server reloads its keys every 10 s
API_AUDIENCE = "https://api.example/reports"


class LifecycleServer(harness.Server):
    """The harness server plus the clients this suite needs: a service (client_credentials with an
    audience), a resource server that introspects, and a public device-flow client."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.env.update(env or {})
        self.service = Client("it-service", b64url(secrets.token_bytes(32)), ["https://service.example/unused"])
        self.resource = Client("it-resource-server", b64url(secrets.token_bytes(32)), ["https://rs.example/unused"])
        self.device = Client("it-device", None, ["https://device.example/unused"])

    def provision(self) -> None:
        super().provision()
        self.admin("client", "create", "--database", self.db, "--client-id", self.service.client_id,
                   "--secret-stdin", "--scope", "reports:read reports:write", "--grant-type", "client_credentials",
                   "--audience", API_AUDIENCE, "--redirect-uri", self.service.redirect_uris[0], "--json",
                   stdin=self.service.secret + "\n")
        self.admin("client", "create", "--database", self.db, "--client-id", self.resource.client_id,
                   "--secret-stdin", "--scope", "introspect", "--grant-type", "client_credentials",
                   "--redirect-uri", self.resource.redirect_uris[0], "--json", stdin=self.resource.secret + "\n")
        self.admin("client", "create", "--database", self.db, "--client-id", self.device.client_id, "--public",
                   "--scope", "openid profile email offline_access", "--grant-type", DEVICE_GRANT,
                   "--grant-type", "refresh_token", "--redirect-uri", self.device.redirect_uris[0], "--json")


def start_lifecycle_server(env: dict[str, str] | None = None) -> LifecycleServer:
    server = LifecycleServer(env)
    harness.STARTED.append(server)
    return server.start()


def finish_server(server: harness.Server) -> None:
    """The server survived everything, never answered 5xx, and stops cleanly on SIGTERM."""
    try:
        health = server.http().get("/.well-known/openid-configuration")
        errors = server.server_errors()
    finally:
        code = server.stop()
    assert health.status == 200, f"discovery answered {health.status} at the end"
    assert not errors, f"server answered 5xx: {errors}"
    assert code == 0, f"SIGTERM: exit code {code}, expected 0"


class Base(unittest.TestCase):
    """Helpers shared by the test classes; each class sets `server`."""
    server: LifecycleServer

    def setUp(self):
        self.s = self.server

    # ---- JOSE, checked with jwcrypto ---------------------------------------------------------
    def jwks(self) -> jwk.JWKSet:
        reply = self.s.http().get("/jwks")
        self.assertEqual(reply.status, 200)
        return jwk.JWKSet.from_json(reply.text)

    def verify_jwt(self, token: str, keys: jwk.JWKSet | None = None) -> tuple[dict, dict]:
        keys = keys or self.jwks()
        header, _ = jwt_parts(token)
        key = keys.get_key(header["kid"])
        self.assertIsNotNone(key, f"kid {header['kid']} not in JWKS")
        obj = jws.JWS()
        obj.allowed_algs = ["ES256"]
        obj.deserialize(token)
        obj.verify(key)  # raises on a bad signature
        return header, json.loads(obj.payload)

    # ---- endpoints ------------------------------------------------------------------------------
    def post(self, path: str, client: Client | None, fields, auth: str = "basic",
             http: Http | None = None) -> Reply:
        """POST a form with client authentication (basic, post, or client_id only for public clients)."""
        fields = list(fields.items()) if isinstance(fields, dict) else list(fields)
        headers = {}
        if client is not None:
            if client.secret is None:
                fields.append(("client_id", client.client_id))
            elif auth == "basic":
                headers["Authorization"] = basic_auth(client.client_id, client.secret)
            else:
                fields += [("client_id", client.client_id), ("client_secret", client.secret)]
        return (http or self.s.http()).post_form(path, fields, headers=headers, use_cookies=False)

    def refresh(self, client: Client, refresh_token: str, extra=None, http: Http | None = None) -> Reply:
        return self.post("/token", client, [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
                         + list((extra or {}).items()), http=http)

    def introspect(self, token: str, client: Client | None = None) -> dict:
        reply = self.post("/introspect", client or self.s.resource, {"token": token})
        self.assertEqual(reply.status, 200, reply.text)
        self.assertIn("no-store", reply.header("Cache-Control") or "")
        body = reply.json()
        self.assertIsInstance(body.get("active"), bool, reply.text)
        return body

    def assert_inactive(self, token: str, what: str):
        body = self.introspect(token)
        # RFC 7662 §2.2: an inactive token reveals nothing more.
        self.assertEqual(body, {"active": False}, f"{what}: {body}")

    def userinfo(self, access_token: str | None, method: str = "GET") -> Reply:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token is not None else {}
        return self.s.http().request(method, "/userinfo", headers=headers, use_cookies=False)

    def assert_token_error(self, reply: Reply, error: str, status: int = 400):
        self.assertEqual(reply.status, status, f"{reply.url}: {reply.text}")
        self.assertTrue((reply.header("Content-Type") or "").startswith("application/json"), reply.header("Content-Type"))
        self.assertEqual(reply.json().get("error"), error, reply.text)

    def code_flow(self, client: Client | None = None, scope: str = "openid profile email offline_access",
                  redirect_uri: str | None = None, flow: Flow | None = None) -> tuple[Flow, dict]:
        client = client or self.s.confidential
        redirect_uri = redirect_uri or client.redirect_uris[0]
        flow = flow or Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(client, redirect_uri, scope)), redirect_uri)
        reply = flow.exchange(client, code, redirect_uri)
        self.assertEqual(reply.status, 200, reply.text)
        return flow, reply.json()

    def client_credentials(self, scope: str = "reports:read", audience: str | None = API_AUDIENCE) -> Reply:
        fields = {"grant_type": "client_credentials", "scope": scope}
        if audience:
            fields["audience"] = audience
        return self.post("/token", self.s.service, fields)


class LifecycleTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.server = start_lifecycle_server({"LATCHKEY_DEVICE_POLL_INTERVAL": str(DEVICE_POLL_INTERVAL),
                                             "LATCHKEY_DEVICE_CODE_TTL": str(DEVICE_CODE_TTL)})
        # A device code that nobody approves, to see it expire at the end of the class.
        cls.expiring_device_started = time.monotonic()
        reply = cls.server.http().post_form("/device_authorization", {"client_id": cls.server.device.client_id,
                                                                       "scope": "openid"})
        assert reply.status == 200, reply.text
        cls.expiring_device = reply.json()

    @classmethod
    def tearDownClass(cls):
        finish_server(cls.server)

    # ---- 1. refresh rotation ----------------------------------------------------------------------
    def test_refresh_rotates_and_old_token_fails(self):
        c = self.s.confidential
        flow, first = self.code_flow(c)
        rt0 = first["refresh_token"]
        _, first_id = self.verify_jwt(first["id_token"])
        seen = {rt0}
        current = rt0
        for round_ in range(2):
            reply = self.refresh(c, current)
            self.assertEqual(reply.status, 200, f"round {round_}: {reply.text}")
            self.assertIn("no-store", reply.header("Cache-Control") or "")
            body = reply.json()
            self.assertNotIn(body["refresh_token"], seen, "the refresh token was not rotated")
            seen.add(body["refresh_token"])
            _, at = self.verify_jwt(body["access_token"])
            self.assertEqual(at["sub"], first_id["sub"])
            self.assertEqual(at["client_id"], c.client_id)
            # OIDC Core §12.2: a refreshed id_token keeps iss, sub, aud and auth_time.
            _, idt = self.verify_jwt(body["id_token"])
            for claim in ("iss", "sub", "auth_time"):
                self.assertEqual(idt[claim], first_id[claim], claim)
            self.assertIn(c.client_id, aud_list(idt))
            previous, current = current, body["refresh_token"]
        # The one before the newest was rotated away: it fails.
        self.assert_token_error(self.refresh(c, previous), "invalid_grant")

    def test_refresh_scope_narrowing_and_widening(self):
        c = self.s.confidential
        _, first = self.code_flow(c)
        narrowed = self.refresh(c, first["refresh_token"], {"scope": "openid"})
        self.assertEqual(narrowed.status, 200, narrowed.text)
        self.assertEqual(narrowed.json()["scope"], "openid")
        _, at = self.verify_jwt(narrowed.json()["access_token"])
        self.assertEqual(at["scope"], "openid")
        # RFC 6749 §6: no scope beyond the original grant.
        wider = self.refresh(c, narrowed.json()["refresh_token"], {"scope": "openid admin"})
        self.assert_token_error(wider, "invalid_scope")
        # The refused attempt consumed nothing: the token still refreshes.
        self.assertEqual(self.refresh(c, narrowed.json()["refresh_token"]).status, 200)

    def test_refresh_by_another_client_changes_nothing(self):
        _, first = self.code_flow(self.s.confidential)
        stolen = self.refresh(self.s.public, first["refresh_token"])
        self.assert_token_error(stolen, "invalid_grant")
        self.assertTrue(self.introspect(first["access_token"])["active"], "a foreign client's attempt revoked the grant")
        self.assertEqual(self.refresh(self.s.confidential, first["refresh_token"]).status, 200)

    def test_public_client_refresh(self):
        p = self.s.public
        _, first = self.code_flow(p, redirect_uri="https://app.example/cb")
        reply = self.refresh(p, first["refresh_token"])
        self.assertEqual(reply.status, 200, reply.text)
        self.assertNotEqual(reply.json()["refresh_token"], first["refresh_token"])

    # ---- 2. reuse revokes the grant -----------------------------------------------------------------
    def test_reuse_revokes_the_grant(self):
        c = self.s.confidential
        _, first = self.code_flow(c)
        rotated = self.refresh(c, first["refresh_token"])
        self.assertEqual(rotated.status, 200, rotated.text)
        new = rotated.json()
        self.assertTrue(self.introspect(new["access_token"])["active"], "fresh access token inactive before reuse")
        self.assertTrue(self.introspect(new["refresh_token"])["active"], "fresh refresh token inactive before reuse")
        # RFC 9700 §4.14.2: the rotated-away token comes back -> the whole grant dies.
        self.assert_token_error(self.refresh(c, first["refresh_token"]), "invalid_grant")
        self.assert_inactive(new["access_token"], "access token issued after the rotation")
        self.assert_inactive(first["access_token"], "the first access token")
        self.assert_inactive(new["refresh_token"], "the newest refresh token")
        self.assert_token_error(self.refresh(c, new["refresh_token"]), "invalid_grant")
        self.assertEqual(self.userinfo(new["access_token"]).status, 401)

    # ---- 3. concurrent refreshes ------------------------------------------------------------------
    def _race(self, token: str, n: int) -> list[Reply]:
        """n refreshes of one token, each on its own connection, released together by a barrier."""
        return harness.race(n, lambda: self.refresh(self.s.confidential, token))

    def test_concurrent_refresh_exactly_one_wins_then_grant_revoked(self):
        n = 50
        _, first = self.code_flow(self.s.confidential)
        replies = self._race(first["refresh_token"], n)
        statuses = sorted(r.status for r in replies)
        self.assertEqual(statuses, [200] + [400] * (n - 1), f"statuses: {statuses}")
        winner = next(r for r in replies if r.status == 200).json()
        for r in replies:
            if r.status == 400:
                self.assertEqual(r.json().get("error"), "invalid_grant", r.text)
        self.assertTrue(winner["refresh_token"] and winner["refresh_token"] != first["refresh_token"])
        # Consistent end state, by design: the losers presented a token the winner had already
        # rotated away. To the server that is indistinguishable from a stolen token being replayed
        # (RFC 9700 §4.14.2), so reuse detection revokes the whole grant, the winner's new tokens
        # included. A client must never send one refresh token twice; no grace period exists.
        self.assert_inactive(winner["access_token"], "winner's access token")
        self.assert_inactive(winner["refresh_token"], "winner's refresh token")
        self.assert_token_error(self.refresh(self.s.confidential, winner["refresh_token"]), "invalid_grant")

    def test_serialized_refreshes_only_the_first_works(self):
        n = 50
        c = self.s.confidential
        _, first = self.code_flow(c)
        replies = [self.refresh(c, first["refresh_token"]) for _ in range(n)]
        self.assertEqual(replies[0].status, 200, replies[0].text)
        for i, r in enumerate(replies[1:], 1):
            self.assertEqual((r.status, r.json().get("error")), (400, "invalid_grant"), f"request {i}: {r.text}")
        # The second request was a reuse: the grant is gone, the first one's new token too.
        self.assert_token_error(self.refresh(c, replies[0].json()["refresh_token"]), "invalid_grant")
        self.assert_inactive(replies[0].json()["access_token"], "access token of the first refresh")

    # ---- 4. client_credentials --------------------------------------------------------------------
    def test_client_credentials_with_audience(self):
        reply = self.client_credentials("reports:read reports:write")
        self.assertEqual(reply.status, 200, reply.text)
        self.assertIn("no-store", reply.header("Cache-Control") or "")
        body = reply.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertNotIn("refresh_token", body)  # RFC 6749 §4.4.3
        self.assertNotIn("id_token", body)
        header, at = self.verify_jwt(body["access_token"])
        self.assertEqual(header.get("typ", "").lower(), "at+jwt")
        self.assertEqual(at["sub"], self.s.service.client_id)
        self.assertEqual(at["client_id"], self.s.service.client_id)
        self.assertEqual(aud_list(at), [API_AUDIENCE])
        self.assertEqual(set(at["scope"].split()), {"reports:read", "reports:write"})
        self.assertEqual(at["iss"], self.s.issuer)
        info = self.introspect(body["access_token"])
        self.assertTrue(info["active"])
        self.assertEqual(info["sub"], self.s.service.client_id)
        self.assertEqual(info["client_id"], self.s.service.client_id)
        self.assertNotIn("username", info)
        # A client token has no user: userinfo refuses it (no openid scope).
        ui = self.userinfo(body["access_token"])
        self.assertIn(ui.status, (401, 403), ui.text)

    def test_client_credentials_refusals(self):
        svc = self.s.service
        self.assert_token_error(self.client_credentials(audience="https://other.example/"), "invalid_target")
        self.assert_token_error(self.client_credentials(scope="openid"), "invalid_scope")
        self.assert_token_error(self.client_credentials(scope="admin"), "invalid_scope")
        # A client registered without the grant, and a public client.
        for client in (self.s.confidential, self.s.public):
            reply = self.post("/token", client, {"grant_type": "client_credentials"})
            self.assert_token_error(reply, "unauthorized_client")
        wrong = Client(svc.client_id, "not-the-secret-" + "x" * 30, [])
        reply = self.post("/token", wrong, {"grant_type": "client_credentials"})
        self.assert_token_error(reply, "invalid_client", 401)
        self.assertTrue((reply.header("WWW-Authenticate") or "").lower().startswith("basic"))
        # client_secret_post works as well.
        reply = self.post("/token", svc, {"grant_type": "client_credentials", "scope": "reports:read"}, auth="post")
        self.assertEqual(reply.status, 200, reply.text)

    # ---- 5. device flow -----------------------------------------------------------------------
    def device_authorization(self, scope: str = "openid profile offline_access") -> dict:
        reply = self.post("/device_authorization", self.s.device, {"scope": scope})
        self.assertEqual(reply.status, 200, reply.text)
        self.assertIn("no-store", reply.header("Cache-Control") or "")
        body = reply.json()
        self.assertRegex(body["user_code"], USER_CODE_RE)
        self.assertEqual(body["verification_uri"], self.s.issuer + "/device")
        self.assertTrue(body["verification_uri_complete"].startswith(body["verification_uri"] + "?"))
        self.assertEqual(body["expires_in"], DEVICE_CODE_TTL)
        self.assertEqual(body["interval"], DEVICE_POLL_INTERVAL)
        self.assertGreaterEqual(len(body["device_code"]), 43)
        return body

    def poll(self, device_code: str, client: Client | None = None) -> Reply:
        return self.post("/token", client or self.s.device, {"grant_type": DEVICE_GRANT, "device_code": device_code})

    def user_enters_code(self, start_url: str, user_code: str | None, decision: str = "allow") -> Reply:
        """A browser (own cookie jar): the device page, the code, login, consent. Returns the last page."""
        http = self.s.http()
        page = http.get(start_url)
        self.assertEqual(page.status, 200, page.text[:300])
        form = only_post_form(page.text)
        self.assertIn("csrf", form.inputs, "device form has no csrf field")
        self.assertIn("user_code", form.inputs)
        fields = dict(form.inputs)
        if user_code is not None:
            fields["user_code"] = user_code
        reply = http.post_form(urllib.parse.urljoin(page.url, form.action), fields)
        self.assertEqual(reply.status, 303, reply.text[:300])
        self.assertIn("/interaction/", reply.location)
        flow = Flow(self, self.s, http)
        login_page = flow.get_page(reply.location)
        self.assertEqual(only_post_form(login_page.text).input_types.get("password"), "password")
        reply = flow.login(login_page)
        self.assertEqual(reply.status, 303, reply.text[:300])
        consent_page = flow.get_page(reply.location)
        self.assertIn(self.s.device.client_id, consent_page.text, "the consent page names the device's client")
        final = flow.consent(consent_page, decision)
        self.assertEqual(final.status, 200, final.text[:300])
        return final

    def test_device_flow_end_to_end(self):
        d = self.device_authorization()
        self.assert_token_error(self.poll(d["device_code"]), "authorization_pending")
        # RFC 8628 §3.5: too fast -> slow_down, and the interval grows by 5 s from now on.
        self.assert_token_error(self.poll(d["device_code"]), "slow_down")
        last_poll = time.monotonic()
        # The user follows verification_uri_complete: the code is filled in already.
        page = self.s.http().get(d["verification_uri_complete"])
        self.assertEqual(only_post_form(page.text).inputs.get("user_code"), d["user_code"])
        done = self.user_enters_code(d["verification_uri_complete"], None)
        self.assertIn("connected", done.text.lower())
        time.sleep(max(0.0, last_poll + DEVICE_POLL_INTERVAL + 5 + 0.3 - time.monotonic()))
        reply = self.poll(d["device_code"])
        self.assertEqual(reply.status, 200, reply.text)
        tokens = reply.json()
        self.assertTrue(tokens.get("refresh_token"), "offline_access granted but no refresh token")
        _, at = self.verify_jwt(tokens["access_token"])
        _, idt = self.verify_jwt(tokens["id_token"])
        self.assertEqual(at["client_id"], self.s.device.client_id)
        self.assertEqual(at["sub"], idt["sub"])
        self.assertIn(self.s.device.client_id, aud_list(idt))
        self.assertEqual(set(at["scope"].split()), {"openid", "profile", "offline_access"})
        info = self.userinfo(tokens["access_token"])
        self.assertEqual(info.status, 200, info.text)
        self.assertEqual(info.json()["preferred_username"], self.s.user.username)
        # The device_code works once.
        self.assert_token_error(self.poll(d["device_code"]), "invalid_grant")
        # The device's refresh token rotates like any other.
        refreshed = self.refresh(self.s.device, tokens["refresh_token"])
        self.assertEqual(refreshed.status, 200, refreshed.text)

    def test_device_flow_typed_code_lowercase_without_dash(self):
        d = self.device_authorization("openid")
        typed = d["user_code"].replace("-", "").lower()
        self.user_enters_code("/device", typed)
        reply = self.poll(d["device_code"])  # first poll: no interval to respect yet
        self.assertEqual(reply.status, 200, reply.text)

    def test_device_flow_denied(self):
        d = self.device_authorization()
        done = self.user_enters_code("/device", d["user_code"], decision="deny")
        self.assertIn("denied", done.text.lower())
        # RFC 8628 §3.5 access_denied is a token endpoint error: RFC 6749 §5.2 says 400.
        self.assert_token_error(self.poll(d["device_code"]), "access_denied", 400)

    def test_device_page_refusals(self):
        http = self.s.http()
        page = http.get("/device")
        form = only_post_form(page.text)
        action = urllib.parse.urljoin(page.url, form.action)
        for code in ("BCDF-GHJK", "", "x" * 100, "%%%%", "ÄÖÜ-€€€€"):
            with self.subTest(code=code):
                reply = http.post_form(action, dict(form.inputs, user_code=code))
                self.assertEqual(reply.status, 400, reply.text[:200])
                self.assertIsNone(reply.location)
        d = self.device_authorization("openid")
        for csrf in (None, "", "garbage"):
            with self.subTest(csrf=csrf):
                fields = dict(form.inputs, user_code=d["user_code"])
                if csrf is None:
                    fields.pop("csrf")
                else:
                    fields["csrf"] = csrf
                reply = http.post_form(action, fields)
                self.assertEqual(reply.status, 403, reply.text[:200])
                self.assertIsNone(reply.location)
        # Another browser's csrf token does not work here.
        other = only_post_form(self.s.http().get("/device").text).inputs["csrf"]
        reply = http.post_form(action, dict(form.inputs, user_code=d["user_code"], csrf=other))
        self.assertEqual(reply.status, 403, reply.text[:200])

    def test_zz_device_code_expires(self):
        """Runs last in the class: waits out the code requested in setUpClass (bounded)."""
        remaining = self.expiring_device_started + DEVICE_CODE_TTL + 1.5 - time.monotonic()
        self.assertLess(remaining, DEVICE_CODE_TTL + 2)
        time.sleep(max(0.0, remaining))
        self.assert_token_error(self.poll(self.expiring_device["device_code"]), "expired_token")
        # The page refuses the expired user code too.
        http = self.s.http()
        form = only_post_form(http.get("/device").text)
        reply = http.post_form(urllib.parse.urljoin("/device", form.action),
                               dict(form.inputs, user_code=self.expiring_device["user_code"]))
        self.assertEqual(reply.status, 400)

    # ---- 6. revocation -----------------------------------------------------------------------
    def test_revoke_refresh_token_revokes_grant(self):
        c = self.s.confidential
        _, t = self.code_flow(c)
        self.assertTrue(self.introspect(t["refresh_token"])["active"])
        self.assertTrue(self.introspect(t["access_token"])["active"])
        reply = self.post("/revoke", c, {"token": t["refresh_token"], "token_type_hint": "refresh_token"})
        self.assertEqual(reply.status, 200, reply.text)
        self.assert_inactive(t["refresh_token"], "revoked refresh token")
        self.assert_inactive(t["access_token"], "access token of the revoked grant")
        self.assert_token_error(self.refresh(c, t["refresh_token"]), "invalid_grant")
        ui = self.userinfo(t["access_token"])
        self.assertEqual(ui.status, 401)
        self.assertIn('error="invalid_token"', ui.header("WWW-Authenticate") or "")
        # Revoking again is still 200 (RFC 7009 §2.2).
        self.assertEqual(self.post("/revoke", c, {"token": t["refresh_token"]}).status, 200)

    def test_revoke_access_token(self):
        c = self.s.confidential
        _, t = self.code_flow(c)
        self.assertEqual(self.userinfo(t["access_token"]).status, 200)
        # A wrong hint does not stop the search (RFC 7009 §2.1).
        reply = self.post("/revoke", c, {"token": t["access_token"], "token_type_hint": "refresh_token"})
        self.assertEqual(reply.status, 200, reply.text)
        self.assert_inactive(t["access_token"], "revoked access token")
        ui = self.userinfo(t["access_token"])
        self.assertEqual(ui.status, 401, ui.text)
        self.assertIn('error="invalid_token"', ui.header("WWW-Authenticate") or "")
        # The jti is denied; the grant's refresh token lives on and yields a working token.
        self.assertTrue(self.introspect(t["refresh_token"])["active"])
        fresh = self.refresh(c, t["refresh_token"])
        self.assertEqual(fresh.status, 200, fresh.text)
        self.assertEqual(self.userinfo(fresh.json()["access_token"]).status, 200)

    def test_revoke_by_public_client_and_client_credentials_token(self):
        p = self.s.public
        _, t = self.code_flow(p, redirect_uri="https://app.example/cb")
        self.assertEqual(self.post("/revoke", p, {"token": t["refresh_token"]}).status, 200)
        self.assert_inactive(t["access_token"], "public client's access token after revoking its grant")
        cc = self.client_credentials().json()["access_token"]
        self.assertEqual(self.post("/revoke", self.s.service, {"token": cc}).status, 200)
        self.assert_inactive(cc, "revoked client_credentials token")

    def test_revoke_foreign_unknown_and_bad_requests(self):
        c = self.s.confidential
        _, t = self.code_flow(c)
        # Another client's token: refused, and nothing is revoked (RFC 7009 §2.1).
        for token in (t["refresh_token"], t["access_token"]):
            reply = self.post("/revoke", self.s.public, {"token": token})
            self.assert_token_error(reply, "unauthorized_client")
            self.assertTrue(self.introspect(token)["active"], "a foreign client revoked a token")
        # Unknown or garbage tokens: 200 (RFC 7009 §2.2).
        for token in ("unknown", b64url(secrets.token_bytes(32)), "a.b.c", "x" * 5000, t["id_token"]):
            with self.subTest(token=token[:20]):
                self.assertEqual(self.post("/revoke", c, {"token": token}).status, 200)
        self.assertTrue(self.introspect(t["access_token"])["active"], "revoking the id_token revoked the access token")
        self.assert_token_error(self.post("/revoke", c, {}), "invalid_request")
        self.assert_token_error(self.post("/revoke", c, [("token", "a"), ("token", "b")]), "invalid_request")
        self.assert_token_error(self.post("/revoke", None, {"token": t["access_token"]}), "invalid_client", 401)
        wrong = Client(c.client_id, "wrong-secret-" + "y" * 30, [])
        self.assert_token_error(self.post("/revoke", wrong, {"token": t["access_token"]}), "invalid_client", 401)
        self.assertTrue(self.introspect(t["access_token"])["active"])
        reply = self.s.http().get("/revoke?token=" + urllib.parse.quote(t["access_token"]))
        self.assertEqual(reply.status, 405)

    # ---- introspection ----------------------------------------------------------------------------
    def test_introspection_fields_and_who_may_ask(self):
        _, t = self.code_flow(self.s.confidential)
        info = self.introspect(t["access_token"])
        _, at = self.verify_jwt(t["access_token"])
        self.assertTrue(info["active"])
        for claim in ("sub", "client_id", "scope", "exp", "iat", "iss", "jti"):
            self.assertEqual(info[claim], at[claim], claim)
        self.assertEqual(info["username"], self.s.user.username)
        self.assertEqual(info["token_type"], "Bearer")
        rt = self.introspect(t["refresh_token"])
        self.assertTrue(rt["active"])
        self.assertEqual(rt["client_id"], self.s.confidential.client_id)
        self.assertEqual(rt["sub"], at["sub"])
        # RFC 7662 §2.1: public clients and anonymous callers may not probe tokens.
        reply = self.post("/introspect", self.s.public, {"token": t["access_token"]})
        self.assert_token_error(reply, "invalid_client", 401)
        reply = self.post("/introspect", None, {"token": t["access_token"]})
        self.assert_token_error(reply, "invalid_client", 401)
        wrong = Client(self.s.resource.client_id, "wrong-secret-" + "z" * 30, [])
        self.assert_token_error(self.post("/introspect", wrong, {"token": t["access_token"]}), "invalid_client", 401)
        self.assert_token_error(self.post("/introspect", self.s.resource, {}), "invalid_request")
        self.assert_token_error(self.post("/introspect", self.s.resource, [("token", t["access_token"]),
                                                                           ("token", "x")]), "invalid_request")
        # An id_token is not an access token.
        self.assert_inactive(t["id_token"], "id_token")

    # ---- 7. userinfo --------------------------------------------------------------------------
    def test_userinfo_claims_per_scope(self):
        user = self.s.user
        p = self.s.public
        cases = {
            "openid": {"sub"},
            "openid profile": {"sub", "name", "preferred_username"},
            "openid profile email": {"sub", "name", "preferred_username", "email"},
            "openid email": {"sub", "email"},
        }
        for scope, expected in cases.items():
            with self.subTest(scope=scope):
                _, t = self.code_flow(p, scope=scope, redirect_uri="https://app.example/cb")
                _, idt = self.verify_jwt(t["id_token"])
                reply = self.userinfo(t["access_token"])
                self.assertEqual(reply.status, 200, reply.text)
                self.assertTrue(reply.header("Content-Type").startswith("application/json"))
                claims = reply.json()
                self.assertEqual(set(claims), expected, claims)
                self.assertEqual(claims["sub"], idt["sub"])  # OIDC Core §5.3.2
                if "name" in expected:
                    self.assertEqual(claims["name"], user.name)
                    self.assertEqual(claims["preferred_username"], user.username)
                if "email" in expected:
                    self.assertEqual(claims["email"], user.email)
                # POST with the token in the header, and in the form body (RFC 6750 §2.2).
                self.assertEqual(self.userinfo(t["access_token"], "POST").json(), claims)
                form = self.s.http().post_form("/userinfo", {"access_token": t["access_token"]}, use_cookies=False)
                self.assertEqual(form.status, 200, form.text)
                self.assertEqual(form.json(), claims)

    def test_userinfo_errors_and_challenges(self):
        # No token: a challenge without an error code (RFC 6750 §3.1).
        reply = self.userinfo(None)
        self.assertEqual(reply.status, 401)
        challenge = reply.header("WWW-Authenticate") or ""
        self.assertTrue(challenge.startswith("Bearer"), challenge)
        self.assertNotIn("error=", challenge)
        for bad in ("garbage", "a.b.c", b64url(secrets.token_bytes(40))):
            reply = self.userinfo(bad)
            self.assertEqual(reply.status, 401, reply.text)
            self.assertIn('error="invalid_token"', reply.header("WWW-Authenticate") or "")
        # A token without openid: 403 insufficient_scope.
        _, t = self.code_flow(self.s.public, scope="profile", redirect_uri="https://app.example/cb")
        reply = self.userinfo(t["access_token"])
        self.assertEqual(reply.status, 403, reply.text)
        challenge = reply.header("WWW-Authenticate") or ""
        self.assertTrue(challenge.startswith("Bearer"), challenge)
        self.assertIn('error="insufficient_scope"', challenge)
        # An id_token or a refresh token is not an access token.
        _, t = self.code_flow(self.s.confidential)
        for not_access in (t["id_token"], t["refresh_token"]):
            reply = self.userinfo(not_access)
            self.assertEqual(reply.status, 401, reply.text)
        # The token two ways at once, or twice: invalid_request (RFC 6750 §2).
        http = self.s.http()
        reply = http.post_form("/userinfo", {"access_token": t["access_token"]},
                               headers={"Authorization": "Bearer " + t["access_token"]}, use_cookies=False)
        self.assertEqual(reply.status, 400, reply.text)
        self.assertIn('error="invalid_request"', reply.header("WWW-Authenticate") or "")
        reply = http.post_form("/userinfo", [("access_token", t["access_token"])] * 2, use_cookies=False)
        self.assertEqual(reply.status, 400, reply.text)
        reply = http.get("/userinfo", headers={"Authorization": "Basic " + t["access_token"]}, use_cookies=False)
        self.assertEqual(reply.status, 400, reply.text)
        # A token in the query string is not accepted by this server.
        reply = http.get("/userinfo?access_token=" + t["access_token"], use_cookies=False)
        self.assertEqual(reply.status, 401, reply.text)
        reply = http.request("DELETE", "/userinfo", headers={"Authorization": "Bearer " + t["access_token"]})
        self.assertEqual(reply.status, 405)

    # ---- 8. logout ------------------------------------------------------------------------------
    def test_logout_with_hint_redirects_and_ends_session(self):
        c = self.s.confidential
        uri = c.redirect_uris[0]
        flow, t = self.code_flow(c, scope="openid")
        # Before: the session exists (prompt=none gets a code).
        before = flow.authorize(c, uri, "openid", extra={"prompt": "none"})
        self.assertEqual(before.status, 303)
        self.assertIn("code", before.location_params(), before.location)
        state = b64url(secrets.token_bytes(9))
        reply = flow.http.get("/logout?" + urllib.parse.urlencode({
            "id_token_hint": t["id_token"], "post_logout_redirect_uri": c.redirect_uris[1], "state": state}))
        self.assertEqual(reply.status, 303, reply.text[:300])
        self.assertTrue(reply.location.startswith(c.redirect_uris[1] + "?"), reply.location)
        self.assertEqual(reply.location_params(), {"state": state})
        # After: no session in this cookie jar.
        after = flow.authorize(c, uri, "openid", extra={"prompt": "none"})
        self.assertEqual(after.status, 303)
        self.assertEqual(after.location_params().get("error"), "login_required", after.location)
        again = flow.authorize(c, uri, "openid")
        self.assertEqual(again.status, 303)
        self.assertIn("/interaction/", again.location)
        page = flow.get_page(again.location)
        self.assertEqual(only_post_form(page.text).input_types.get("password"), "password",
                         "after logout the next authorize must show the login page")

    def test_logout_refusals_and_confirmation(self):
        c = self.s.confidential
        flow, t = self.code_flow(c, scope="openid")
        http = flow.http
        # An unregistered post_logout_redirect_uri: an error page, never a redirect (open redirector).
        for params in ({"id_token_hint": t["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
                       {"post_logout_redirect_uri": c.redirect_uris[0]},  # no client identified
                       {"client_id": self.s.public.client_id, "id_token_hint": t["id_token"]},  # mismatch
                       {"id_token_hint": "garbage"},
                       {"id_token_hint": t["access_token"]},
                       {"client_id": "no-such-client"}):
            with self.subTest(params=list(params)):
                reply = http.get("/logout?" + urllib.parse.urlencode(params))
                self.assertEqual(reply.status, 400, reply.text[:300])
                self.assertIsNone(reply.location)
        reply = http.get("/logout?" + urllib.parse.urlencode([("state", "a"), ("state", "b")]))
        self.assertEqual(reply.status, 400)
        # Without a hint the server asks first; the session survives the question.
        reply = http.get("/logout?" + urllib.parse.urlencode({"client_id": c.client_id}))
        self.assertEqual(reply.status, 200, reply.text[:300])
        form = only_post_form(reply.text)
        self.assertIn("csrf", form.inputs)
        still = flow.authorize(c, c.redirect_uris[0], "openid", extra={"prompt": "none"})
        self.assertIn("code", still.location_params(), still.location)
        # A forged confirmation does not sign out; the real one does.
        forged = http.post_form("/logout", dict(form.inputs, csrf="garbage"))
        self.assertEqual(forged.status, 200)  # asked again
        still = flow.authorize(c, c.redirect_uris[0], "openid", extra={"prompt": "none"})
        self.assertIn("code", still.location_params(), still.location)
        done = http.post_form("/logout", form.inputs)
        self.assertEqual(done.status, 200, done.text[:300])
        gone = flow.authorize(c, c.redirect_uris[0], "openid", extra={"prompt": "none"})
        self.assertEqual(gone.location_params().get("error"), "login_required", gone.location)

    # ---- 10. bad input ------------------------------------------------------------------------
    def test_bad_input_at_token(self):
        c = self.s.confidential
        _, t = self.code_flow(c)
        rt = t["refresh_token"]
        cases = [
            # (description, client, fields, error, status)
            ("missing grant_type", c, [("refresh_token", rt)], "invalid_request", 400),
            ("duplicated grant_type", c, [("grant_type", "refresh_token"), ("grant_type", "refresh_token"),
                                          ("refresh_token", rt)], "invalid_request", 400),
            ("unknown grant_type", c, [("grant_type", "password"), ("username", "a"), ("password", "b")],
             "unsupported_grant_type", 400),
            ("missing refresh_token", c, [("grant_type", "refresh_token")], "invalid_request", 400),
            ("empty refresh_token", c, [("grant_type", "refresh_token"), ("refresh_token", "")], "invalid_request", 400),
            ("duplicated refresh_token", c, [("grant_type", "refresh_token"), ("refresh_token", rt),
                                             ("refresh_token", rt)], "invalid_request", 400),
            ("unknown refresh_token", c, [("grant_type", "refresh_token"),
                                          ("refresh_token", b64url(secrets.token_bytes(32)))], "invalid_grant", 400),
            ("huge refresh_token", c, [("grant_type", "refresh_token"), ("refresh_token", "A" * 20000)],
             "invalid_grant", 400),
            ("access token as refresh_token", c, [("grant_type", "refresh_token"), ("refresh_token", t["access_token"])],
             "invalid_grant", 400),
            ("duplicated scope on client_credentials", self.s.service,
             [("grant_type", "client_credentials"), ("scope", "reports:read"), ("scope", "reports:write")],
             "invalid_request", 400),
            ("missing device_code", self.s.device, [("grant_type", DEVICE_GRANT)], "invalid_request", 400),
            ("unknown device_code", self.s.device, [("grant_type", DEVICE_GRANT), ("device_code", "nope")],
             "invalid_grant", 400),
            ("duplicated device_code", self.s.device, [("grant_type", DEVICE_GRANT), ("device_code", "a"),
                                                       ("device_code", "a")], "invalid_request", 400),
            ("device_code for a client without the grant", c, [("grant_type", DEVICE_GRANT), ("device_code", "a")],
             "unauthorized_client", 400),
            ("no client at all", None, [("grant_type", "refresh_token"), ("refresh_token", rt)], "invalid_client", 401),
            ("unknown client", Client("no-such-client", None, []),
             [("grant_type", "refresh_token"), ("refresh_token", rt)], "invalid_client", 401),
        ]
        for description, client, fields, error, status in cases:
            with self.subTest(description):
                self.assert_token_error(self.post("/token", client, fields), error, status)
        # Malformed encodings.
        http = self.s.http()
        for body in ("grant_type=refresh_token&refresh_token=%FF%FE", "grant_type=refresh_token&refresh_token=%zz",
                     "grant_type=%", "&&&=&=", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
                                            "&device_code=%00"):
            with self.subTest(body=body):
                reply = http.request("POST", "/token", body=body, use_cookies=False, headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": basic_auth(c.client_id, c.secret)})
                self.assertIn(reply.status, (400, 401), reply.text)
                self.assertIn(reply.json()["error"], ("invalid_request", "invalid_grant", "unauthorized_client",
                                                      "unsupported_grant_type"))
        # None of the refusals above touched the grant (the huge and unknown tokens are not reuse).
        self.assertTrue(self.introspect(rt)["active"])
        # RFC 6749 §3.2: unrecognized parameters are ignored.
        reply = self.refresh(c, rt, {"unknown_parameter": "x", "foo": "bar"})
        self.assertEqual(reply.status, 200, reply.text)

    def test_device_code_of_another_client_and_polling_too_fast(self):
        d = self.device_authorization("openid")
        # The public code-flow client may not use the device grant at all; a client that may
        # (registered here on the fly) gets invalid_grant for someone else's device_code.
        other = Client("it-device-2", None, ["https://device2.example/unused"])
        self.s.admin("client", "create", "--database", self.s.db, "--client-id", other.client_id, "--public",
                     "--scope", "openid", "--grant-type", DEVICE_GRANT, "--redirect-uri", other.redirect_uris[0])
        self.assert_token_error(self.poll(d["device_code"], other), "invalid_grant")
        self.assert_token_error(self.poll(d["device_code"], self.s.public), "unauthorized_client")
        # Polling too fast, repeatedly: slow_down every time, never a 5xx.
        self.assert_token_error(self.poll(d["device_code"]), "authorization_pending")
        for _ in range(3):
            self.assert_token_error(self.poll(d["device_code"]), "slow_down")

    def test_bad_input_at_device_authorization(self):
        dev = self.s.device
        http = self.s.http()
        self.assert_token_error(self.post("/device_authorization", None, {"scope": "openid"}), "invalid_client", 401)
        self.assert_token_error(self.post("/device_authorization", Client("nope", None, []), {"scope": "openid"}),
                                "invalid_client", 401)
        # A client without the device grant.
        self.assert_token_error(self.post("/device_authorization", self.s.confidential, {"scope": "openid"}),
                                "unauthorized_client")
        self.assert_token_error(self.post("/device_authorization", dev, {"scope": "openid admin"}), "invalid_scope")
        self.assert_token_error(self.post("/device_authorization", dev, {}), "invalid_scope")
        self.assert_token_error(self.post("/device_authorization", dev, [("scope", "openid"), ("scope", "openid")]),
                                "invalid_request")
        self.assert_token_error(self.post("/device_authorization", dev, [("scope", "openid"), ("client_id", "x")]),
                                "invalid_request")  # client_id twice
        self.assert_token_error(self.post("/device_authorization", dev, {"scope": "openid", "audience": "https://x/"}),
                                "invalid_target")
        reply = http.get("/device_authorization?client_id=" + dev.client_id + "&scope=openid")
        self.assertEqual(reply.status, 405)
        reply = http.request("POST", "/device_authorization", body='{"client_id":"it-device"}',
                             headers={"Content-Type": "application/json"}, use_cookies=False)
        self.assert_token_error(reply, "invalid_request")

    def test_forged_and_foreign_tokens(self):
        """Tokens that look right but were not signed by this server: inactive, 401, invalid_grant."""
        _, t = self.code_flow(self.s.confidential)
        header, claims = jwt_parts(t["access_token"])
        # Re-signed with a key of our own, claiming the server's kid.
        own_key = jwk.JWK.generate(kty="EC", crv="P-256")
        forged_sig = jws.JWS(json.dumps(dict(claims, scope="openid admin")).encode())
        forged_sig.add_signature(own_key, alg="ES256", protected=json.dumps(header))
        forged = forged_sig.serialize(compact=True)
        # alg=none and a tampered payload with the real signature.
        none_token = ".".join([b64url(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()),
                               b64url(json.dumps(claims).encode()), ""])
        h, p, s = t["access_token"].split(".")
        tampered = ".".join([h, b64url(json.dumps(dict(claims, sub="someone-else")).encode()), s])
        # A genuine-looking token of another issuer (same key as above, other iss).
        other_iss = jws.JWS(json.dumps(dict(claims, iss="https://other.example")).encode())
        other_iss.add_signature(own_key, alg="ES256", protected=json.dumps(dict(header, kid="other")))
        for name, token in (("forged", forged), ("alg none", none_token), ("tampered", tampered),
                            ("other issuer", other_iss.serialize(compact=True))):
            with self.subTest(name):
                self.assert_inactive(token, name)
                reply = self.userinfo(token)
                self.assertEqual(reply.status, 401, reply.text)
                self.assertIn('error="invalid_token"', reply.header("WWW-Authenticate") or "")
                self.assertEqual(self.post("/revoke", self.s.confidential, {"token": token}).status, 200)
        self.assertTrue(self.introspect(t["access_token"])["active"], "a forged token revoked the real one")


class KeyRotationTest(Base):
    """`keys rotate` against a running server's database while a client holds an old token."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_lifecycle_server()

    @classmethod
    def tearDownClass(cls):
        finish_server(cls.server)

    def kids(self) -> set[str]:
        reply = self.s.http().get("/jwks")
        self.assertEqual(reply.status, 200)
        return {k["kid"] for k in reply.json()["keys"]}

    def test_rotation_keeps_old_tokens_valid(self):
        old_cc = self.client_credentials()
        self.assertEqual(old_cc.status, 200, old_cc.text)
        old_at = old_cc.json()["access_token"]
        _, user_tokens = self.code_flow(self.s.confidential)
        old_kid = jwt_parts(old_at)[0]["kid"]
        self.assertEqual(self.kids(), {old_kid})
        self.assertEqual(jwt_parts(user_tokens["id_token"])[0]["kid"], old_kid)

        out = self.s.admin("keys", "rotate", "--database", self.s.db, "--json")
        new_kid = json.loads(out.stdout.strip().splitlines()[-1])["kid"]
        self.assertNotEqual(new_kid, old_kid)
        deadline = time.monotonic() + KEY_RELOAD_DEADLINE
        while self.kids() != {old_kid, new_kid}:
            self.assertLess(time.monotonic(), deadline,
                            f"/jwks did not show both keys within {KEY_RELOAD_DEADLINE}s: {self.kids()}")
            time.sleep(0.25)

        keys = self.jwks()
        for name, token in (("client_credentials access token", old_at),
                            ("user access token", user_tokens["access_token"]), ("id_token", user_tokens["id_token"])):
            with self.subTest(name):
                header, _ = self.verify_jwt(token, keys)  # the old key is still published
                self.assertEqual(header["kid"], old_kid)
        self.assertTrue(self.introspect(old_at)["active"])
        self.assertTrue(self.introspect(user_tokens["access_token"])["active"])
        self.assertEqual(self.userinfo(user_tokens["access_token"]).status, 200)

        new_cc = self.client_credentials()
        self.assertEqual(new_cc.status, 200, new_cc.text)
        header, _ = self.verify_jwt(new_cc.json()["access_token"], keys)
        self.assertEqual(header["kid"], new_kid, "new tokens must be signed by the new key")
        refreshed = self.refresh(self.s.confidential, user_tokens["refresh_token"])
        self.assertEqual(refreshed.status, 200, refreshed.text)
        for token in (refreshed.json()["access_token"], refreshed.json()["id_token"]):
            self.assertEqual(self.verify_jwt(token, keys)[0]["kid"], new_kid)
        # An old id_token still works as a logout hint.
        reply = self.s.http().get("/logout?" + urllib.parse.urlencode({
            "id_token_hint": user_tokens["id_token"], "post_logout_redirect_uri": self.s.confidential.redirect_uris[0]}))
        self.assertEqual(reply.status, 303, reply.text[:300])


class ExpiryTest(Base):
    """A server with one-second access tokens and a two-second refresh idle lifetime."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_lifecycle_server({"LATCHKEY_TOKENS_ACCESS_TOKEN_TTL": "1",
                                             "LATCHKEY_TOKENS_REFRESH_TOKEN_IDLE_TTL": "2"})

    @classmethod
    def tearDownClass(cls):
        finish_server(cls.server)

    def test_expired_tokens(self):
        _, t = self.code_flow(self.s.confidential)
        _, at = self.verify_jwt(t["access_token"])
        self.assertEqual(at["exp"] - at["iat"], 1)
        refresh_issued = time.time()
        time.sleep(max(0.0, at["exp"] + 1.2 - time.time()))
        self.assert_inactive(t["access_token"], "expired access token")
        reply = self.userinfo(t["access_token"])
        self.assertEqual(reply.status, 401, reply.text)
        self.assertIn('error="invalid_token"', reply.header("WWW-Authenticate") or "")
        cc = self.client_credentials().json()["access_token"]
        time.sleep(max(0.0, refresh_issued + 3.2 - time.time()))
        self.assert_inactive(t["refresh_token"], "idle-expired refresh token")
        self.assert_token_error(self.refresh(self.s.confidential, t["refresh_token"]), "invalid_grant")
        self.assert_inactive(cc, "expired client_credentials token")


if __name__ == "__main__":
    harness.run_tests()
