"""Git names and ids: one table of refs, checked by core.gitnames, by the standalone copy in the
git hook, by the hosts' payload check and by git itself."""

from __future__ import annotations

import subprocess

import pytest

from app.hosts import base as hosts
from cli import git_hook
from core import gitnames
from core.events import RefType

# (full ref, valid?) -- "valid" is git check-ref-format's answer, except where noted.
REFS: list[tuple[str, bool]] = [
    ("refs/heads/main", True),
    ("refs/heads/feature/x-1", True),
    ("refs/tags/v1.2.3", True),
    ("refs/heads/a@b", True),
    ("refs/heads/a-b_c+d=e,f", True),
    ("refs/heads/ümlaut", True),
    ("refs/heads/-x", True),  # git allows it; short_name_problem refuses it (see below)
    ("refs/heads/a..b", False),
    ("refs/heads/a b", False),
    ("refs/heads/a~1", False),
    ("refs/heads/a^", False),
    ("refs/heads/a:b", False),
    ("refs/heads/a?", False),
    ("refs/heads/a*", False),
    ("refs/heads/a[b", False),
    ("refs/heads/a\\b", False),
    ("refs/heads/a\nb", False),
    ("refs/heads/a\tb", False),
    ("refs/heads/a\x7f", False),
    ("refs/heads/a@{1}", False),
    ("/refs/heads/a", False),
    ("refs/heads/a/", False),
    ("refs/heads//a", False),
    ("refs/heads/a.", False),
    ("refs/heads/.hidden", False),
    ("refs/heads/a/.b", False),
    ("refs/heads/x.lock", False),
    ("refs/heads/x.lock/y", False),
    ("refs/heads/../../x", False),
]
# Stricter than git on purpose: unprintable Unicode never reaches a log line or the UI.
UNPRINTABLE = ["refs/heads/a\u0085", "refs/heads/a\u200b", "refs/heads/lone\udcff"]


def git_accepts(ref: str) -> bool:
    result = subprocess.run(["git", "check-ref-format", ref], capture_output=True, check=False)
    return result.returncode == 0


@pytest.mark.parametrize(("ref", "valid"), REFS)
def test_every_copy_of_the_ref_name_rule_agrees_with_git(ref, valid):
    assert git_accepts(ref) is valid
    assert (gitnames.ref_name_problem(ref) is None) is valid
    assert (git_hook.ref_name_problem(ref) is None) is valid
    assert (hosts.ref_name_problem(ref) is None) is valid


@pytest.mark.parametrize("ref", UNPRINTABLE)
def test_unprintable_names_are_refused_by_every_copy(ref):
    assert gitnames.ref_name_problem(ref) == "it contains control or unprintable characters"
    assert git_hook.ref_name_problem(ref) is not None
    assert hosts.ref_name_problem(ref) is not None


def test_a_refused_name_comes_with_its_reason():
    assert gitnames.ref_name_problem("") == "it is empty"
    assert gitnames.ref_name_problem("a b") == "it contains ' '"
    assert gitnames.ref_name_problem("x.lock") == "a component ends with '.lock'"
    assert gitnames.short_name_problem("--upload-pack=x") == "it starts with '-'"
    assert hosts.ref_name_problem("refs/heads/" + "a" * 300) == ("it is longer than 255 characters")


@pytest.mark.parametrize("name", ["main", "feature/x", "v1.2.3", "release-2024_01", "a@b"])
def test_branch_and_tag_names(name):
    assert gitnames.is_short_name(name)
    assert gitnames.split_ref(gitnames.full_ref(RefType.TAG, name)) == (RefType.TAG, name)
    assert gitnames.split_ref(gitnames.full_ref(RefType.BRANCH, name)) == (RefType.BRANCH, name)


def test_only_branches_and_tags_are_split():
    assert gitnames.split_ref("refs/notes/commits") is None
    assert gitnames.split_ref("refs/heads") is None
    assert gitnames.split_ref("main") is None
    assert not gitnames.is_short_name("-c") and not gitnames.is_short_name(None)


@pytest.mark.parametrize("value", ["0123456789abcdef" * 2 + "01234567", "a" * 64])
def test_full_commit_ids(value):
    assert gitnames.is_commit_id(value)


@pytest.mark.parametrize(
    "value", ["", "abc1234", "A" * 40, "a" * 41, "a" * 50, "a" * 40 + "\n", "g" * 40, None, 7]
)
def test_anything_else_is_not_a_commit_id(value):
    assert not gitnames.is_commit_id(value)


def test_zero_ids_of_both_hash_functions():
    assert gitnames.is_zero_id("0" * 40) and gitnames.is_zero_id("0" * 64)
    assert not gitnames.is_zero_id("0" * 39) and not gitnames.is_zero_id("1" + "0" * 39)
