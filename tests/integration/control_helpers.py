"""Helpers for the build-control tests: a configuration file, `autobuild worker` processes the
test starts and kills, polling with a deadline, a registry port that is closed until opened, and
the build containers still running on the daemon."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from flask.testing import FlaskClient

from core.settings import Settings
from tests.integration.webhook_helpers import (
    PROJECT_ROOT,
    github_push,
    make_app,
    make_settings,
    post_github,
    run_burst_worker,
)

T = TypeVar("T")

SECRET = "build-control-webhook-secret"
TRIGGER_TOKEN = "build-control-trigger-token"
ADMIN_TOKEN = "build-control-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TRIGGER = {"Authorization": f"Bearer {TRIGGER_TOKEN}"}
# Fast build control for tests: heartbeats every second, lost builds found within seconds,
# retries after a short wait.
FAST_CONTROL = {
    "AUTOBUILD_HEARTBEAT_SECONDS": "1",
    "AUTOBUILD_LOST_WORKER_GRACE": "1",
    "AUTOBUILD_RECOVERY_INTERVAL": "1",
    "AUTOBUILD_RETRY_BACKOFF": "1",
}
BASE_ENV = {
    "CTL_SECRET": SECRET,
    "CTL_TRIGGER_TOKEN": TRIGGER_TOKEN,
    "AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN,
}


def repository_entry(name: str, clone_url: str, image: str, **options: Any) -> dict[str, Any]:
    """A configured repository (YAML keys): master -> latest, v1.2 -> 1.2, plus ``options``."""
    entry: dict[str, Any] = {
        "provider": "github",
        "name": name,
        "clone_url": clone_url,
        "image": image,
        "webhook_secret_env": "CTL_SECRET",
        "trigger_token_env": "CTL_TRIGGER_TOKEN",
        "build_rules": [
            {"source_type": "branch", "source": "master", "docker_tag": "latest"},
            {"source_type": "tag", "source": "/^v([0-9.]+)$/", "docker_tag": "{\\1}"},
        ],
    }
    entry.update(options)
    return entry


def write_config(tmp_path: Path, *repositories: Mapping[str, Any]) -> Path:
    path = tmp_path / f"autobuild-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump({"repositories": [dict(r) for r in repositories]}))
    return path


# --- the app, webhooks and burst workers -------------------------------------------------------


def dockerfile(base_image: str, *lines: str) -> str:
    return "\n".join([f"FROM {base_image}", *lines]) + "\n"


def image_path(image: str) -> str:
    """``127.0.0.1:5000/a/b`` -> ``a/b``."""
    return image.split("/", 1)[1]


def configure(
    tmp_path: Path, redis_url: str, entries: list[dict[str, Any]], **environ: str
) -> tuple[Settings, FlaskClient]:
    """Settings for a configuration of ``entries`` (with the tokens of BASE_ENV and ``environ``)
    and a test client of the app on them."""
    settings = make_settings(
        write_config(tmp_path, *entries), redis_url, tmp_path, **BASE_ENV, **environ
    )
    return settings, make_app(settings).test_client()


def push(client: FlaskClient, name: str, commit: str, ref: str = "refs/heads/master") -> Any:
    """A signed GitHub push of ``commit`` to ``ref``; returns the builds it queued."""
    answer = post_github(client, SECRET, github_push(name, ref, commit))
    assert answer.status_code == 202, answer.json
    return answer.json["builds"]


def build_of(client: FlaskClient, build_id: str) -> Any:
    return client.get(f"/api/v1/builds/{build_id}").json


def burst(settings: Settings) -> None:
    worker = run_burst_worker(settings)
    assert worker.returncode == 0, worker.stderr[-3000:]


# --- waiting and processes -----------------------------------------------------------------


def wait_for(
    predicate: Callable[[], T | Literal[False] | None],
    timeout: float,
    what: str,
    every: float = 0.1,
) -> T:
    """Poll ``predicate`` until it answers something true; fail naming ``what`` at the deadline."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (rq's work horses of a worker)."""
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in text.split()]
    return []


class WorkerProcess:
    """``autobuild worker`` in a process of its own, as production runs it. Only the processes
    this object started (the worker and its work horses) are ever signalled."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        *,
        burst: bool = False,
        options: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.burst = burst
        self.options = tuple(options)  # more arguments of ``autobuild worker``: --label L
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **dict(self.settings.environ)}
        argv = [sys.executable, "-m", "cli.main", "worker"] + (["--burst"] if self.burst else [])
        argv += self.options
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def horses(self) -> list[int]:
        return children_of(self.pid)

    def kill(self) -> None:
        """SIGKILL the worker and its work horse at once: the machine is gone."""
        horses = self.horses()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        for horse in horses:
            with contextlib.suppress(ProcessLookupError):
                os.kill(horse, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            horses = self.horses()
            self.process.send_signal(signal.SIGINT)  # twice: rq's cold shutdown kills the horse
            time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            for horse in horses:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(horse, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def running_containers_with(docker_api: Any, marker: str) -> list[str]:
    """Running containers whose command mentions ``marker`` (a ``RUN`` step of the legacy
    builder; BuildKit runs its steps as processes: ``test_buildkit.processes_with``)."""
    running = docker_api.containers(filters={"status": "running"})
    return [c["Id"] for c in running if marker in (c.get("Command") or "")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClosedPort:
    """A loopback port where nothing answers (a registry that is down) until :meth:`open`, from
    when on it forwards every connection to ``upstream`` (the real registry)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.connections = 0
        self._server: socket.socket | None = None
        self._stopped = threading.Event()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.upstream, timeout=30)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    source.settimeout(None)
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextlib.contextmanager
def closed_port(upstream: tuple[str, int]) -> Iterator[ClosedPort]:
    port = ClosedPort(upstream)
    try:
        yield port
    finally:
        port.close()
