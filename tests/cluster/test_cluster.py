"""Scale-out (issue 6): three latchkey-server instances on one PostgreSQL behind HAProxy.

- full flows through the load balancer, each step on a different instance;
- 100 concurrent redemptions of one code and 100 concurrent refreshes of one refresh token,
  spread over the instances: exactly one wins;
- a key rotation is served by every instance within the documented delay, old tokens still valid;
- kill -9 of an instance during a bounded load run: what the client saw complete still holds;
- PostgreSQL stopped and started during load: 503 with Retry-After meanwhile, never 500 or a hang,
  and the instances reconnect by themselves.

Run: LATCHKEY_SERVER_BIN=build/src/server/latchkey-server /usr/bin/python3 tests/cluster/test_cluster.py
Needs Debian's postgresql and haproxy (scripts/install-deps.sh --test).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import unittest
import urllib.parse
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster as cl  # noqa: E402  (puts tests/integration on sys.path)
import harness  # noqa: E402
from harness import Reply  # noqa: E402
from test_code_flow import Flow, jwt_parts  # noqa: E402
from test_lifecycle import KEY_RELOAD_DEADLINE, Base  # noqa: E402

RACERS = 100
LOAD_SECONDS = 8.0
WORKERS = 6
REQUEST_TIMEOUT = 10.0  # harness.REQUEST_TIMEOUT bounds every request: a hang fails the test


class ClusterBase(Base):
    server: cl.Cluster

    def direct(self, instance: cl.Instance):
        """A view of the cluster whose requests go straight to one instance."""
        view = self

        class Direct:
            def __init__(self) -> None:
                self.resource = view.s.resource

            def introspect(self, token: str) -> dict:
                reply = view.post("/introspect", view.s.resource, {"token": token}, http=instance.http())
                view.assertEqual(reply.status, 200, f"{instance.name}: {reply.text}")
                return reply.json()

            def kids(self) -> set[str]:
                reply = instance.http().get("/jwks")
                view.assertEqual(reply.status, 200, f"{instance.name}: {reply.text}")
                return {k["kid"] for k in reply.json()["keys"]}

        return Direct()


class ClusterFlowTest(ClusterBase):
    """Flows, races and key rotation on a healthy cluster: no response is ever 5xx."""

    @classmethod
    def setUpClass(cls):
        cls.server = cl.start_cluster(3)

    @classmethod
    def tearDownClass(cls):
        s = cls.server
        errors = s.server_errors()
        code = s.stop()
        assert not errors, f"5xx answers: {errors[:10]}"
        assert code == 0, f"an instance did not stop cleanly on SIGTERM: {code}"

    def test_migrate_ran_concurrently_on_every_instance(self):
        self.assertEqual(self.s.concurrent_migrations, 3)

    def test_each_step_of_a_flow_lands_on_a_different_instance(self):
        start = len(self.s.served_by)
        _, tokens = self.code_flow(self.s.confidential)
        steps = self.s.served_by[start:]
        # authorize, login page, login, consent page, consent, token: at least five steps.
        self.assertGreaterEqual(len(steps), 5, steps)
        self.assertEqual(set(steps), {i.name for i in self.s.instances}, steps)
        for a, b in zip(steps, steps[1:]):
            self.assertNotEqual(a, b, f"two steps in a row on one instance: {steps}")

        # The rest of the lifecycle, also spread round-robin.
        refreshed = self.refresh(self.s.confidential, tokens["refresh_token"])
        self.assertEqual(refreshed.status, 200, refreshed.text)
        new = refreshed.json()
        for _ in range(3):  # userinfo on each instance in turn
            self.assertEqual(self.userinfo(new["access_token"]).status, 200)
        for instance in self.s.instances:
            self.assertTrue(self.direct(instance).introspect(new["access_token"])["active"], instance.name)
        revoked = self.post("/revoke", self.s.confidential, {"token": new["refresh_token"]})
        self.assertEqual(revoked.status, 200, revoked.text)
        for instance in self.s.instances:  # every instance sees the revocation at once: it is in the database
            self.assertEqual(self.direct(instance).introspect(new["refresh_token"]), {"active": False}, instance.name)
        # The rotated-away token is refused wherever it is replayed.
        self.assert_token_error(self.refresh(self.s.confidential, tokens["refresh_token"]), "invalid_grant")

    def test_one_code_redeemed_100_times_at_once_over_3_instances(self):
        c = self.s.confidential
        redirect_uri = c.redirect_uris[0]
        flow = Flow(self, self.s)
        code = flow.code_from(flow.complete(flow.authorize(c, redirect_uri, "openid offline_access")), redirect_uri)
        start = len(self.s.served_by)
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                  "code_verifier": flow.verifier}
        replies = harness.race(RACERS, lambda: self.post("/token", c, fields))
        hit = Counter(self.s.served_by[start:])
        self.assertEqual(set(hit), {i.name for i in self.s.instances}, f"not spread over 3 instances: {hit}")
        statuses = Counter(r.status for r in replies)
        self.assertEqual(statuses, Counter({200: 1, 400: RACERS - 1}), statuses)
        for r in replies:
            if r.status == 400:
                self.assertEqual(r.json().get("error"), "invalid_grant", r.text)
        winner = next(r for r in replies if r.status == 200).json()
        # RFC 6749 §4.1.2: a code used twice revokes the tokens issued for it; RFC 9700 §4.5.
        self.assert_inactive(winner["access_token"], "access token of a reused code")
        self.assert_inactive(winner["refresh_token"], "refresh token of a reused code")
        self.assert_token_error(self.refresh(c, winner["refresh_token"]), "invalid_grant")

    def test_one_refresh_token_used_100_times_at_once_over_3_instances(self):
        c = self.s.confidential
        _, first = self.code_flow(c)
        start = len(self.s.served_by)
        replies = harness.race(RACERS, lambda: self.refresh(c, first["refresh_token"]))
        hit = Counter(self.s.served_by[start:])
        self.assertEqual(set(hit), {i.name for i in self.s.instances}, f"not spread over 3 instances: {hit}")
        statuses = Counter(r.status for r in replies)
        self.assertEqual(statuses, Counter({200: 1, 400: RACERS - 1}), f"exactly one new token pair: {statuses}")
        for r in replies:
            if r.status == 400:
                self.assertEqual(r.json().get("error"), "invalid_grant", r.text)
        winner = next(r for r in replies if r.status == 200).json()
        self.assertNotEqual(winner["refresh_token"], first["refresh_token"])
        # The losers replayed a rotated token: reuse detection revokes the grant (RFC 9700 §4.14.2).
        self.assert_inactive(winner["refresh_token"], "winner's refresh token after the reuse")

    def test_zz_key_rotation_reaches_every_instance(self):
        # Named zz: it runs last, so the other tests see one key.
        old_cc = self.client_credentials()
        self.assertEqual(old_cc.status, 200, old_cc.text)
        old_at = old_cc.json()["access_token"]
        _, user_tokens = self.code_flow(self.s.confidential)
        old_kid = jwt_parts(old_at)[0]["kid"]

        out = self.s.admin("keys", "rotate", "--database", self.s.db, "--json")
        new_kid = json.loads(out.stdout.strip().splitlines()[-1])["kid"]
        self.assertNotEqual(new_kid, old_kid)
        rotated = time.monotonic()
        for instance in self.s.instances:
            view = self.direct(instance)
            while view.kids() != {old_kid, new_kid}:
                self.assertLess(time.monotonic() - rotated, KEY_RELOAD_DEADLINE,
                                f"{instance.name} did not publish the new key within {KEY_RELOAD_DEADLINE}s")
                time.sleep(0.25)
        waited = time.monotonic() - rotated
        sys.stderr.write(f"[cluster] all 3 instances published the new key {waited:.1f}s after the rotation\n")

        keys = self.jwks()
        for instance in self.s.instances:
            # New tokens from every instance carry the new kid; old ones still verify and are active.
            reply = self.post("/token", self.s.service, {"grant_type": "client_credentials", "scope": "reports:read",
                                                          "audience": "https://api.example/reports"},
                              http=instance.http())
            self.assertEqual(reply.status, 200, reply.text)
            header, _ = self.verify_jwt(reply.json()["access_token"], keys)
            self.assertEqual(header["kid"], new_kid, instance.name)
            self.assertTrue(self.direct(instance).introspect(old_at)["active"], instance.name)
        for token in (old_at, user_tokens["access_token"], user_tokens["id_token"]):
            self.assertEqual(self.verify_jwt(token, keys)[0]["kid"], old_kid)


class Load:
    """Workers doing full flows (authorize, login, consent, code exchange, refresh) through the load
    balancer for a bounded time. A step that fails in transit (connection error, 502, 503) is
    retried; a retried exchange or refresh that finds its code or token already used means the
    first attempt took effect before the failure: the flow starts again (the server revoked that
    grant, as it must on reuse)."""

    def __init__(self, test: ClusterBase, seconds: float) -> None:
        self.t = test
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.completed: list[dict] = []   # tokens of flows the client saw complete
        self.transient: Counter = Counter()  # failed attempts, by kind
        self.retried_ok = 0
        self.restarted = 0
        self.unexpected: list[str] = []
        self.local = threading.local()  # .failures: transient failures within the current flow

    def attempt(self, what: str, call):
        for _ in range(6):
            try:
                reply = call()
            except OSError as e:
                self.failed(f"{what}: {type(e).__name__}")
                continue
            if reply.status in (502, 503):
                self.failed(f"{what}: {reply.status}")
                continue
            return reply
        raise RuntimeError(f"{what}: still failing after 6 attempts")

    def failed(self, kind: str) -> None:
        self.local.failures += 1
        with self.lock:
            self.transient[kind] += 1
        time.sleep(0.2)

    def ambiguous(self, what: str, reply: Reply) -> None:
        """A step answered something other than the next step of the flow. After a failure in
        transit that is the earlier attempt having taken effect: start again. Otherwise a bug."""
        with self.lock:
            if self.local.failures:
                self.restarted += 1
            else:
                self.unexpected.append(f"{what}: {reply.status} {reply.text[:300]}")

    def one_flow(self) -> None:
        t, s = self.t, self.t.s
        c = s.confidential
        redirect_uri = c.redirect_uris[0]
        flow = Flow(t, s)
        self.local.failures = 0
        reply = self.attempt("authorize", lambda: flow.authorize(c, redirect_uri, "openid offline_access"))
        for _ in range(6):
            if reply.status != 303:
                return self.ambiguous("authorize", reply)
            if reply.location.startswith(redirect_uri):
                break
            page = self.attempt("page", lambda: flow.http.get(reply.location))
            if page.status == 303:  # nothing to ask (remembered consent): on to the next step
                reply = page
                continue
            if page.status != 200 or "<form" not in page.text:
                return self.ambiguous("page", page)
            form = harness.only_post_form(page.text)
            fields = dict(form.inputs)
            if form.input_types.get("password") == "password":
                fields.update(username=s.user.username, password=s.user.password)
            else:
                fields["decision"] = "allow"
            action = urllib.parse.urljoin(page.url, form.action)
            reply = self.attempt("form", lambda: flow.http.post_form(action, fields))
        params = reply.location_params()
        if "code" not in params:
            return self.ambiguous("redirect", reply)
        code = params["code"]
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                  "code_verifier": flow.verifier}
        tokens = self.attempt("exchange", lambda: t.post("/token", c, fields))
        if tokens.status != 200:
            return self.ambiguous("exchange", tokens)
        refreshed = self.attempt("refresh", lambda: t.refresh(c, tokens.json()["refresh_token"]))
        if refreshed.status != 200:
            return self.ambiguous("refresh", refreshed)
        with self.lock:
            if self.local.failures:
                self.retried_ok += 1
            self.completed.append(refreshed.json())

    def worker(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                self.one_flow()
            except Exception as e:  # noqa: BLE001 - collected and asserted on
                with self.lock:
                    self.unexpected.append(f"{type(e).__name__}: {e}")

    def run(self, during) -> None:
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(WORKERS)]
        for th in threads:
            th.start()
        during()
        for th in threads:
            th.join(LOAD_SECONDS + 60)
        assert not any(th.is_alive() for th in threads), "load workers still running"


class ClusterFailureTest(ClusterBase):
    """kill -9 of an instance, and a PostgreSQL outage, under load."""

    @classmethod
    def setUpClass(cls):
        cls.server = cl.start_cluster(3)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def five_hundreds_other_than_unavailable(self) -> list:
        # 502 (HAProxy: instance died mid-request) and 503 (no instance / database down) are the
        # documented transient answers; anything else 5xx is a bug.
        return [e for e in self.s.server_errors() if e[2] not in (502, 503)]

    def test_kill_9_of_one_instance_during_load(self):
        victim = self.s.instances[1]
        load = Load(self, LOAD_SECONDS)

        def during():
            time.sleep(LOAD_SECONDS / 3)
            victim.kill9()

        load.run(during)
        sys.stderr.write(f"[cluster] kill -9: {len(load.completed)} flows completed, transient failures "
                         f"{dict(load.transient)}, {load.retried_ok} completed after a retry, "
                         f"{load.restarted} restarted\n")
        self.assertFalse(load.unexpected, load.unexpected[:5])
        self.assertGreater(len(load.completed), 5, "too little load to mean anything")
        self.assertEqual(victim.proc.returncode, -9)
        # Every flow the client saw complete still holds, on the instances that are left.
        survivors = [i for i in self.s.instances if i is not victim]
        for n, tokens in enumerate(load.completed):
            view = self.direct(survivors[n % len(survivors)])
            self.assertTrue(view.introspect(tokens["access_token"])["active"], f"flow {n} lost its access token")
            self.assertTrue(view.introspect(tokens["refresh_token"])["active"], f"flow {n} lost its refresh token")
        # One more refresh of each still works exactly once (the database is consistent).
        for tokens in load.completed[:10]:
            reply = self.refresh(self.s.confidential, tokens["refresh_token"])
            self.assertEqual(reply.status, 200, reply.text)
        self.assertFalse(self.five_hundreds_other_than_unavailable())
        victim.start()  # the instance comes back and serves again
        reply = self.post("/introspect", self.s.resource, {"token": load.completed[0]["access_token"]},
                          http=victim.http())
        self.assertEqual(reply.status, 200, reply.text)

    def test_postgres_outage_is_503_with_retry_after_then_recovers(self):
        outage = threading.Event()
        seen: list[tuple[str, int, str | None, float]] = []  # (instance, status, Retry-After, when)
        stop = threading.Event()
        errors: list[str] = []

        def poller(instance: cl.Instance) -> None:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    reply = self.post("/token", self.s.service,
                                      {"grant_type": "client_credentials", "scope": "reports:read",
                                       "audience": "https://api.example/reports"}, http=instance.http())
                except OSError as e:  # includes the request timeout: a hang
                    errors.append(f"{instance.name}: {type(e).__name__} after {time.monotonic() - began:.1f}s")
                    continue
                seen.append((instance.name, reply.status, reply.header("Retry-After"), time.monotonic()))
                time.sleep(0.05)

        for instance in self.s.instances:
            if instance.proc is None or instance.proc.poll() is not None:
                instance.start()
        threads = [threading.Thread(target=poller, args=(i,), daemon=True) for i in self.s.instances]
        for th in threads:
            th.start()
        time.sleep(1.0)
        self.s.postgres("stop")
        outage.set()
        down_at = time.monotonic()
        time.sleep(3.0)
        starting_at = time.monotonic()  # PostgreSQL accepts connections before `start` returns
        self.s.postgres("start")
        up_at = time.monotonic()
        # Every instance answers 200 again by itself, within 15 s.
        deadline = up_at + 15
        while True:
            recent = {name for name, status, _, when in seen if when > up_at and status == 200}
            if recent == {i.name for i in self.s.instances} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        stop.set()
        for th in threads:
            th.join(REQUEST_TIMEOUT + 5)

        statuses = Counter(status for _, status, _, _ in seen)
        first_200 = {}
        for name, status, _, when in seen:
            if status == 200 and when > starting_at and name not in first_200:
                first_200[name] = when
        recovery = max(first_200.values(), default=float("nan")) - starting_at
        sys.stderr.write(f"[cluster] PostgreSQL down {starting_at - down_at:.1f}s: {dict(statuses)}; every instance "
                         f"answered 200 again {recovery:.1f}s after the restart began\n")
        self.assertFalse(errors, f"requests hung or failed in transit: {errors[:5]}")
        self.assertEqual(set(statuses) - {200, 503}, set(), f"only 200 and 503 allowed: {statuses}")
        during = [s for s in seen if down_at + 0.5 < s[3] < starting_at]
        self.assertTrue(during and all(status == 503 for _, status, _, _ in during),
                        f"requests during the outage: {Counter(st for _, st, _, _ in during)}")
        for _, status, retry_after, _ in seen:
            if status == 503:
                self.assertTrue(retry_after and retry_after.isdigit(), "503 without Retry-After")
        self.assertEqual(recent, {i.name for i in self.s.instances}, "not every instance recovered within 15 s")
        self.assertFalse(self.five_hundreds_other_than_unavailable())


if __name__ == "__main__":
    harness.run_tests()
