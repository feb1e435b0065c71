"""A scale-out deployment started by the tests themselves: a throwaway PostgreSQL server
(scripts/postgres.sh), N latchkey-server instances on it, and HAProxy in front, round-robin.

Everything listens on 127.0.0.1 only; every process is killed at the end. The cluster quacks like
the integration harness's LifecycleServer (clients, user, issuer, http(), admin()), so the flow
helpers of tests/integration drive it unchanged, through the load balancer.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402
from harness import Http, Reply, read_text  # noqa: E402
from test_lifecycle import LifecycleServer  # noqa: E402

POSTGRES_SCRIPT = os.path.join(ROOT, "scripts", "postgres.sh")
READY_TIMEOUT = 30.0
INSTANCE_HEADER = "X-Served-By"  # set by HAProxy: the name of the instance that answered


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held open together, so no port is handed out twice)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class TracingHttp(Http):
    """Http that remembers which instance answered each request (HAProxy's X-Served-By)."""

    def __init__(self, base_url: str, statuses, served_by: list[str]) -> None:
        super().__init__(base_url, statuses)
        self.served_by = served_by

    def request(self, *args, **kw) -> Reply:
        reply = super().request(*args, **kw)
        self.served_by.append(reply.header(INSTANCE_HEADER) or "?")
        return reply


class Instance:
    """One latchkey-server process of the cluster, on its own port, sharing the database."""

    def __init__(self, cluster: "Cluster", name: str, port: int) -> None:
        self.cluster = cluster
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.stderr_path = os.path.join(cluster.tmp, f"{name}.stderr")

    def start(self) -> None:
        ready = threading.Event()
        stderr = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.cluster.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--issuer", self.cluster.issuer,
                 "--database", self.cluster.db],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=self.cluster.env)
        finally:
            stderr.close()
        proc = self.proc

        def read() -> None:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.lines.append(line)
                if line.startswith("latchkey-server listening on"):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(READY_TIMEOUT):
            raise RuntimeError(f"{self.name} did not start (exit {proc.poll()}):\n{self.logs()}")

    def http(self) -> Http:
        """Straight to this instance, around the load balancer."""
        return Http(self.url, self.cluster.statuses)

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no graceful anything
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        return self.proc.returncode

    def output(self) -> str:
        return "\n".join(self.lines) + "\n" + read_text(self.stderr_path)

    def logs(self) -> str:
        err = read_text(self.stderr_path)[-15000:]
        return f"---- {self.name} stdout ----\n" + "\n".join(self.lines[-50:]) + f"\n---- {self.name} stderr ----\n{err}"


class Cluster(LifecycleServer):
    """PostgreSQL + `count` instances + HAProxy. `issuer` is the load balancer's URL."""

    def __init__(self, count: int = 3, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        os.chmod(self.tmp, 0o755)  # PostgreSQL runs as its own user and must reach its directory
        self.pg_dir = os.path.join(self.tmp, "pg")
        ports = free_ports(count + 1)
        self.port = ports[0]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.instances = [Instance(self, f"latchkey{i + 1}", p) for i, p in enumerate(ports[1:])]
        self.served_by: list[str] = []
        self.haproxy: subprocess.Popen | None = None
        self.haproxy_log = os.path.join(self.tmp, "haproxy.log")
        self.db = ""

    # -- PostgreSQL ------------------------------------------------------------------------------
    def postgres(self, action: str) -> str:
        proc = subprocess.run(["bash", POSTGRES_SCRIPT, action, self.pg_dir], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"scripts/postgres.sh {action} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc.stdout.strip()

    # -- start and stop ----------------------------------------------------------------------------
    def start(self) -> "Cluster":
        try:
            self.db = self.postgres("start").splitlines()[-1]
            self.migrate_concurrently()
            self.provision()
            for instance in self.instances:
                instance.start()
            self.start_haproxy()
        except BaseException:
            self.cleanup()
            raise
        return self

    def migrate_concurrently(self) -> None:
        """Every instance of a rolling deploy may run `migrate` at once (issue 6 §1: advisory lock)."""
        procs = [subprocess.Popen([self.binary, "migrate", "--database", self.db], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
                 for _ in self.instances]
        outputs = [(p.wait(60), p.stdout.read().decode()) for p in procs]
        failed = [out for code, out in outputs if code != 0]
        if failed:
            raise RuntimeError("concurrent migrate failed:\n" + "\n".join(failed))
        self.concurrent_migrations = len(procs)

    def start_haproxy(self) -> None:
        servers = "\n".join(
            f"    server {i.name} 127.0.0.1:{i.port} check inter 300ms fall 2 rise 2" for i in self.instances)
        config = f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    # A connection refused by a dead instance is retried on another; nothing else is retried,
    # because a POST that reached an instance may have taken effect.
    retries 3
    option redispatch 1
    retry-on conn-failure
frontend latchkey
    bind 127.0.0.1:{self.port}
    default_backend instances
    http-response set-header {INSTANCE_HEADER} %[srv_name]
backend instances
    balance roundrobin
    option httpchk GET /readyz
{servers}
"""
        path = os.path.join(self.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        log = open(self.haproxy_log, "ab")
        try:
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", path], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        seen: set[str] = set()
        while seen != {i.name for i in self.instances}:
            if self.haproxy.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy not routing to every instance (saw {seen}):\n{self.logs()}")
            try:
                reply = self.http().get("/.well-known/openid-configuration")
                if reply.status == 200:
                    seen.add(reply.header(INSTANCE_HEADER))
            except OSError:
                pass
            time.sleep(0.1)

    def stop(self) -> int | None:
        codes = [instance.stop() for instance in self.instances]
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
        self.haproxy = None
        bad = [c for c in codes if c not in (0, None)]
        return bad[0] if bad else 0

    def cleanup(self) -> None:
        self.stop()
        for instance in self.instances:
            instance.kill9()
        if os.path.isdir(self.pg_dir):
            try:
                self.postgres("stop")
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                sys.stderr.write(f"[cluster] stopping PostgreSQL: {e}\n")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what the shared helpers use -------------------------------------------------------------
    def http(self) -> Http:
        return TracingHttp(self.issuer, self.statuses, self.served_by)

    def output(self) -> str:
        return "\n".join(i.output() for i in self.instances)

    def logs(self) -> str:
        lb = read_text(self.haproxy_log)[-5000:]
        return ("---- admin commands ----\n" + "\n".join(self.admin_log[-20:]) + "\n" +
                "\n".join(i.logs() for i in self.instances) + f"\n---- haproxy ----\n{lb}")


def start_cluster(count: int = 3, env: dict[str, str] | None = None) -> Cluster:
    cluster = Cluster(count, env)
    harness.STARTED.append(cluster)
    return cluster.start()
