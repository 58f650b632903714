"""Running git: explicit argv, a minimal environment, hardened options and a deadline on every call.

Git is run as a subprocess rather than through GitPython: every call here gets a hard timeout
(GitPython ignores ``kill_after_timeout`` for several commands), the whole process group is killed
when it expires (git spawns helpers such as ``git-remote-https`` and ``upload-pack``), nothing from
a payload is ever passed as an option, and no long-lived ``cat-file`` helpers are left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Options applied to every git command: no ext:: transport, no hooks from anywhere, no submodule
# recursion, housekeeping in the foreground (so it is bounded by our deadline), and abort a
# transfer that has been completely stalled for five minutes.
SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("protocol.ext.allow", "never"),
    ("core.hooksPath", os.devnull),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("gc.autoDetach", "false"),
    ("maintenance.autoDetach", "false"),
    ("http.lowSpeedLimit", "1"),
    ("http.lowSpeedTime", "300"),
    ("http.followRedirects", "initial"),
)

# The environment git sees: what it needs to find itself, its configuration, credentials the
# administrator set up (ssh agent, credential helpers in ~/.gitconfig) and proxies; never the
# worker's other variables (registry passwords, webhook secrets).
ENV_PASSTHROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "SSH_AUTH_SOCK",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)

ALLOWED_PROTOCOLS = "https:http:ssh:git:file"


def git_environment(environ: Mapping[str, str]) -> dict[str, str]:
    env = {name: environ[name] for name in ENV_PASSTHROUGH if environ.get(name)}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a terminal
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
            "GIT_PROTOCOL_FROM_USER": "0",
            "LC_ALL": "C",  # messages we can read back
        }
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class GitTimeoutError(Exception):
    """A git command was still running when its timeout expired (it has been killed)."""


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and everything it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Git:
    """Runs git commands against one repository directory (``git_dir``) or none."""

    environ: Mapping[str, str]
    git_dir: Path | None = None
    extra_config: tuple[
        tuple[str, str], ...
    ] = ()  # for tests and operators (e.g. protocol.version)
    executable: str = "git"

    def argv(self, args: Sequence[str]) -> list[str]:
        argv = [self.executable]
        for key, value in (*SAFE_CONFIG, *self.extra_config):
            argv += ["-c", f"{key}={value}"]
        if self.git_dir is not None:
            argv += ["--git-dir", str(self.git_dir)]
        return argv + list(args)

    def popen(self, args: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            self.argv(args),
            stdin=subprocess.DEVNULL,
            env=git_environment(self.environ),
            start_new_session=True,
            **kwargs,
        )

    def run(
        self, args: Sequence[str], timeout: float, stop: Callable[[], bool] | None = None
    ) -> GitResult:
        """Run ``git args``; raises :class:`GitTimeoutError` after ``timeout`` seconds, or as soon
        as ``stop()`` answers True (it is asked every half second)."""
        process = self.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = communicate(process, timeout, stop)
        except subprocess.TimeoutExpired:
            kill_group(process)
            process.communicate()
            raise GitTimeoutError(
                f"git {args[0]} did not finish within {timeout:.0f} seconds"
            ) from None
        except BaseException:
            kill_group(process)
            process.communicate()
            raise
        return GitResult(
            process.returncode,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
        )


STOP_POLL_SECONDS = 0.5


def communicate(
    process: subprocess.Popen[bytes],
    timeout: float,
    stop: Callable[[], bool] | None = None,
) -> tuple[bytes, bytes]:
    """``process.communicate(timeout=timeout)``, giving up early (``TimeoutExpired``) once
    ``stop()`` is True. Retrying ``communicate`` after a timeout loses no output."""
    if stop is None:
        out, err = process.communicate(timeout=timeout)
        return out or b"", err or b""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0 or stop():
            raise subprocess.TimeoutExpired(process.args, timeout)
        try:
            out, err = process.communicate(timeout=min(STOP_POLL_SECONDS, left))
            return out or b"", err or b""
        except subprocess.TimeoutExpired:
            continue


def failure_reason(stderr: str) -> str:
    """The most telling line of git's complaint, without its ``fatal:`` prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for prefix in ("fatal:", "error:"):
        for line in lines:
            if line.lower().startswith(prefix):
                return line[len(prefix) :].strip()
    return lines[-1] if lines else "git gave no reason"


def strip_credentials(url: str) -> str:
    """``url`` without ``user:password@`` (for labels and messages)."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)")


def url_host(url: str) -> str:
    """The host a clone URL points at, for messages: ``github.com``, or the path of a local one."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return parts.path or url
    if parts.scheme and parts.hostname:
        return parts.hostname + (f":{parts.port}" if parts.port else "")
    match = _SCP_LIKE.match(url)
    if match:
        return match.group("host")
    return strip_credentials(url)
