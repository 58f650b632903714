"""Running git through GitPython: explicit argv, a scrubbed environment, hardened options and a
hard deadline on every call.

Every git process, ours and the ones GitPython starts for its object model (``cat-file``), goes
through :class:`HardenedGit`, a ``git.cmd.Git`` whose ``execute`` adds the safe configuration,
gives git only the variables it needs and starts it in a session of its own. The commands we run
ourselves (:meth:`Git.run`) use ``Git.execute(as_process=True)`` and our own deadline: when it
passes, or the build is stopped, the whole process group is killed (git's helpers such as
``git-remote-https``, ``upload-pack`` and ssh included). GitPython's ``kill_after_timeout`` is not
used: it cannot be stopped early and kills only the children it finds by parent id at expiry.
Nothing from a payload is ever passed as an option, and GitPython's ``allow_unsafe_*`` guards
stay off, so its own checks refuse ``ext::``-style URLs and ``--upload-pack``/``--exec``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from git.cmd import Git as GitPythonGit
from git.exc import UnsafeOptionError, UnsafeProtocolError

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
            "GIT_LITERAL_PATHSPECS": "1",  # a path is a path, never ':(magic)'
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


class UnsafeGitError(ValueError):
    """A URL or an option GitPython's guards refuse (a remote helper, ``--upload-pack``)."""


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and everything it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


UNSAFE_OPTIONS = [*GitPythonGit.unsafe_git_ls_remote_options, "--config", "-c"]


def check_safe_remote(url: str, options: Sequence[str] = ()) -> None:
    """GitPython's own guards, with their ``allow_unsafe_*`` left off: no remote helper
    (``ext::``, ``fd::``, ``<helper>::``) and none of the options that run commands."""
    try:
        GitPythonGit.check_unsafe_protocols(url)
    except UnsafeProtocolError:
        raise UnsafeGitError("the URL names a git remote helper ('<helper>::'), refused") from None
    try:
        GitPythonGit.check_unsafe_options(list(options), UNSAFE_OPTIONS)
    except UnsafeOptionError:
        raise UnsafeGitError("an argument would be read as an option that runs commands") from None


ENV_EXECUTABLE = shutil.which("env") or "/usr/bin/env"


class HardenedGit(GitPythonGit):
    """GitPython's command runner with our rules applied to every git process it starts.

    ``Git.execute`` always starts from a copy of ``os.environ``; git is therefore started as
    ``env -u NAME ... git`` so that it sees exactly :func:`git_environment` (only variable
    names appear in the command line, never their values)."""

    def __init__(
        self,
        working_dir: str | os.PathLike[str] | None,
        environ: Mapping[str, str],
        extra_config: tuple[tuple[str, str], ...] = (),
        executable: str = "git",
    ) -> None:
        super().__init__(working_dir)
        if "=" in executable:
            raise ValueError(f"not a usable git executable: {executable!r}")
        self.hardened_environment = git_environment(environ)
        self.hardened_config = (*SAFE_CONFIG, *extra_config)
        self.hardened_executable = executable

    def hardened_argv(self, command: Sequence[Any]) -> list[str]:
        """``command`` (``git`` and its arguments, as GitPython builds it) as it is started."""
        unset = sorted((set(os.environ) | {"LANGUAGE"}) - set(self.hardened_environment))
        argv = [ENV_EXECUTABLE]
        for name in unset:
            argv += ["-u", name]
        argv.append(self.hardened_executable)
        for key, value in self.hardened_config:
            argv += ["-c", f"{key}={value}"]
        return argv + [str(arg) for arg in command[1:]]

    def execute(self, command: Any, istream: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """GitPython's ``execute`` with the hardened argv and environment, in a new session."""
        if isinstance(command, str) or kwargs.get("shell"):
            raise ValueError("git is run from an argument list, never through a shell")
        kwargs.update(env=self.hardened_environment, shell=False, start_new_session=True)
        kwargs.pop("kill_after_timeout", None)  # our deadline (Git.run) kills the whole group
        return super().execute(self.hardened_argv(command), istream, **kwargs)


@dataclass(frozen=True)
class Git:
    """Runs git commands against one repository directory (``git_dir``) or none."""

    environ: Mapping[str, str]
    git_dir: Path | None = None
    extra_config: tuple[
        tuple[str, str], ...
    ] = ()  # for tests and operators (e.g. protocol.version)
    executable: str = "git"

    def command(self) -> HardenedGit:
        """A GitPython command runner with our rules (for ``git.Repo`` and our own commands)."""
        return HardenedGit(self.git_dir, self.environ, self.extra_config, self.executable)

    def argv(self, args: Sequence[str]) -> list[str]:
        """``git [--git-dir DIR] args`` as GitPython is given it (before hardening)."""
        argv = ["git"]
        if self.git_dir is not None:
            argv += ["--git-dir", str(self.git_dir)]
        return argv + list(args)

    def start(self, args: Sequence[str]) -> GitPythonGit.AutoInterrupt:
        """Start ``git args`` (stdout and stderr piped, stdin empty) and return GitPython's
        handle; its ``proc`` is the process, which the caller waits for or kills."""
        handle = self.command().execute(self.argv(args), as_process=True)
        assert isinstance(handle, GitPythonGit.AutoInterrupt)
        return handle

    def run(
        self, args: Sequence[str], timeout: float, stop: Callable[[], bool] | None = None
    ) -> GitResult:
        """Run ``git args``; raises :class:`GitTimeoutError` after ``timeout`` seconds, or as soon
        as ``stop()`` answers True (it is asked every half second)."""
        handle = self.start(args)
        process = handle.proc
        assert process is not None
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


# ssh's own complaints say more than git's "Could not read from remote repository" after them.
SSH_COMPLAINTS = ("Host key verification failed", "Permission denied (publickey")


def failure_reason(stderr: str) -> str:
    """The most telling line of git's complaint (ssh's, when ssh refused), without its
    ``fatal:`` prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if any(complaint in line for complaint in SSH_COMPLAINTS):
            return line
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
