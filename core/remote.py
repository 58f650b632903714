"""What a configured git remote has: ``git ls-remote`` for the manual trigger.

The URL always comes from the configuration; nothing from a request reaches git's arguments.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from urllib.parse import urlparse

from core.events import RefType
from core.masking import Masker

LS_REMOTE_TIMEOUT_SECONDS = 30
_LINE = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})\trefs/(heads|tags)/(.+)$")
SAFE_GIT_CONFIG = (
    "-c", "protocol.ext.allow=never",
    "-c", "core.hooksPath=/dev/null",
    "-c", "credential.helper=",
)  # fmt: skip


class RemoteError(RuntimeError):
    """The git host could not be asked (unreachable, refused, too slow)."""


@dataclass(frozen=True)
class RemoteRefs:
    refs: dict[tuple[RefType, str], str]

    def commit(self, ref_type: RefType, name: str) -> str | None:
        return self.refs.get((ref_type, name))

    def names(self, ref_type: RefType) -> list[str]:
        return sorted(name for kind, name in self.refs if kind is ref_type)


def host_of(url: str) -> str:
    parsed = urlparse(url)
    if parsed.hostname:
        return parsed.hostname
    if parsed.scheme == "file" or url.startswith("/"):
        return "the local file system"
    return url.split("@")[-1].split(":")[0]  # scp-like git@host:path


def list_remote_refs(clone_url: str, masker: Masker | None = None) -> RemoteRefs:
    """Every branch and tag of the remote; annotated tags resolve to their commit."""
    masker = masker or Masker()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
    }
    try:
        result = subprocess.run(
            ["git", *SAFE_GIT_CONFIG, "ls-remote", "--heads", "--tags", "--", clone_url],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=LS_REMOTE_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise RemoteError(
            f"{host_of(clone_url)} did not answer within {exc.timeout:.0f} s."
        ) from None
    if result.returncode != 0:
        detail = masker.mask(
            result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        )
        raise RemoteError(
            f"Could not list the refs of {host_of(clone_url)}: {detail or 'git failed'}."
        )
    refs: dict[tuple[RefType, str], str] = {}
    peeled: dict[tuple[RefType, str], str] = {}
    for line in result.stdout.splitlines():
        found = _LINE.match(line)
        if not found:
            continue
        sha, kind, name = found.groups()
        ref_type = RefType.BRANCH if kind == "heads" else RefType.TAG
        if name.endswith("^{}"):
            peeled[(ref_type, name[:-3])] = sha
        else:
            refs[(ref_type, name)] = sha
    refs.update(peeled)
    return RemoteRefs(refs)
