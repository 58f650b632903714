"""Helpers behind the integration fixtures: the real Redis, Docker daemon and registries.

Everything here talks to real services on loopback (``make services`` starts them). The fixtures in
``conftest.py`` are thin wrappers; the helpers are importable by tests that need more control
(e.g. ``manifest_digest`` to check what a build claims against the registry's HTTP API).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
# Test databases, tried in order; one per concurrently running test session (see lock_redis_db).
TEST_REDIS_DBS = tuple(range(15, 7, -1))
REGISTRY_HOST = "127.0.0.1:5000"
AUTH_REGISTRY_PORTS = (5001, 5002, 5003, 5004, 5005)
BASE_IMAGE_REPOSITORY = "autobuild-test/busybox"
BUSYBOX = Path("/bin/busybox")

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Autobuild Tests",
    "GIT_AUTHOR_EMAIL": "tests@autobuild.invalid",
    "GIT_COMMITTER_NAME": "Autobuild Tests",
    "GIT_COMMITTER_EMAIL": "tests@autobuild.invalid",
    # Ignore the machine's and the user's git configuration (signing, hooks, default branch...).
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


class ServiceError(Exception):
    """A service the integration tests need is missing or misbehaving."""


# --- skip or fail -------------------------------------------------------------------------------


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (and not explicitly false)."""
    value = os.environ.get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``; in CI (``CI`` set) a missing service is a failure instead."""
    message = f"{reason} (start the services with `make services`)"
    if in_ci():
        pytest.fail(f"service unavailable in CI: {message}", pytrace=False)
    pytest.skip(message)


# --- Redis --------------------------------------------------------------------------------------


@contextlib.contextmanager
def lock_redis_db() -> Iterator[int]:
    """Hold an exclusive, crash-safe claim on one of the test databases for a test session.

    Several engineers (or CI jobs) may run the suite on one machine at once; each session flushes
    its database, so two sessions must never share one. A ``flock`` on a file per database number
    is released by the kernel when the process ends, even when it crashes.
    ``AUTOBUILD_TEST_REDIS_DB`` pins the number (and still takes the lock, failing when it is held).
    """
    pinned = os.environ.get("AUTOBUILD_TEST_REDIS_DB")
    candidates = (int(pinned),) if pinned else TEST_REDIS_DBS
    lock_dir = Path(tempfile.gettempdir())
    for db in candidates:
        handle: IO[str] = open(lock_dir / f"autobuild-test-redis-db{db}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield db
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise ServiceError(f"all test Redis databases {list(candidates)} are in use by other sessions")


# --- HTTP ---------------------------------------------------------------------------------------


def http_request(
    url: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; returns (status, headers, body) for every status, raises OSError when
    nothing answers."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def registry_answers(host: str, expect_status: int = 200) -> bool:
    """True when ``GET http://<host>/v2/`` answers like a registry with ``expect_status``."""
    try:
        status, headers, _ = http_request(f"http://{host}/v2/", timeout=3)
    except OSError:
        return False
    api_version = {k.lower(): v for k, v in headers.items()}.get("docker-distribution-api-version")
    return status == expect_status and api_version is not None


def manifest_digest(
    host: str,
    repository: str,
    reference: str,
    username: str | None = None,
    password: str | None = None,
) -> str | None:
    """The registry's ``Docker-Content-Digest`` for ``repository:reference`` (HEAD with manifest
    Accept headers), or None when the registry does not have it."""
    headers = {"Accept": MANIFEST_ACCEPT}
    if username is not None and password is not None:
        headers.update(basic_auth(username, password))
    status, response_headers, _ = http_request(
        f"http://{host}/v2/{repository}/manifests/{reference}", method="HEAD", headers=headers
    )
    if status == 404:
        return None
    if status != 200:
        raise ServiceError(f"registry {host} answered {status} for {repository}:{reference}")
    lowered = {k.lower(): v for k, v in response_headers.items()}
    return lowered.get("docker-content-digest")


# --- Docker streams -----------------------------------------------------------------------------


def stream_errors(chunks: list[dict[str, Any]]) -> list[str]:
    """The error messages in a decoded Docker build or push stream."""
    errors = []
    for chunk in chunks:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            errors.append(str(chunk.get("error") or detail.get("message") or chunk))
    return errors


