"""A repository's SSH deploy key (``ssh_key_env``), on disk only while git uses it: the worker's
fetches (worker/checkout.py) and the web's ``ls-remote`` for a manual trigger (core/remote.py).

The key is read from the worker's environment variable the repository names and written to a
file of its own (mode 0600, in a 0700 directory under the worker's scratch directory); git's
fetches of the commit and its submodules run with ``GIT_SSH_COMMAND`` pointing ssh at it
(``-i FILE -o IdentitiesOnly=yes``: only this key is offered, not the agent's or the worker's
default ones). The file is deleted as soon as those fetches are done, whatever happened.

Host keys: ``StrictHostKeyChecking=yes``. The git host's key must already be known: in
``AUTOBUILD_SSH_KNOWN_HOSTS`` when it is set, else in the worker user's ``~/.ssh/known_hosts`` or
``/etc/ssh/ssh_known_hosts`` (add it once with ``ssh-keyscan``, checking the fingerprint the host
publishes); an unknown or changed host key fails the fetch, it is never trusted on first use.
``BatchMode=yes``: ssh never asks anything.

The key never appears in a command line, a log line or an exception: only the file's path does.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


class DeployKeyError(ValueError):
    """The variable ``ssh_key_env`` names is unset or holds no private key."""


SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes")


@dataclass(frozen=True)
class DeployKey:
    """A private key (kept out of repr) and the known-hosts file to check hosts against."""

    key: str = field(repr=False)
    known_hosts: Path | None = None  # None: ssh's defaults


def read_deploy_key(
    environ: Mapping[str, str], name: str | None, known_hosts: Path | None = None
) -> DeployKey | None:
    """The key in variable ``name`` (None when no variable is named); an unset or empty
    variable, or one that holds no private key, is a :class:`DeployKeyError` naming the
    variable (never showing its value)."""
    if name is None:
        return None
    value = environ.get(name, "")
    if not value.strip():
        raise DeployKeyError(f"ssh_key_env names {name}, which is not set on the worker")
    if "PRIVATE KEY-----" not in value:
        raise DeployKeyError(
            f"{name} (ssh_key_env) does not hold a private key in PEM/OpenSSH form"
        )
    return DeployKey(value, known_hosts)


def ssh_command(key_file: Path, known_hosts: Path | None = None) -> str:
    """The ``GIT_SSH_COMMAND`` offering only ``key_file``."""
    hosts = ["-o", f"UserKnownHostsFile={known_hosts}"] if known_hosts is not None else []
    return shlex.join(["ssh", "-i", str(key_file), *SSH_OPTIONS, *hosts])


@contextlib.contextmanager
def deploy_key(key: DeployKey | None, scratch_dir: Path) -> Iterator[dict[str, str]]:
    """The git environment additions for fetching with ``key`` (none when it is None): the key
    is in a private file for the duration of the block and deleted afterwards."""
    if key is None:
        yield {}
        return
    scratch_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="ssh-", dir=scratch_dir))  # mode 0700
    try:
        key_file = directory / "deploy_key"
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key.key.strip() + "\n")  # ssh insists on the final newline
        yield {"GIT_SSH_COMMAND": ssh_command(key_file, key.known_hosts)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
