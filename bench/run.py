"""Runs the load scenarios against latchkey-server and node-oidc-provider on loopback, with the same
generator (bench/loadgen.cpp), and writes a markdown report. Standard library only.

    python3 bench/run.py --build-dir build-bench [--duration 8] [--concurrency 1,8,32,128]
                         [--scenarios refresh,cc,sso,interactive] [--no-peer] [--out bench/REPORT.md]

Servers are pinned to core 0 and the generator to core 1 with taskset when there are >= 2 cores.
Every child has a timeout; servers are stopped with SIGTERM then SIGKILL.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
REDIRECT_URI = "https://rp.example/callback"
CLIENT_ID = "bench-rp"
SCENARIO_TITLES = {
    "refresh": "refresh_token grant with rotation",
    "cc": "client_credentials",
    "sso": "SSO flow (session + remembered consent: authorize → code → token, PKCE, confidential)",
    "interactive": "full interactive flow (authorize → login → consent → code → token)",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(core: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if can_pin() else cmd


def proc_status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime (fields 14, 15)


def discovery_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/.well-known/openid-configuration")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """One server process under test."""

    name = ""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = b64url(secrets.token_bytes(32))
        self.username = "alice"
        self.password = "correct horse " + secrets.token_hex(8)
        self.proc: subprocess.Popen | None = None
        self.start_to_discovery_ms = 0.0
        self.idle_rss_kib = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        log = open(os.path.join(self.tmp, f"{self.name}.log"), "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(pinned(0, self.command()), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=self.env())
        log.close()
        while not discovery_ok(self.port):
            if self.proc.poll() is not None or time.monotonic() - t0 > 20:
                raise RuntimeError(f"{self.name} did not answer discovery; see {self.tmp}/{self.name}.log")
            time.sleep(0.001)
        self.start_to_discovery_ms = (time.monotonic() - t0) * 1000
        time.sleep(1.0)
        self.idle_rss_kib = proc_status_kib(self.proc.pid, "VmRSS")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Latchkey(Target):
    name = "latchkey"

    def __init__(self, tmp: str, binary: str) -> None:
        super().__init__(tmp)
        self.binary = binary
        self.db = "sqlite:" + os.path.join(tmp, "latchkey.db")
        self._env = dict(os.environ)
        self._env["LATCHKEY_KEY_ENCRYPTION_KEY"] = b64url(secrets.token_bytes(32))

    def env(self) -> dict[str, str]:
        return self._env

    def admin(self, *args: str, stdin: str = "") -> None:
        subprocess.run([self.binary, *args], input=stdin, capture_output=True, text=True, env=self._env, timeout=60,
                       check=True)

    def provision(self) -> None:
        self.admin("migrate", "--database", self.db)
        self.admin("client", "create", "--database", self.db, "--client-id", CLIENT_ID, "--secret-stdin", "--scope",
                   "openid profile email offline_access", "--redirect-uri", REDIRECT_URI, "--grant-type",
                   "authorization_code", "--grant-type", "refresh_token", "--grant-type", "client_credentials", "--json",
                   stdin=self.secret + "\n")
        self.admin("user", "create", "--database", self.db, "--username", self.username, "--password-stdin",
                   "--email", "alice@example.com", "--name", "Alice", "--json", stdin=self.password + "\n")
        # Keys are made on first start; start once and stop, so the measured start finds them present.
        self.start()
        self.stop()

    def command(self) -> list[str]:
        return [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--issuer", self.url, "--database", self.db]

    scope = "openid profile offline_access"


class Peer(Target):
    name = "oidc-provider"
    scope = "openid profile"  # the peer issues refresh tokens by its issueRefreshToken policy (always)

    def provision(self) -> None:
        pass

    def command(self) -> list[str]:
        return ["node", os.path.join(REPO, "bench", "peers", "oidc-provider.mjs"), str(self.port), CLIENT_ID,
                self.secret, REDIRECT_URI, self.username, self.password]


def loadgen(binary: str, target: Target, scenario: str, concurrency: int, duration: float) -> dict:
    cmd = pinned(1, [binary, "--url", target.url, "--scenario", scenario, "--concurrency", str(concurrency),
                     "--duration", str(duration), "--client-id", CLIENT_ID, "--client-secret", target.secret,
                     "--redirect-uri", REDIRECT_URI, "--scope", target.scope, "--username", target.username,
                     "--password", target.password])
    assert target.proc
    cpu0 = proc_cpu_seconds(target.proc.pid)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    cpu1 = proc_cpu_seconds(target.proc.pid)
    line = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    figures: dict = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if run.returncode != 0 or "ops" not in figures:
        figures = {"ops": "0", "errors": "setup failed", "ops_per_s": "0"}
    ops = int(figures["ops"])
    figures["cpu_ms_per_op"] = f"{(cpu1 - cpu0) * 1000 / ops:.3f}" if ops else "-"
    figures["peak_rss_kib"] = str(proc_status_kib(target.proc.pid, "VmHWM"))
    figures["first_error"] = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    print(f"{target.name:14} {scenario:12} c={concurrency:<4} {line}  cpu_ms/op={figures['cpu_ms_per_op']}"
          + (f"  [{figures['first_error']}]" if figures["first_error"] else ""), flush=True)
    return figures


def argon2_bound(binary: str) -> dict:
    """One Argon2id verification at the server's cost, timed on the server's core (key=value figures)."""
    line = subprocess.run(pinned(0, [binary]), capture_output=True, text=True, timeout=60).stdout
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def peer_installed() -> bool:
    return any(os.path.exists(os.path.join(REPO, d, "node_modules", "oidc-provider", "package.json"))
               for d in ("bench/peers", "tests/interop"))


def openssl_es256() -> tuple[float, float]:
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "ecdsap256"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def bearer_validation(binary: str) -> dict[str, float]:
    """The resource library's micro-benchmark (bench/resource_validation_bench.cpp), pinned like the server."""
    if not os.access(binary, os.X_OK):
        return {}
    out = subprocess.run(pinned(0, [binary, "--benchmark_filter=raw_es256_verify|validate_cold$"]), capture_output=True,
                         text=True, timeout=120).stdout
    rates = {}
    for key, label in (("raw", "raw ES256 verify (OpenSSL EVP)"), ("cold", "cold validation, cache off")):
        m = re.search(re.escape(label) + r"\s*:\s*(\d+)", out)
        rates[key] = float(m.group(1)) if m else 0.0
    return rates


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() if shutil.which("node") else "-"
    return {"nproc": str(os.cpu_count()), "cpu": model, "kernel": platform.release(), "node": node,
            "load": " ".join(open("/proc/loadavg").read().split()[:3]),
            "pinning": "server on core 0, generator on core 1 (taskset)" if can_pin() else "none (taskset or 2nd core missing)"}


