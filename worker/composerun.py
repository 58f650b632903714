"""Running one autotest compose file with Debian's Compose v1 (``docker-compose``) as a process.

``up -d sut`` starts ``sut`` and what it depends on in the project named after the build; the
``sut`` container's output is streamed through the Docker API while its state is polled (a
cancel or a timeout is seen within a second), and its exit code decides. ``down -v
--remove-orphans`` then removes every container, network and volume of the project, whatever
happened; anything it leaves (a daemon hiccup) is removed through the API by the project's
label.

Compose gets a clean environment: an empty HOME (no Docker credentials: a test pulls nothing
private) and the worker's DOCKER_HOST.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.deadline import Deadline
from worker.errors import InfrastructureError, UserBuildError

COMPOSE = "docker-compose"
PROJECT_LABEL = "com.docker.compose.project"
CLEANUP_SECONDS = 120.0
STOP_SECONDS = "5"
POLL_SECONDS = 0.5
STREAM_DRAIN_SECONDS = 10.0

LogFn = Callable[[str], None]


class TestFailedError(UserBuildError):
    """The ``sut`` service exited non-zero (or never started)."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class ComposeTest:
    """One test file, checked and rewritten (:mod:`worker.composefile`), ready to run."""

    name: str  # the file's name in the repository, for messages
    text: str  # the safe compose text
    project: str  # the compose project name: lowercase letters and digits
    docker_host: str | None

    def environ(self, home: Path) -> dict[str, str]:
        env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        return env


def project_name(build_id: str) -> str:
    """The compose project of a build's tests: ``ab`` and the build id's letters and digits."""
    return "ab" + "".join(c for c in build_id.lower() if c.isalnum())


def run_test(
    test: ComposeTest, api: Any, deadline: Deadline, log: LogFn, checkpoint: Callable[[], None]
) -> None:
    """Run ``test``; raise :class:`TestFailedError` unless ``sut`` exits 0. Always cleaned up."""
    if shutil.which(COMPOSE) is None:
        raise InfrastructureError(
            "docker-compose is not installed on this worker (Debian package docker-compose)"
        )
    home = Path(tempfile.mkdtemp(prefix="autotest-"))
    try:
        compose_file = home / "docker-compose.yml"
        compose_file.write_text(test.text, encoding="utf-8")
        runner = _Runner(test, compose_file, home, log)
        try:
            runner.run(["up", "-d", "--no-build", "sut"], deadline.timeout(), "starting sut")
            container = runner.sut_container(deadline)
            code = _watch(api, container, log, checkpoint)
        finally:
            runner.down()
            remove_leftovers(api, test.project)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if code != 0:
        raise TestFailedError(f"Test {test.name} failed: its sut service exited with code {code}")


def _watch(api: Any, container: str, log: LogFn, checkpoint: Callable[[], None]) -> int:
    """Stream ``container``'s output into the log (a thread) while polling its state, so a cancel
    or a timeout (``checkpoint`` raises) is seen within a second; its exit code once it ends."""
    streaming = threading.Thread(
        target=_stream, args=(api, container, log), name="autotest-logs", daemon=True
    )
    streaming.start()
    try:
        while True:
            checkpoint()
            state = api.inspect_container(container)["State"]
            if not state.get("Running"):
                break
            time.sleep(POLL_SECONDS)
    finally:
        # The stream ends with the container (or when ``down`` removes it after a stop).
        streaming.join(timeout=STREAM_DRAIN_SECONDS)
    return int(state.get("ExitCode", -1))


def _stream(api: Any, container: str, log: LogFn) -> None:
    with contextlib.suppress(Exception):  # the container went away: the output ends with it
        for chunk in api.logs(container, stream=True, follow=True):
            for line in chunk.decode("utf-8", "replace").splitlines():
                log(line)


@dataclass(frozen=True)
class _Runner:
    test: ComposeTest
    compose_file: Path
    home: Path
    log: LogFn

    def command(self, args: list[str]) -> list[str]:
        base = [COMPOSE, "--ansi", "never", "-f", str(self.compose_file)]
        return [*base, "-p", self.test.project, *args]

    def run(self, args: list[str], timeout: float, what: str) -> str:
        try:
            done = subprocess.run(
                self.command(args),
                cwd=self.home,
                env=self.test.environ(self.home),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise UserBuildError(f"Test {self.test.name}: {what} took too long") from None
        for line in done.stderr.splitlines():
            self.log(line)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise TestFailedError(f"Test {self.test.name}: {what} failed: {last[0]}")
        return done.stdout

    def sut_container(self, deadline: Deadline) -> str:
        found = self.run(["ps", "-q", "sut"], deadline.timeout(60), "finding sut").split()
        if not found:
            raise TestFailedError(f"Test {self.test.name}: the sut container did not start")
        return found[0]

    def down(self) -> None:
        try:
            self.run(
                ["down", "-v", "--remove-orphans", "-t", STOP_SECONDS],
                CLEANUP_SECONDS,
                "removing the test's containers",
            )
        except UserBuildError as exc:  # logged; the API sweep below still removes what is left
            self.log(str(exc))


def remove_leftovers(api: Any, project: str) -> None:
    """Remove, through the API, any container, network or volume still labelled ``project``."""
    labels: Mapping[str, Any] = {"label": [f"{PROJECT_LABEL}={project}"]}
    for container in api.containers(all=True, filters=labels):
        api.remove_container(container["Id"], force=True, v=True)
    for network in api.networks(filters=labels):
        api.remove_network(network["Id"])
    for volume in (api.volumes(filters=labels) or {}).get("Volumes") or []:
        api.remove_volume(volume["Name"], force=True)