def push_digest(chunks: list[dict[str, Any]]) -> str | None:
    """The manifest digest a push stream reports in its ``aux`` record."""
    for chunk in chunks:
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            return str(aux["Digest"])
    return None


# --- the authenticated registry -----------------------------------------------------------------


@dataclass(frozen=True)
class AuthRegistry:
    """A registry on loopback that requires HTTP basic auth (htpasswd, bcrypt)."""

    host: str
    username: str
    password: str

    @property
    def auth_config(self) -> dict[str, str]:
        """Credentials as the Docker SDK's ``auth_config`` takes them."""
        return {"username": self.username, "password": self.password}


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd entry (the only hash the registry accepts), from ``htpasswd -Bbn``."""
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        raise ServiceError("htpasswd is not installed (apt-get install apache2-utils)")
    result = subprocess.run(
        [htpasswd, "-Bbn", "-C", "5", username, password],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() + "\n"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registry_config(root: Path, addr: str, htpasswd: bool = True, delete: bool = True) -> str:
    config = f"""version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {root / "data"}
  delete:
    enabled: {"true" if delete else "false"}
http:
  addr: {addr}
  secret: autobuild-test-{os.getpid()}
"""
    if htpasswd:
        config += f"""auth:
  htpasswd:
    realm: autobuild-test
    path: {root / "htpasswd"}
