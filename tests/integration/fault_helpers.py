"""Services of a test's own, for the fault tests: a Redis, a registry and a Docker daemon that the
test starts on loopback ports (or a socket) of its own, breaks, and starts again.

The shared services (Redis on 6379, the registry on 5000, the system dockerd) are used by other
test sessions at the same time: a fault test never stops, restarts or signals them. Each class
here signals only the process it started itself, by its PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import IO

import redis

from tests.integration.control_helpers import free_port
from tests.integration.services import ServiceError, spawn_answering, spawn_registry


def _stop(process: subprocess.Popen[bytes] | None, sig: int, timeout: float = 30.0) -> None:
    """Signal a process this module started and wait for it; SIGKILL when it does not go."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class OwnRedis:
    """``redis-server`` on a free loopback port with its data (AOF on) in ``directory``.

    ``appendfsync always``: every write a client got an answer for is on disk before the answer,
    so what survives a SIGKILL is exactly what was acknowledged (``make services`` uses
    ``everysec``: up to a second of writes may be lost there; see RELIABILITY.md)."""

    def __init__(self, directory: Path, appendfsync: str = "always") -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, deadline: float = 15.0) -> OwnRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 (closed in kill/stop)
        argv = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = spawn_answering(argv, self._log, self.answers, deadline, poll=0.05)
        if self.process is not None:
            return self
        self._close_log()
        raise ServiceError(f"the test's own redis-server did not answer on port {self.port}")

    def answers(self) -> bool:
        connection = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(connection.ping())
        except redis.RedisError:
            return False
        finally:
            connection.close()

    def kill(self) -> None:
        """SIGKILL: the machine lost power, nothing was flushed on the way out."""
        _stop(self.process, signal.SIGKILL)
        self._close_log()

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class OwnRegistry:
    """A registry (Debian's ``docker-registry``, no auth) on a free loopback port, storage under
    ``root``; :meth:`kill` and :meth:`start` again keep the port and the stored images."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> OwnRegistry:
        self.process, _, self._log = spawn_registry(self.root, self.port, htpasswd=False)
        return self

    def kill(self) -> None:
        _stop(self.process, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    stop = kill


class OwnDockerd:
    """A second Docker daemon: its own socket, data root, exec root (and so its own containerd,
    which dockerd starts and stops with itself), no bridge and no iptables rules.

    Paths live in a short directory under /tmp: a unix socket path must stay under 108 bytes."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="abd-", dir="/tmp"))
        self.socket = self.root / "d.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def start(self, deadline: float = 60.0) -> OwnDockerd:
        binary = shutil.which("dockerd")
        if binary is None:
            raise ServiceError("dockerd is not installed (apt-get install docker.io)")
        self._log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 (closed in stop)
        argv = [
            binary,
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--host", self.docker_host,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "x"),
            "--pidfile", str(self.root / "d.pid"),
            "--shutdown-timeout", "2",
        ]  # fmt: skip
        self.process = spawn_answering(argv, self._log, self.answers, deadline)
        if self.process is not None:
            return self
        self.stop()
        raise ServiceError(f"the test's own dockerd did not answer: {self.log_tail()}")

    def answers(self) -> bool:
        from core.docker_ping import ping_docker

        return ping_docker(self.docker_host, timeout=1.0) is None

    def stop(self) -> None:
        """SIGTERM, as ``systemctl stop docker`` does: dockerd stops its containers (2 s grace)
        and its containerd, removes its socket and exits."""
        _stop(self.process, signal.SIGTERM, timeout=60)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 5) -> str:
        path = self.root / "dockerd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def remove(self) -> None:
        """Stop the daemon and delete everything it kept (images, layers, its containerd)."""
        self.stop()
        for mount in _mounts_under(self.root):  # a daemon killed hard may leave overlay mounts
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + os.sep
    mounts: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1]
            if target.startswith(prefix):
                mounts.append(target)
    return sorted(mounts, reverse=True)
