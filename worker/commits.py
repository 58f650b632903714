"""What the mirror knows about a commit, read through GitPython's object model: its message and
dates (for build arguments such as Docker Hub's ``COMMIT_MSG`` and ``{commit_date:...}``
templates), the commit an annotated tag peels to, and the files changed between two commits.

The repository is opened with :class:`core.gitcmd.HardenedGit` as its command runner, so the
``git cat-file`` processes GitPython keeps for reading objects get the same configuration and
environment as every other git process, and they are ended when the block closes: no helper
process outlives a build. GitPython reads only SHA-1 repositories (its object header parser
insists on 40 hex digits), so for a SHA-256 mirror nothing is read and the answer is None.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from git import Repo
from git.db import GitCmdObjectDB
from git.objects import Commit, TagObject

from core.gitcmd import Git
from core.gitnames import is_commit_id

MAX_OBJECT_BYTES = 1024 * 1024  # a commit or tag object larger than this is not read
MAX_TAG_DEPTH = 10  # tags of tags of ... followed this far


@dataclass(frozen=True)
class CommitInfo:
    """One commit as build arguments and templates want it."""

    commit: str
    message: str  # the full message, as committed
    summary: str  # its first line
    author: str  # name only: never the e-mail address
    authored_at: datetime  # with the author's UTC offset
    committed_at: datetime  # with the committer's UTC offset


@contextlib.contextmanager
def open_repository(git: Git) -> Iterator[Repo]:
    """``git.git_dir`` as a ``git.Repo`` whose every git process is hardened; closed (its
    persistent ``cat-file`` processes ended) when the block ends."""
    assert git.git_dir is not None
    repo = Repo(os.fspath(git.git_dir), expand_vars=False)
    try:
        repo.git = git.command()
        repo.odb = GitCmdObjectDB(os.path.join(repo.common_dir, "objects"), repo.git)
        yield repo
    finally:
        repo.close()


def _readable(sha: str) -> bool:
    return is_commit_id(sha) and len(sha) == 40


def _kind(repo: Repo, binsha: bytes) -> tuple[bytes | None, bool]:
    """The type of object ``binsha`` (``b"commit"``, ``b"tag"``, ...; None when the repository
    lacks it) and whether it was read: objects over MAX_OBJECT_BYTES are not, and then the
    repository must not be asked anything more (closing it ends the ``cat-file``). One
    ``cat-file --batch`` serves this and the object model's reads that follow."""
    try:
        stream = repo.odb.stream(binsha)
    except ValueError:  # not in the repository
        return None, False
    kind: bytes = stream.type
    if stream.size > MAX_OBJECT_BYTES:
        return kind, False
    stream.read()
    return kind, True


def read_commit(git: Git, sha: str) -> CommitInfo | None:
    """The message, author and dates of commit ``sha`` in the repository, or None when it is not
    there, not a commit, too large, or the repository is SHA-256."""
    if not _readable(sha):
        return None
    with open_repository(git) as repo:
        if _kind(repo, bytes.fromhex(sha)) != (b"commit", True):
            return None
        commit = Commit(repo, bytes.fromhex(sha))
        message = _text(commit.message)
        return CommitInfo(
            commit=sha,
            message=message,
            summary=message.split("\n", 1)[0],
            author=commit.author.name or "",
            authored_at=_plain(commit.authored_datetime),
            committed_at=_plain(commit.committed_datetime),
        )


def peel_to_commit(git: Git, sha: str) -> str | None:
    """The commit ``sha`` names: itself for a commit, the commit an annotated tag (or a chain of
    them) points to; None for anything else or when the repository lacks it."""
    if not _readable(sha):
        return None
    with open_repository(git) as repo:
        binsha: bytes = bytes.fromhex(sha)
        for _ in range(MAX_TAG_DEPTH):
            kind, read = _kind(repo, binsha)
            if kind == b"commit":
                return binsha.hex()
            if kind != b"tag" or not read:
                return None
            binsha = TagObject(repo, binsha).object.binsha
    return None


def changed_files(git: Git, old: str, new: str) -> tuple[str, ...] | None:
    """The paths that differ between the trees of commits ``old`` and ``new`` (a rename as both
    paths), or None when either commit is missing (a shallow mirror rarely has ``old``)."""
    if not (_readable(old) and _readable(new)):
        return None
    with open_repository(git) as repo:
        if {_kind(repo, bytes.fromhex(sha))[0] for sha in (old, new)} != {b"commit"}:
            return None
        diffs = Commit(repo, bytes.fromhex(old)).diff(new, no_renames=True)
        paths = (path for diff in diffs for path in (diff.a_path, diff.b_path) if path)
        return tuple(dict.fromkeys(paths))


def _plain(moment: datetime) -> datetime:
    """``moment`` with a standard-library timezone (GitPython gives its own tzinfo class)."""
    return moment.astimezone(timezone(moment.utcoffset() or timedelta(0)))


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