"""
    return config


@dataclass
class RunningRegistry:
    registry: AuthRegistry
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._log.close()


def registry_binary() -> str:
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise ServiceError("docker-registry is not installed (apt-get install docker-registry)")
    return binary


def spawn_answering(
    argv: list[str], log: IO[bytes], answers: Callable[[], bool], deadline: float, poll: float = 0.1
) -> subprocess.Popen[bytes] | None:
    """Start ``argv`` in a session of its own, its output to ``log``, and poll ``answers()`` until
    it is true: the process then. None when the process died or ``deadline`` seconds passed
    first; it has been killed and reaped by then."""
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    end = time.monotonic() + deadline
    while time.monotonic() < end and process.poll() is None:
        if answers():
            return process
        time.sleep(poll)
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    return None


def spawn_registry(
    root: Path, port: int, *, htpasswd: bool, deadline: float = 20.0, delete: bool = True
) -> tuple[subprocess.Popen[bytes], Path, IO[bytes]]:
    """Start Debian's ``docker-registry`` on 127.0.0.1:``port`` with its storage under ``root``
    (``htpasswd``: requiring the credentials in ``root/htpasswd``); returns the process, its log
    path and the open log once ``GET /v2/`` answers (401 with htpasswd, else 200). ``delete``:
    manifest deletes allowed (as REGISTRY_STORAGE_DELETE_ENABLED=true). Raises
    ServiceError, with the end of the log, when it does not answer within ``deadline``."""
    binary = registry_binary()
    (root / "data").mkdir(parents=True, exist_ok=True)
    host = f"127.0.0.1:{port}"
    config = root / "config.yml"
    config.write_text(_registry_config(root, host, htpasswd=htpasswd, delete=delete))
    log_path = root / f"registry-{port}.log"
    log = open(log_path, "ab")  # noqa: SIM115 (closed by the caller)
    expect = 401 if htpasswd else 200
    process = spawn_answering(
        [binary, "serve", str(config)], log, lambda: registry_answers(host, expect), deadline
    )
    if process is not None:
        return process, log_path, log
    log.close()
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    raise ServiceError(f"registry on {host}: {' | '.join(tail) or 'no answer'}")


def start_auth_registry(
    root: Path,
    username: str = "pusher-robot",
    password: str = "test-password-4-registry",
    deadline: float = 20.0,
) -> RunningRegistry:
    """Start Debian's ``docker-registry`` with htpasswd auth on 127.0.0.1:5001 (or the next free
    port, when another test session holds 5001), storage under ``root``.

    Plain HTTP is fine: the registry does not insist on TLS for htpasswd, and dockerd treats every
    127.0.0.0/8 registry as insecure, so it pushes over HTTP and still sends the credentials.
    """
    registry_binary()
    root.mkdir(parents=True, exist_ok=True)
    # The registry reads the file once at start; a missing file would make it invent a user.
    (root / "htpasswd").write_text(htpasswd_line(username, password))
    ports = [p for p in AUTH_REGISTRY_PORTS if _port_free(p)] + [_free_port()]
    failures = []
    for port in ports:
        try:
            process, log_path, log = spawn_registry(root, port, htpasswd=True, deadline=deadline)
        except ServiceError as err:
            failures.append(str(err))
            continue
        registry = AuthRegistry(f"127.0.0.1:{port}", username, password)
        return RunningRegistry(registry, process, log_path, log)
    raise ServiceError("the authenticated test registry did not start: " + "; ".join(failures))


# --- the base image -----------------------------------------------------------------------------


def is_static_elf(path: Path) -> bool:
    """True when ``path`` is an ELF executable without a program interpreter (statically linked),
    i.e. it runs in an image that has nothing else in it."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    endian = "<" if data[5] == 1 else ">"
    (phoff,) = struct.unpack_from(endian + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    for index in range(phnum):
        (p_type,) = struct.unpack_from(endian + "I", data, phoff + index * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


BASE_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
"""


def build_context(
    files: Mapping[str, bytes | str], executables: frozenset[str] = frozenset()
) -> io.BytesIO:
    """An in-memory tar build context."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name in executables else 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def build_and_push_base_image(api: Any, registry: str = REGISTRY_HOST) -> str:
    """Build the busybox base image FROM scratch and push it to ``registry``; returns the reference.

    Test Dockerfiles use ``FROM <this reference>``: nothing is ever pulled from Docker Hub.
    """
    if not BUSYBOX.exists():
        raise ServiceError(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    if not is_static_elf(BUSYBOX):
        raise ServiceError(f"{BUSYBOX} is not statically linked (apt-get install busybox-static)")
    repository = f"{registry}/{BASE_IMAGE_REPOSITORY}"
    context = build_context(
        {"Dockerfile": BASE_DOCKERFILE, "busybox": BUSYBOX.read_bytes()},
        executables=frozenset({"busybox"}),
    )
    chunks = list(
        api.build(
            fileobj=context,
            custom_context=True,
            tag=f"{repository}:latest",
            rm=True,
            forcerm=True,
            decode=True,
            labels={"org.opencontainers.image.title": "autobuild test base (busybox)"},
        )
    )
    errors = stream_errors(chunks)
    if errors:
        raise ServiceError(f"building the base image failed: {errors[0]}")
    chunks = list(api.push(repository, tag="latest", stream=True, decode=True))
    errors = stream_errors(chunks)
    if errors:
        raise ServiceError(f"pushing the base image to {registry} failed: {errors[0]}")
    return f"{repository}:latest"


# --- git repositories ---------------------------------------------------------------------------


def run_git(path: Path, *args: str) -> str:
    """Run git in ``path`` with the fixed test identity; returns stdout without the newline."""
    env = {**os.environ, **GIT_ENV}
    result = subprocess.run(
        ["git", *args], cwd=path, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


@dataclass(frozen=True)
class GitRepo:
    """A non-bare git repository on disk, reachable through a ``file://`` URL."""

    path: Path
    url: str
    branch: str

    def git(self, *args: str) -> str:
        return run_git(self.path, *args)

    def commit(self, files: Mapping[str, str | bytes | None], message: str = "change") -> str:
        """Write (or, for None, delete) ``files`` and commit them on the current branch; returns
        the new commit's sha. An empty ``files`` makes an empty commit."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                if target.exists():
                    self.git("rm", "-q", "-r", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            self.git("add", "--", name)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def tag(self, name: str, message: str | None = None) -> str:
        """Tag HEAD (annotated when ``message`` is given); returns the tagged commit's sha."""
        if message is None:
            self.git("tag", name)
        else:
            self.git("tag", "-a", name, "-m", message)
        return self.git("rev-parse", f"{name}^{{commit}}")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def checkout(self, branch: str, create: bool = False) -> None:
        """Switch to ``branch`` (``create``: a new branch from HEAD)."""
        if create:
            self.git("checkout", "-q", "-b", branch)
        else:
            self.git("checkout", "-q", branch)


def create_git_repo(
    path: Path, files: Mapping[str, str | bytes], branch: str = "master"
) -> GitRepo:
    """A new repository at ``path`` on ``branch`` whose first commit holds ``files``."""
    path.mkdir(parents=True, exist_ok=False)
    run_git(path, "init", "-q", "-b", branch)
    repo = GitRepo(path=path, url=path.resolve().as_uri(), branch=branch)
    repo.commit(dict(files), message="initial commit")
    return repo