def fnum(value, digits=1) -> str:
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def ratio(a, b) -> str:
    try:
        return f"{float(a) / float(b):.2f}×" if float(b) > 0 else "-"
    except (TypeError, ValueError):
        return "-"


def targets_section(args, limits, targets, results) -> list[str]:
    """The issue's targets, judged from this run's figures (Latchkey is the first target)."""
    es_sign, es_verify, argon, bearer = limits
    lk = targets[0].name
    peer = targets[1].name if len(targets) > 1 else None
    get = lambda name, sc, c, k: results.get((name, sc, c), {}).get(k)
    verdict = lambda ok: "met" if ok else "**not met**"
    rows = ["## Targets (judged from this run)", "", "| target | measured | verdict |", "|---|---|---|"]
    for sc in ("sso", "refresh"):
        if sc not in args.scenarios:
            continue
        errors = [str(get(lk, sc, c, "errors")) for c in args.concurrency]
        clean = all(e == "0" for e in errors)
        if peer:
            ratios = [float(get(lk, sc, c, "ops_per_s") or 0) / max(float(get(peer, sc, c, "ops_per_s") or 0), 1e-9)
                      for c in args.concurrency]
            rows.append(f"| {sc}: ≥ 10× oidc-provider, 0 errors | {min(ratios):.1f}×–{max(ratios):.1f}×, errors "
                        f"{'/'.join(errors)} | {verdict(min(ratios) >= 10 and clean)} |")
    if 32 in args.concurrency:
        for sc in ("refresh", "cc", "sso"):
            if sc in args.scenarios:
                p99 = float(get(lk, sc, 32, "token_p99_ms") or 0)
                rows.append(f"| token endpoint p99 < 5 ms at c=32 ({sc}) | {p99:.2f} ms | {verdict(0 < p99 < 5)} |")
    cells = [(c, float(get(lk, "interactive", c, "ops_per_s") or 0), float(get(lk, "interactive", c, "bound_per_s") or 0))
             for c in args.concurrency] if "interactive" in args.scenarios else []
    cells = [cell for cell in cells if cell[2] > 0]
    if cells:
        c, ops, bound = max(cells, key=lambda cell: cell[1] / cell[2])
        shares = "/".join(f"{100 * o / b:.0f}" for _, o, b in cells)
        rows.append(f"| interactive logins within 10 % of the Argon2id bound (one core; bound timed just before "
                    f"and after each cell: {min(b for *_, b in cells):.1f}–{max(b for *_, b in cells):.1f}/s) | "
                    f"best c={c}: {ops:.1f}/s = {100 * ops / bound:.0f} % of {bound:.1f}/s (cells: {shares} %) | "
                    f"{verdict(ops >= 0.9 * bound)} |")
    t = targets[0]
    rows.append(f"| idle RSS < 20 MiB | {t.idle_rss_kib / 1024:.1f} MiB | {verdict(t.idle_rss_kib < 20 * 1024)} |")
    rows.append(f"| start → first discovery 200 < 50 ms (SQLite, keys present) | {t.start_to_discovery_ms:.1f} ms | "
                f"{verdict(t.start_to_discovery_ms < 50)} |")
    if bearer.get("raw"):
        share = bearer["cold"] / bearer["raw"]
        rows.append(f"| bearer validation uncached ≥ 90 % of ES256 verify | {100 * share:.0f} % of EVP verify in the same "
                    f"binary"
                    + (f", {100 * bearer['cold'] / es_verify:.0f} % of `openssl speed`" if es_verify else "")
                    + f" | {verdict(share >= 0.9)} |")
    return rows + [""]


