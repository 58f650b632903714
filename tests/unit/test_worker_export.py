"""Exporting a commit (real git and tar, no other service): its size is known before anything is
written, only the build context's directory is written when that is enough, and the bytes are
counted while exporting."""

from __future__ import annotations

import os
import subprocess

import pytest

from core.events import RefType
from tests.processes import children
from tests.unit.test_worker_mirror import GIT_ENV, Repo
from worker.checkout import GitSource, Mirror, checkout_context
from worker.containment import ContextTooLargeError
from worker.deadline import Deadline
from worker.export import export_commit, list_tree


def one_blob_under_many_names(repo: Repo, size: int, names: int) -> str:
    """A commit whose tree names one blob ``names`` times: a tiny pack, a big export."""
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            input=os.urandom(size),
            cwd=repo.path,
            env=GIT_ENV,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .strip()
    )
    dockerfile = repo.git("hash-object", "-w", "--stdin")  # an empty Dockerfile is enough here
    big = mktree(repo, "".join(f"100644 blob {blob}\tcopy-{i}.bin\n" for i in range(names)))
    tree = mktree(repo, f"040000 tree {big}\tbig\n100644 blob {dockerfile}\tDockerfile\n")
    return repo.git("commit-tree", tree, "-m", "many names")


def mktree(repo: Repo, entries: str) -> str:
    return subprocess.run(
        ["git", "mktree"], input=entries.encode(), cwd=repo.path, env=GIT_ENV, check=True,
        capture_output=True,
    ).stdout.decode().strip()  # fmt: skip


def checkout(tmp_path, repo, sha, context="/", dockerfile="Dockerfile", max_bytes=0):
    mirror = Mirror(tmp_path / "mirrors" / "m", {"PATH": os.environ["PATH"]})
    repo.git("update-ref", "refs/heads/master", sha)
    return checkout_context(
        mirror,
        GitSource(repo.url, sha, RefType.BRANCH, "master"),
        context=context,
        dockerfile=dockerfile,
        scratch_dir=tmp_path / "contexts",
        deadline=Deadline(60),
        max_bytes=max_bytes,
    )


def written(tmp_path) -> int:
    return sum(f.stat().st_size for f in (tmp_path / "contexts").rglob("*") if f.is_file())


def test_a_commit_over_the_limit_fails_before_anything_is_written(tmp_path, monkeypatch):
    repo = Repo(tmp_path / "origin")
    sha = one_blob_under_many_names(repo, 256 * 1024, 64)  # 16 MiB from a 256 KiB blob
    sizes: list[int] = []
    monkeypatch.setattr(
        "worker.mirror.export_commit", lambda *args: sizes.append(written(tmp_path))
    )
    with (
        pytest.raises(ContextTooLargeError, match=r"are 16 MiB; the limit is 1 MiB") as caught,
        checkout(tmp_path, repo, sha, max_bytes=1 << 20),
    ):
        pass
    assert "AUTOBUILD_MAX_EXPORT_BYTES" in caught.value.message
    assert sizes == []  # never started
    assert written(tmp_path) == 0


def test_the_limit_counts_only_the_context_directory(tmp_path):
    repo = Repo(tmp_path / "origin")
    repo.commit({"app/Dockerfile": "FROM scratch\n", "app/x.txt": "x\n"})
    base = one_blob_under_many_names(repo, 64 * 1024, 64)  # 4 MiB outside app/
    repo.git("read-tree", base)
    sha = repo.commit({"app/Dockerfile": "FROM scratch\n", "app/x.txt": "x\n"})
    with checkout(tmp_path, repo, sha, context="app", max_bytes=1 << 20) as built:
        root = built.root
        assert sorted(p.name for p in root.iterdir()) == ["app"]  # nothing else was written
        assert (built.directory / "x.txt").read_text() == "x\n"
    with pytest.raises(ContextTooLargeError), checkout(tmp_path, repo, sha, max_bytes=1 << 20):
        pass  # the root context holds big/


def test_a_dockerfile_linked_from_outside_the_context_still_builds(tmp_path):
    repo = Repo(tmp_path / "origin")
    repo.commit({"docker/Dockerfile.prod": "FROM scratch\n", "app/x.txt": "x\n"})
    os.symlink("../docker/Dockerfile.prod", repo.path / "app" / "Dockerfile")
    repo.git("add", "app/Dockerfile")
    sha = repo.commit({})
    with checkout(tmp_path, repo, sha, context="app", max_bytes=1 << 20) as built:
        assert sorted(p.name for p in built.root.iterdir()) == ["app", "docker"]  # the whole tree
        assert built.dockerfile == str(built.root.resolve() / "docker" / "Dockerfile.prod")


def test_the_archive_is_counted_while_it_is_exported(tmp_path):
    repo = Repo(tmp_path / "origin")
    sha = one_blob_under_many_names(repo, 256 * 1024, 16)
    mirror = Mirror(tmp_path / "mirrors" / "m", {"PATH": os.environ["PATH"]})
    repo.git("update-ref", "refs/heads/master", sha)
    mirror.fetch_commit(GitSource(repo.url, sha, RefType.BRANCH, "master"), Deadline(60))
    listing = list_tree(mirror.git, sha, ".", Deadline(60))
    assert (listing.files, listing.size) == (17, 16 * 256 * 1024)
    before = children()
    with pytest.raises(ContextTooLargeError, match="grew past 1 MiB while it was exported"):
        export_commit(mirror.git, sha, tmp_path / "out", Deadline(60), max_bytes=1 << 20)
    assert sum(f.stat().st_size for f in (tmp_path / "out").rglob("*") if f.is_file()) <= 2 << 20
    assert children() == before
    export_commit(mirror.git, sha, tmp_path / "all", Deadline(60), max_bytes=8 << 20)
    assert len(list((tmp_path / "all" / "big").iterdir())) == 16
