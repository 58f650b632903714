"""The mirror fetches a commit's tree, never its history, and a rebuild only new objects (real
git, no other service)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core.events import RefType
from worker.deadline import Deadline
from worker.mirror import SHALLOW_REFUSED, FetchResult, GitSource, Mirror

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(path: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=path, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def commit(path: Path, name: str, content: bytes) -> str:
    (path / name).parent.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(content)
    git(path, "add", "--", name)
    git(path, "commit", "-q", "-m", f"change {name}")
    return git(path, "rev-parse", "HEAD")


def objects_in(mirror: Mirror) -> int:
    result = mirror.git.run(["count-objects", "-v"], 10).stdout
    counts = dict(line.split(": ") for line in result.splitlines())
    loose = int(counts["count"])
    packed = int(counts["in-pack"])
    return loose + packed


def test_the_first_fetch_takes_the_commits_tree_and_none_of_its_history(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "master")
    for _ in range(30):  # history: 30 versions of a 64 KB file
        commit(origin, "big.bin", os.urandom(64 * 1024))
    tip = commit(origin, "src/app.txt", b"v1\n")
    mirror = Mirror(tmp_path / "mirror", {"PATH": os.environ["PATH"]})
    source = GitSource(origin.as_uri(), tip, RefType.BRANCH, "master")

    assert mirror.fetch_commit(source, Deadline(60)) == FetchResult("commit")

    # the commit, its two trees and two blobs: no old versions of big.bin
    assert objects_in(mirror) == 5
    assert mirror.git.run(["rev-list", "--count", tip], 10).stdout.strip() == "1"


def test_a_rebuild_on_top_fetches_only_the_new_objects(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "master")
    commit(origin, "big.bin", os.urandom(256 * 1024))
    first = commit(origin, "src/app.txt", b"v1\n")
    mirror = Mirror(tmp_path / "mirror", {"PATH": os.environ["PATH"]})
    mirror.fetch_commit(GitSource(origin.as_uri(), first, RefType.BRANCH, "master"), Deadline(60))
    before = objects_in(mirror)

    second = commit(origin, "src/app.txt", b"v2\n")
    source = GitSource(origin.as_uri(), second, RefType.BRANCH, "master")
    assert mirror.fetch_commit(source, Deadline(60)) == FetchResult("commit")

    # a commit, the root tree, the src tree and the new blob; big.bin is not sent again
    assert objects_in(mirror) - before == 4
    assert mirror.has_commit(first, Deadline(10)) and mirror.has_commit(second, Deadline(10))


def test_a_host_that_cannot_fetch_with_a_depth_is_recognised():
    assert SHALLOW_REFUSED.search("fatal: dumb http transport does not support shallow ...")
    assert SHALLOW_REFUSED.search("fatal: Server does not support --depth")
    assert not SHALLOW_REFUSED.search(
        "error: Server does not allow request for unadvertised object abc"
    )