def report(args, info, limits, targets, results) -> str:
    es_sign, es_verify, argon, bearer = limits
    out = ["# Latchkey benchmark report", "",
           "Generated by `bench/run.sh` — do not edit by hand. Closed-loop load from `bench/loadgen` (one keep-alive "
           "connection and cookie jar per virtual user) on loopback; an operation is a whole grant or flow. "
           "CPU/op is the server's utime+stime delta (/proc/<pid>/stat) divided by completed operations. "
           "Both servers stay up; each cell runs for latchkey and then for the peer right after it, so ratios "
           "compare cells measured seconds apart.", "",
           f"Run: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {args.duration:g} s per cell.", "",
           "## Machine", "",
           f"- nproc: {info['nproc']}; CPU: {info['cpu']}; kernel {info['kernel']}; node {info['node']}",
           f"- pinning: {info['pinning']}",
           f"- load average when the run started: {info['load']} (a shared machine: other jobs may run alongside)", "",
           "## Physical limits (same run)", "",
           f"- ES256 sign: {fnum(es_sign)} /s, verify: {fnum(es_verify)} /s per core (`openssl speed ecdsap256`)",
           f"- Argon2id at the configured cost (opslimit {argon.get('argon2id_opslimit', '?')}, "
           f"{argon.get('argon2id_memlimit_kib', '?')} KiB): {argon.get('argon2id_verify_ms', '?')} ms per "
           f"verification → bound {fnum(argon.get('argon2id_per_s_per_core', 0))} logins/s on the server's one core",
           "", "## Bearer validation (resource library, uncached, one core)", "",
           (f"- cold validation (cache off): {fnum(bearer.get('cold'))} /s; raw ES256 verify (OpenSSL EVP, same binary): "
            f"{fnum(bearer.get('raw'))} /s → {ratio(bearer.get('cold'), bearer.get('raw'))} of raw, "
            + (f"{ratio(bearer.get('cold'), es_verify)} of `openssl speed`" if es_verify else "") if bearer.get("raw") else
            "- not measured (resource_validation_bench not built)"),
           "", "## Start-up and memory", "", "| server | start → first discovery 200 | idle RSS | peak RSS (whole run) |",
           "|---|---|---|---|"]
    for t in targets:
        peak = max([int(r.get("peak_rss_kib", 0)) for (name, _, _), r in results.items() if name == t.name] or [0])
        out.append(f"| {t.name} | {t.start_to_discovery_ms:.1f} ms | {t.idle_rss_kib / 1024:.1f} MiB | {peak / 1024:.1f} MiB |")
    out.append("")
    names = [t.name for t in targets]
    for scenario in args.scenarios:
        out += [f"## {SCENARIO_TITLES[scenario]}", ""]
        header = "| c | server | ops/s | p50 ms | p99 ms | max ms | token p99 ms | errors | server CPU ms/op | peak RSS so far MiB |"
        out += [header, "|---|---|---|---|---|---|---|---|---|---|"]
        for c in args.concurrency:
            for name in names:
                r = results.get((name, scenario, c))
                if not r:
                    continue
                out.append(f"| {c} | {name} | {fnum(r.get('ops_per_s'))} | {fnum(r.get('p50_ms'), 2)} | "
                           f"{fnum(r.get('p99_ms'), 2)} | {fnum(r.get('max_ms'), 2)} | {fnum(r.get('token_p99_ms'), 2)} | "
                           f"{r.get('errors')} | {r.get('cpu_ms_per_op')} | {int(r.get('peak_rss_kib', 0)) / 1024:.1f} |")
        if len(names) == 2:
            ratios = [f"c={c}: {ratio(results.get((names[0], scenario, c), {}).get('ops_per_s'), results.get((names[1], scenario, c), {}).get('ops_per_s'))}"
                      for c in args.concurrency]
            out += ["", f"Throughput ratio {names[0]}/{names[1]}: " + ", ".join(ratios)]
        out.append("")
    out += targets_section(args, limits, targets, results)
    out += ["## Notes", "",
            "- latchkey-server: SQLite store (synchronous=NORMAL), ES256 keys present, mimalloc, default thread count "
            "(one I/O thread per usable CPU: one here, plus the password-check pool) on its one pinned core, request "
            "logs on (to a file).",
            "- Latency is per operation (SSO: 2 requests; interactive: 6 for latchkey, 8 for oidc-provider); "
            "\"token p99\" is the token request alone. Closed loop: at concurrency c, p50 ≈ c / throughput.",
            "- The interactive flow sends prompt=consent, so both servers show the consent page every time.",
            "- oidc-provider: in-memory adapter, ES256 id_tokens; its access tokens are opaque (no signature per grant, "
            "unlike latchkey's JWT access tokens) and its login compares the password without hashing it.",
            "- Where the time goes (perf, callgrind, strace) and what would close the targets not met: bench/README.md.",
            ""]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", default=os.path.join(REPO, "build-bench"))
    p.add_argument("--duration", type=float, default=8)
    p.add_argument("--concurrency", default="1,8,32,128")
    p.add_argument("--scenarios", default="refresh,cc,sso,interactive")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--quick-limits", action="store_true", help="skip openssl speed (smoke)")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "REPORT.md"))
    p.add_argument("--smoke", action="store_true",
                   help="CI: 1 s cells at c=1,8, no openssl speed; fail unless every cell printed figures")
    args = p.parse_args()
    if args.smoke:
        args.duration, args.concurrency, args.quick_limits = 1, "1,8", True
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.scenarios = args.scenarios.split(",")
    server_bin = os.path.join(args.build_dir, "src", "server", "latchkey-server")
    loadgen_bin = os.path.join(args.build_dir, "bench", "loadgen")
    argon_bin = os.path.join(args.build_dir, "bench", "argon2_bound")

    info = machine()
    es = (0.0, 0.0) if args.quick_limits else openssl_es256()
    argon = argon2_bound(argon_bin)
    bearer = {} if args.smoke else bearer_validation(os.path.join(args.build_dir, "bench", "resource_validation_bench"))
    print(f"machine: {info}\nbearer validation: {bearer}\nES256 sign/verify per s: {es}\nargon2: {argon}", flush=True)

    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    targets: list[Target] = [Latchkey(tmp, server_bin)]
    if not args.no_peer and shutil.which("node") and peer_installed():
        targets.append(Peer(tmp))
    results: dict = {}
    try:
        # Each server starts alone (its start-up time and idle RSS are its own), then both stay up and
        # every cell runs for one right after the other: this VM's speed drifts over minutes, and a
        # ratio of two cells measured seconds apart is far steadier than one of cells minutes apart.
        for t in targets:
            t.provision()
            t.start()
            print(f"{t.name}: start->discovery {t.start_to_discovery_ms:.1f} ms, idle RSS {t.idle_rss_kib} KiB", flush=True)
        for scenario in args.scenarios:
            for c in args.concurrency:
                for t in targets:
                    # Argon2id is memory-bound and this VM's memory speed drifts by a third within
                    # minutes: each login cell is judged against the bound timed right before and after it.
                    timed = scenario == "interactive" and isinstance(t, Latchkey)
                    before = argon2_bound(argon_bin) if timed else {}
                    figures = loadgen(loadgen_bin, t, scenario, c, args.duration)
                    if timed:
                        after = argon2_bound(argon_bin)
                        ms = [float(b.get("argon2id_verify_ms", 0) or 0) for b in (before, after)]
                        if all(ms):
                            figures["bound_per_s"] = f"{2000 / sum(ms):.1f}"
                    results[(t.name, scenario, c)] = figures
    finally:
        for t in targets:
            t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(args, info, (es[0], es[1], argon, bearer), targets, results)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"report written to {args.out}")
    if args.smoke:
        # Works and prints figures; never a timing assertion.
        missing = [k for k, r in results.items() if int(r.get("ops", 0)) == 0]
        if missing:
            print(f"smoke: no completed operation in {missing}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
