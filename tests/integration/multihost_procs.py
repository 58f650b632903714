"""The processes of the multi-host test, each started by the harness and ended by its PID: a
dedicated redis-server, registry and git daemon on the bridge address, a dockerd per host.

Each process writes its output to a log of its own (kept in the test's log directory, for the
failure message); :func:`spawn` returns once the process answers, or raises ServiceError with the
end of its log.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from core.docker_ping import ping_docker
from tests.integration.multihost_net import HostNet, on_host
from tests.integration.services import GIT_ENV, ServiceError, registry_answers, registry_binary


@dataclass
class Proc:
    """A process the harness started, and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Signal the process (SIGKILL when it does not end within ``timeout``) and reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def kill(self) -> None:
        """SIGKILL: the machine is gone, nothing is said on the way out."""
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 8) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"{self.name}: " + " | ".join(text.strip().splitlines()[-lines:])


def spawn(
    name: str,
    argv: Sequence[str],
    logs: Path,
    answers: Callable[[], bool],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    deadline: float = 60.0,
) -> Proc:
    """Start ``argv`` in a session of its own and poll ``answers()`` until it is true."""
    log_path = logs / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 (closed by Proc.stop)
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    proc = Proc(name, process, log_path, log)
    end = time.monotonic() + deadline
    while process.poll() is None and time.monotonic() < end:
        if answers():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise ServiceError(f"{name} did not answer within {deadline:g} s: {proc.tail()}")


def free_port(address: str) -> int:
    """A TCP port nothing listens on at ``address`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def tcp_answers(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


def _binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServiceError(f"{name} is not installed (apt-get install {package})")
    return path


# --- services on the bridge address --------------------------------------------------------------


def start_redis(address: str, root: Path, logs: Path) -> tuple[Proc, str]:
    """A redis-server of the test's own on ``address``; returns it and its URL."""
    port = free_port(address)
    (root / "redis").mkdir(parents=True, exist_ok=True)
    argv = [
        _binary("redis-server", "redis-server"),
        "--bind", address, "--port", str(port), "--protected-mode", "no",
        "--dir", str(root / "redis"), "--save", "", "--appendonly", "no",
    ]  # fmt: skip

    def answers() -> bool:
        connection = redis.Redis(host=address, port=port, socket_connect_timeout=0.5)
        try:
            return bool(connection.ping())
        except redis.RedisError:
            return False
        finally:
            connection.close()

    return spawn("redis", argv, logs, answers), f"redis://{address}:{port}/0"


def start_registry(address: str, root: Path, logs: Path) -> tuple[Proc, int]:
    """Debian's ``docker-registry`` (no auth, deletes allowed) on ``address``; returns it and its
    port."""
    port = free_port(address)
    storage = root / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    config = storage / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\nstorage:\n"
        f"  filesystem:\n    rootdirectory: {storage / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}:{port}\n  secret: autobuild-multihost-{port}\n"
    )
    argv = [registry_binary(), "serve", str(config)]
    proc = spawn("registry", argv, logs, lambda: registry_answers(f"{address}:{port}"))
    return proc, port


def start_git_daemon(address: str, repositories: Path, logs: Path) -> tuple[Proc, int]:
    """``git daemon`` serving every repository under ``repositories`` read-only on ``address``
    (``git://<address>:<port>/<name>``); returns it and its port."""
    port = free_port(address)
    repositories.mkdir(parents=True, exist_ok=True)
    argv = [
        _binary("git", "git"), "daemon", "--reuseaddr", "--export-all", "--informative-errors",
        f"--base-path={repositories}", f"--listen={address}", f"--port={port}", str(repositories),
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", **GIT_ENV}
    return spawn("git-daemon", argv, logs, lambda: tcp_answers(address, port), env=env), port


# --- a host's Docker daemon ----------------------------------------------------------------------


def start_dockerd(host: HostNet, root: Path, logs: Path, registry_port: int) -> Proc:
    """The host's own dockerd (and so its own containerd): own data root, exec root, socket
    ``root/d.sock`` and pid file, no bridge, no iptables rules; the test's registry on the bridge
    address (``<gateway>:<registry_port>``) is insecure (plain HTTP).

    The flag names it with ``http://``: dockerd 20.10's BuildKit reads ``--insecure-registry``
    entries on its own and takes plain HTTP only from an ``http://`` entry (a bare ``host:port``
    leaves BuildKit on HTTPS, so FROM and the registry cache import fail with "server gave HTTP
    response to HTTPS client": moby/moby#41059); the daemon's pulls and pushes drop the prefix."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "daemon.json").write_text(json.dumps({}))
    socket_path = root / "d.sock"
    argv = [
        _binary("dockerd", "docker.io"),
        "--config-file", str(root / "daemon.json"),
        "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
        "--host", f"unix://{socket_path}",
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "x"),
        "--pidfile", str(root / "d.pid"),
        "--insecure-registry", f"http://{host.gateway}:{registry_port}",
        "--shutdown-timeout", "2",
    ]  # fmt: skip
    return spawn(
        f"dockerd-{host.hostname}",
        on_host(host, argv),
        logs,
        lambda: ping_docker(f"unix://{socket_path}", timeout=1.0) is None,
    )


# --- what runs under a process --------------------------------------------------------------------


def processes_under(root: int) -> list[tuple[int, str]]:
    """Every descendant of process ``root`` (a host's dockerd: its containerd, shims, BuildKit's
    RUN steps) with its command line, from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state
        commands[pid] = command.replace(b"\0", b" ").decode(errors="replace").strip()
    found: list[tuple[int, str]] = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor > 1:
            if ancestor == root:
                found.append((pid, commands[pid]))
                break
            ancestor = parents.get(ancestor)
    return found
