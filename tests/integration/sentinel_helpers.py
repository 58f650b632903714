"""A Redis Sentinel deployment of a test's own: a master and its replicas (``redis-server``) and
sentinels (``redis-server --sentinel``: Debian's ``redis-sentinel`` package is not needed), each
its own process on a free loopback port, its files in a directory of the test. Only the processes
started here are ever signalled, by their PID."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

from tests.integration.control_helpers import free_port
from tests.integration.services import ServiceError

SERVICE = "svc"
DOWN_AFTER_MS = 1000  # a master silent this long is down to a sentinel
FAILOVER_TIMEOUT_MS = 5000


def until(check: Callable[[], object], what: str, seconds: float = 30.0) -> Any:
    """Poll ``check`` (a Redis error counts as not yet) until it answers something true."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(redis.RedisError):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class RedisProcess:
    """One ``redis-server`` (a data server or a sentinel) this test started."""

    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, **options)

    def answers(self) -> bool:
        with self.client() as client:
            return bool(client.ping())

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: the machine is gone, nothing flushed."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)  # a paused one would not hear the SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


@dataclass
class SentinelDeployment:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels watching the master as
    :data:`SERVICE` with ``quorum``. :meth:`start` returns once every replica is in sync and
    every sentinel knows the replicas and the other sentinels."""

    root: Path
    replicas: int = 1
    sentinels: int = 1
    quorum: int = 1
    servers: list[RedisProcess] = field(default_factory=list)  # the first one starts as master
    watchers: list[RedisProcess] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str]) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server is not installed (apt-get install redis-server)")
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        process = subprocess.Popen([binary, *argv], stdout=log, stderr=subprocess.STDOUT)
        return RedisProcess(int(argv[argv.index("--port") + 1]), process, log)

    def _server(self, name: str, master: int | None) -> RedisProcess:
        directory = self.root / name
        directory.mkdir(parents=True)
        argv = ["--port", str(free_port()), "--bind", "127.0.0.1", "--dir", str(directory)]
        argv += ["--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
        argv += ["--repl-diskless-sync-delay", "0"]  # a replica syncs at once
        if master is not None:
            argv += ["--replicaof", "127.0.0.1", str(master)]
        return self._spawn(name, argv)

    def _sentinel(self, name: str, master: int) -> RedisProcess:
        port = free_port()
        conf = self.root / f"{name}.conf"  # a sentinel rewrites its file: one each
        conf.write_text(
            f"bind 127.0.0.1\ndir {self.root}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master} {self.quorum}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        )
        return self._spawn(name, [str(conf), "--sentinel", "--port", str(port)])

    def start(self) -> SentinelDeployment:
        self.root.mkdir(parents=True, exist_ok=True)
        master = self._server("redis-0", None)
        self.servers.append(master)
        until(master.answers, "the master")
        for i in range(self.replicas):
            self.servers.append(self._server(f"redis-{i + 1}", master.port))
        for i in range(self.sentinels):
            self.watchers.append(self._sentinel(f"sentinel-{i}", master.port))
        until(self._ready, "the replicas in sync and the sentinels knowing each other")
        return self

    def _ready(self) -> bool:
        # Every replica is online and acknowledges a write made after that: a write made before
        # the master's snapshot for the replica is acknowledged while writes after it are still
        # held back (until the replica's next ACK, up to a second later).
        with self.servers[0].client() as master:
            info = master.info("replication")
            states = [v["state"] for k, v in info.items() if k.startswith("slave")]
            online = [state for state in states if state == "online"]
            if len(online) < self.replicas:
                return False
            master.incr("sentinel-helpers:ready")
            if self.replicas and master.wait(self.replicas, 1000) < self.replicas:
                return False
        for sentinel in self.watchers:
            with sentinel.client() as admin:
                replicas = admin.sentinel_slaves(SERVICE)
                others = admin.sentinel_sentinels(SERVICE)
            in_sync = [r for r in replicas if r.get("master-link-status") == "ok"]
            if len(in_sync) < self.replicas or len(others) < self.sentinels - 1:
                return False
        return True

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.watchers)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers names it."""
        for sentinel in self.watchers:
            with contextlib.suppress(redis.RedisError), sentinel.client() as admin:
                port: int = admin.sentinel_get_master_addr_by_name(SERVICE)[1]
                return port
        raise AssertionError("no sentinel answers")

    def server(self, port: int) -> RedisProcess:
        return next(server for server in self.servers if server.port == port)

    def master(self) -> RedisProcess:
        return self.server(self.master_port())

    def failed_over_from(self, old: int) -> int | None:
        """The new master's port once every sentinel names one other than ``old`` and it
        answers as a master; else None."""
        for sentinel in self.watchers:
            with contextlib.suppress(redis.RedisError), sentinel.client() as admin:
                if admin.sentinel_get_master_addr_by_name(SERVICE)[1] == old:
                    return None
        port = self.master_port()
        with self.server(port).client() as client:
            role = client.info("replication")["role"]
        return port if role == "master" else None

    def stop(self) -> None:
        for process in [*self.watchers, *self.servers]:
            process.stop()
