"""The fence's command line (namespaces, binds, nothing of the worker's environment on it), the
daemon socket it binds, and :func:`run_fenced` streaming lines and stopping on demand."""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath

import pytest

from worker.errors import BuildTimeoutError
from worker.sandbox import (
    Fence,
    SandboxError,
    check_sandbox,
    docker_socket,
    fence_argv,
    run_fenced,
)

SECRET = "s3cret-hook-value"


def fence(tmp_path: Path, **environment: str) -> Fence:
    return Fence(tmp_path, PurePosixPath("app"), Path("/var/run/docker.sock"), environment)


def test_the_fence_unshares_everything_and_binds_only_the_checkout_and_the_socket(
    tmp_path: Path,
) -> None:
    argv = fence_argv(fence(tmp_path, TOKEN=SECRET), ["./hooks/build"], executable="bwrap")
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent"):
        assert flag in argv
    binds = [tuple(argv[i + 1 : i + 3]) for i, arg in enumerate(argv) if arg == "--bind"]
    assert binds == [(str(tmp_path), "/src"), ("/var/run/docker.sock", "/run/docker.sock")]
    assert argv[argv.index("--chdir") + 1] == "/src/app"
    assert argv[-2:] == ["--", "./hooks/build"]
    assert SECRET not in " ".join(argv) and "--setenv" not in argv  # a command line is public


def test_the_hooks_environment_is_the_builds_with_debians_docker_cli_first_on_path(
    tmp_path: Path,
) -> None:
    variables = fence(tmp_path, TOKEN=SECRET, HOME="/root").variables()
    assert variables["PATH"].split(":")[0] == "/usr/bin"  # /usr/bin/docker, not /usr/local/bin
    assert variables["DOCKER_HOST"] == "unix:///run/docker.sock"
    assert variables["HOME"] == "/tmp" and variables["TOKEN"] == SECRET
    assert variables["DOCKER_BUILDKIT"] == "1"
    assert fence(tmp_path, DOCKER_BUILDKIT="0").variables()["DOCKER_BUILDKIT"] == "0"


@pytest.mark.parametrize(
    ("docker_host", "socket"),
    [
        (None, "/var/run/docker.sock"),
        ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
    ],
)
def test_the_daemon_socket_comes_from_docker_host(docker_host: str | None, socket: str) -> None:
    assert docker_socket(docker_host) == Path(socket)


def test_a_tcp_docker_host_is_refused_with_a_sentence() -> None:
    with pytest.raises(SandboxError) as caught:
        docker_socket("tcp://127.0.0.1:2375")
    assert "unix://" in caught.value.message


def test_run_fenced_streams_every_line_and_returns_the_exit_status() -> None:
    lines: list[str] = []
    status = run_fenced(
        ["/bin/sh", "-c", 'echo one; echo "two $X" >&2; exit 4'],
        {"PATH": "/usr/bin:/bin", "X": "x"},
        lines.append,
        lambda: None,
    )
    assert (status, lines) == (4, ["one", "two x"])


def test_run_fenced_stops_a_silent_process_when_the_check_raises() -> None:
    end = time.monotonic() + 0.5

    def check() -> None:
        if time.monotonic() > end:
            raise BuildTimeoutError("stopped")

    started = time.monotonic()
    with pytest.raises(BuildTimeoutError):
        run_fenced(["/bin/sh", "-c", "sleep 60"], {"PATH": "/usr/bin:/bin"}, print, check)
    assert time.monotonic() - started < 10


def test_a_sandbox_that_cannot_start_is_the_workers_error_not_the_hooks(tmp_path: Path) -> None:
    broken = tmp_path / "bwrap"
    broken.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    with pytest.raises(SandboxError) as caught:
        check_sandbox(str(broken))
    assert "No permissions to create new namespace" in caught.value.message
    assert caught.value.status.value == "error"
