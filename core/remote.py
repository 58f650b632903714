"""What a configured git remote has: ``git ls-remote`` for the manual trigger.

The URL always comes from the configuration; nothing from a request reaches git's arguments.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.deploykey import DeployKey, deploy_key
from core.events import RefType
from core.gitcmd import (
    Git,
    GitTimeoutError,
    UnsafeGitError,
    check_safe_remote,
    failure_reason,
    url_host,
)
from core.gitnames import is_commit_id, split_ref
from core.masking import Masker

LS_REMOTE_TIMEOUT_SECONDS = 30


class RemoteError(RuntimeError):
    """The git host could not be asked (unreachable, refused, too slow)."""


@dataclass(frozen=True)
class RemoteRefs:
    refs: dict[tuple[RefType, str], str]

    def commit(self, ref_type: RefType, name: str) -> str | None:
        return self.refs.get((ref_type, name))

    def names(self, ref_type: RefType) -> list[str]:
        return sorted(name for kind, name in self.refs if kind is ref_type)


def list_remote_refs(
    clone_url: str,
    masker: Masker | None = None,
    environ: Mapping[str, str] | None = None,
    key: DeployKey | None = None,
) -> RemoteRefs:
    """Every branch and tag of the remote; annotated tags resolve to their commit. ``environ`` is
    the process environment (Settings.environ), of which git gets only what it needs; ``key``
    the repository's deploy key (``ssh_key_env``), in a private temporary file while git runs."""
    masker = masker or Masker()
    try:
        check_safe_remote(clone_url)
    except UnsafeGitError as exc:
        raise RemoteError(f"Could not list the refs of {url_host(clone_url)}: {exc}.") from None
    try:
        with deploy_key(key, Path(tempfile.gettempdir())) as ssh_env:
            result = Git({**(environ or {}), **ssh_env}).run(
                ["ls-remote", "--heads", "--tags", "--", clone_url],
                timeout=LS_REMOTE_TIMEOUT_SECONDS,
            )
    except GitTimeoutError:
        raise RemoteError(
            f"{url_host(clone_url)} did not answer within {LS_REMOTE_TIMEOUT_SECONDS} s."
        ) from None
    if not result.ok:
        detail = masker.mask(failure_reason(result.stderr))
        raise RemoteError(
            f"Could not list the refs of {url_host(clone_url)}: {detail or 'git failed'}."
        )
    refs: dict[tuple[RefType, str], str] = {}
    peeled: dict[tuple[RefType, str], str] = {}
    for line in result.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        split = split_ref(ref)
        if not is_commit_id(sha) or split is None or not split[1]:
            continue
        ref_type, name = split
        if name.endswith("^{}"):
            peeled[(ref_type, name[:-3])] = sha
        else:
            refs[(ref_type, name)] = sha
    refs.update(peeled)
    return RemoteRefs(refs)
