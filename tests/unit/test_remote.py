"""``git ls-remote`` for the manual trigger, through the hardened GitPython layer (real git)."""

from __future__ import annotations

import os

import pytest

from core.events import RefType
from core.remote import RemoteError, list_remote_refs
from tests.unit.test_worker_mirror import Repo, annotated_tag


def test_branches_and_tags_are_listed_with_annotated_tags_peeled(tmp_path):
    repo = Repo(tmp_path / "origin")
    first = repo.commit({"a": "1\n"})
    annotated_tag(repo, "v1")
    repo.git("tag", "light")
    repo.git("branch", "feature/x")
    repo.git("update-ref", "refs/notes/commits", first)
    second = repo.commit({"a": "2\n"})
    refs = list_remote_refs(repo.url, environ={"PATH": os.environ["PATH"]})
    assert refs.commit(RefType.BRANCH, "master") == second
    assert refs.commit(RefType.BRANCH, "feature/x") == first
    assert refs.commit(RefType.TAG, "v1") == first  # the commit, not the tag object
    assert refs.names(RefType.TAG) == ["light", "v1"]
    assert refs.names(RefType.BRANCH) == ["feature/x", "master"]


def test_a_remote_helper_url_is_refused_before_git_runs(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(RemoteError, match="remote helper"):
        list_remote_refs(f"ext::sh -c touch% {marker}", environ={"PATH": os.environ["PATH"]})
    assert not marker.exists()


def test_an_unreachable_remote_is_an_error_naming_it(tmp_path):
    with pytest.raises(RemoteError, match=f"Could not list the refs of {tmp_path / 'nowhere'}"):
        list_remote_refs((tmp_path / "nowhere").as_uri(), environ={"PATH": os.environ["PATH"]})
