"""Reading commits through GitPython's object model (real git, no other service): messages and
dates, tags peeled, changed files, and no git process left behind after a build's checkout."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from core.events import RefType
from core.gitcmd import Git
from tests.processes import children, processes_touching
from tests.unit.test_worker_mirror import GIT_ENV, Repo, annotated_tag
from worker.checkout import GitSource, Mirror, checkout_context
from worker.commits import changed_files, peel_to_commit, read_commit
from worker.deadline import Deadline


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path / "origin")


def local(repo: Repo) -> Git:
    return Git({"PATH": os.environ["PATH"]}, git_dir=repo.path / ".git")


def test_a_commits_message_author_and_dates_are_read(repo, monkeypatch):
    monkeypatch.setitem(GIT_ENV, "GIT_COMMITTER_DATE", "2024-05-06T07:08:09+02:00")
    sha = repo.commit({"a": "1\n"}, message="Add a\n\nwith a body: ünïcode")
    info = read_commit(local(repo), sha)
    assert info is not None and info.commit == sha
    assert info.message == "Add a\n\nwith a body: ünïcode\n"
    assert info.summary == "Add a" and info.author == "t"
    assert info.committed_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert info.authored_at.utcoffset() is not None
    assert type(info.committed_at.tzinfo) is timezone  # the standard library's, not GitPython's


def test_only_commits_are_read(repo):
    sha = repo.commit({"a": "1\n"})
    tree = repo.git("rev-parse", f"{sha}^{{tree}}")
    tag = annotated_tag(repo, "v1")
    assert read_commit(local(repo), tree) is None
    assert read_commit(local(repo), tag) is None
    assert read_commit(local(repo), "e" * 40) is None  # not there
    assert read_commit(local(repo), "e" * 64) is None  # SHA-256: GitPython cannot read it
    assert read_commit(local(repo), "--upload-pack=x") is None


def test_annotated_tags_are_peeled_to_their_commit(repo):
    sha = repo.commit({"a": "1\n"})
    inner = annotated_tag(repo, "inner")
    outer = annotated_tag(repo, "outer", inner)
    assert peel_to_commit(local(repo), sha) == sha
    assert peel_to_commit(local(repo), inner) == sha
    assert peel_to_commit(local(repo), outer) == sha
    assert peel_to_commit(local(repo), repo.git("rev-parse", "HEAD^{tree}")) is None
    assert peel_to_commit(local(repo), "e" * 40) is None


def test_the_files_changed_between_two_commits(repo):
    old = repo.commit({"keep.txt": "k\n", "old/name.txt": "moved\n", "gone.txt": "x\n"})
    repo.git("mv", "old/name.txt", "new-name.txt")
    repo.git("rm", "-q", "gone.txt")
    new = repo.commit({"keep.txt": "changed\n", "added/file.txt": "+\n"})
    assert sorted(changed_files(local(repo), old, new) or ()) == [
        "added/file.txt",
        "gone.txt",
        "keep.txt",
        "new-name.txt",
        "old/name.txt",
    ]
    assert changed_files(local(repo), old, old) == ()
    assert changed_files(local(repo), "e" * 40, new) is None  # a shallow mirror lacks ``old``


def test_no_git_process_is_left_after_a_checkout(tmp_path, repo):
    before = children()
    repo.commit({"Dockerfile": "FROM scratch\n"}, message="first")
    tag = annotated_tag(repo, "v1")
    mirror = Mirror(tmp_path / "mirrors" / "m", {"PATH": os.environ["PATH"]})
    source = GitSource(repo.url, tag, RefType.TAG, "v1")
    with checkout_context(
        mirror,
        source,
        context="/",
        dockerfile="Dockerfile",
        scratch_dir=tmp_path / "contexts",
        deadline=Deadline(60),
    ) as built:
        assert built.info is not None and built.info.summary == "first"
        assert built.info.commit == built.commit != tag
    assert processes_touching(tmp_path) == []
    assert children() == before


def test_a_huge_commit_object_is_not_read_but_still_built(repo, tmp_path):
    message = tmp_path / "message.txt"
    message.write_text("x" * (1024 * 1024 + 1))
    repo.commit({"a": "1\n"})
    repo.git("commit", "-q", "--amend", "-F", str(message))
    sha = repo.git("rev-parse", "HEAD")
    assert read_commit(local(repo), sha) is None
    assert peel_to_commit(local(repo), sha) == sha
