"""The fence a hook runs in: bubblewrap (``bwrap``) with its own user, mount, PID, network, IPC and
UTS namespaces, no capabilities, and a file system of exactly

- the host's ``/usr`` (and ``/bin``, ``/lib``, ``/sbin`` as on the host) and the few ``/etc``
  folders the tools need (``alternatives``, ``ssl``, ``ca-certificates``), read-only: sh, git,
  curl and Debian's docker CLI (``/usr/bin/docker``: PATH is ``/usr/bin:/bin:...``, so a newer
  CLI in ``/usr/local/bin`` never wins);
- the build's exported checkout at ``/src``, read-write (the build uses what hooks leave there);
- the build's Docker daemon socket at ``/run/docker.sock`` (``DOCKER_HOST``);
- a fresh ``/proc``, a minimal ``/dev`` and an empty ``/tmp`` (also ``HOME``).

It gets only the variables it is given (:mod:`worker.buildenv`), no network but its own loopback
(so not Redis, nor anything else listening on the worker's host), and dies with the worker's
process. :func:`run_fenced` streams its output line by line and kills it (and, with its PID
namespace, every process it started) when the build must stop. docs/hooks.md explains the trust.
"""

from __future__ import annotations

import functools
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from core.gitcmd import kill_group
from worker.errors import WorkerError

SANDBOX_ROOT = PurePosixPath("/src")
SANDBOX_SOCKET = "/run/docker.sock"
SANDBOX_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
DEFAULT_SOCKET = Path("/var/run/docker.sock")
SANDBOX_TMP = "/tmp"  # noqa: S108 - a fresh tmpfs inside the fence, not the host's /tmp
HOST_DIRS = ("/usr",)
HOST_LINKS_OR_DIRS = ("/bin", "/lib", "/lib32", "/lib64", "/sbin")
HOST_ETC = ("/etc/alternatives", "/etc/ssl", "/etc/ca-certificates")
MAX_LINE_BYTES = 64 * 1024
POLL_SECONDS = 0.25


class SandboxError(WorkerError):
    """The fence cannot be set up on this worker (no bubblewrap, no daemon socket)."""


def bwrap_executable() -> str:
    found = shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
    if found is None:
        raise SandboxError(
            "Hooks run in bubblewrap, which is not installed on this worker"
            " (apt-get install bubblewrap)"
        )
    return found


NAMESPACE_FLAGS = (
    "--die-with-parent",
    "--new-session",
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--cap-drop",
    "ALL",
)


@functools.cache
def check_sandbox(executable: str) -> None:
    """Make sure bwrap can set up its namespaces here (once per process, while it can): a worker
    that cannot is an infrastructure error, not the hook's failure."""
    try:
        subprocess.run(
            [executable, *NAMESPACE_FLAGS, *_host_binds(), "--", "/bin/true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={"PATH": SANDBOX_PATH},
            timeout=30,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode("utf-8", "replace").strip() or f"exit {exc.returncode}"
        raise SandboxError(
            f"Hooks cannot run on this worker: bubblewrap failed ({reason})"
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"Hooks cannot run on this worker: bubblewrap failed ({exc})") from None


def docker_socket(docker_host: str | None) -> Path:
    """The daemon's unix socket, from the worker's ``DOCKER_HOST`` (default the local socket)."""
    if not docker_host:
        return DEFAULT_SOCKET
    parts = urlsplit(docker_host)
    if parts.scheme != "unix" or not parts.path:
        raise SandboxError(
            "Hooks reach the build's Docker daemon through its unix socket, but this worker's"
            " DOCKER_HOST is not a unix:// address"
        )
    return Path(parts.path)


@dataclass(frozen=True)
class Fence:
    """What one hook may see: the checkout (``/src``), its working directory in it, the daemon
    socket and its environment."""

    checkout: Path  # the exported repository on the host
    workdir: PurePosixPath  # relative to the checkout
    socket: Path
    environment: Mapping[str, str] = field(repr=False)

    @property
    def cwd(self) -> PurePosixPath:
        return SANDBOX_ROOT / self.workdir

    def variables(self) -> dict[str, str]:
        """The hook's whole environment: the build's, then what the fence itself sets."""
        return {
            "DOCKER_BUILDKIT": "1",  # Docker Hub's default since 2021; env: may say 0
            **self.environment,
            "PATH": SANDBOX_PATH,
            "HOME": SANDBOX_TMP,
            "DOCKER_HOST": f"unix://{SANDBOX_SOCKET}",
            "LANG": "C.UTF-8",
        }


def _host_binds() -> list[str]:
    argv: list[str] = []
    for path in HOST_DIRS:
        argv += ["--ro-bind", path, path]
    for path in HOST_LINKS_OR_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in HOST_ETC:
        if os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    return argv


def fence_argv(fence: Fence, command: Sequence[str], executable: str | None = None) -> list[str]:
    """The ``bwrap`` command line running ``command`` inside ``fence``. The environment is not
    in it (a command line is visible to every user of the host): :func:`run_fenced` starts bwrap
    with exactly ``fence.variables()``, which it hands on."""
    argv = [
        executable or bwrap_executable(),
        *NAMESPACE_FLAGS,
        "--hostname",
        "autobuild-hook",
        *_host_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        SANDBOX_TMP,
        "--bind",
        str(fence.checkout),
        str(SANDBOX_ROOT),
        "--bind",
        str(fence.socket),
        SANDBOX_SOCKET,
        "--chdir",
        str(fence.cwd),
    ]
    return [*argv, "--", *command]


def run_fenced(
    argv: Sequence[str],
    environment: Mapping[str, str],
    on_line: Callable[[str], None],
    check: Callable[[], None],
) -> int:
    """Run ``argv`` (from :func:`fence_argv`) with exactly ``environment``, each output line
    (stdout and stderr merged) to ``on_line``; ``check`` is called at least every quarter second
    and raises to stop it, which kills the process group (bwrap's PID namespace takes every
    process of the hook with it).
    Returns the exit status (negative: killed by that signal)."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(environment),
    )
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[bytes | None] = queue.Queue()

    def read() -> None:
        try:
            for raw in iter(lambda: stdout.readline(MAX_LINE_BYTES), b""):
                lines.put(raw)
        finally:
            lines.put(None)

    reader = threading.Thread(target=read, name="hook-output", daemon=True)
    reader.start()
    try:
        while True:
            check()
            try:
                raw = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if raw is None:
                break
            on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        while process.poll() is None:
            check()
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
        return process.returncode
    finally:
        if process.poll() is None:
            kill_group(process)
        process.wait()
        reader.join(timeout=5)
        stdout.close()
