"""Base-image rebuilds: which FROM images may rebuild a repository (never its own)."""

from __future__ import annotations

from buildrules.model import BuildRule, Repository
from core.base_images import BaseUse, rule_key, rule_key_of
from core.events import RefType
from worker.basecheck import BaseChange, is_own_image


def repository() -> Repository:
    rules = (
        BuildRule(RefType.BRANCH, "master", ("latest",)),
        BuildRule(RefType.BRANCH, "docs", ("docs",), image="127.0.0.1:5000/team/docs"),
    )
    return Repository(
        "github", "Acme/App", "https://example.test/a.git", "127.0.0.1:5000/team/app", rules
    )


def test_every_image_the_repository_pushes_is_its_own_whatever_the_tag() -> None:
    repo = repository()
    assert is_own_image(repo, "127.0.0.1:5000/team/app:latest")
    assert is_own_image(repo, "127.0.0.1:5000/team/app")
    assert is_own_image(repo, "127.0.0.1:5000/team/docs:v1")
    assert is_own_image(repo, "127.0.0.1:5000/team/app@sha256:" + "a" * 64)


def test_other_images_are_bases_even_with_a_shared_prefix() -> None:
    repo = repository()
    assert not is_own_image(repo, "127.0.0.1:5000/team/app-base:latest")
    assert not is_own_image(repo, "127.0.0.1:5001/team/app:latest")
    assert not is_own_image(repo, "python:3.12")


def test_a_rule_is_keyed_by_repository_ref_and_image_not_by_position() -> None:
    repo = repository()
    key = rule_key_of(repo, repo.build_rules[1])
    assert key == rule_key("github", "acme/app", "branch", "docs", "127.0.0.1:5000/team/docs")
    assert key != rule_key_of(repo, repo.build_rules[0])


def test_a_base_use_round_trips_through_its_json() -> None:
    use = BaseUse("b1", "c" * 40, (("127.0.0.1:5000/base:1", "sha256:" + "1" * 64),))
    assert BaseUse.loads(use.dumps()) == use


def test_a_change_names_the_image_and_both_digests() -> None:
    line = BaseChange("127.0.0.1:5000/base:1", "sha256:old", "sha256:new").describe()
    assert "127.0.0.1:5000/base:1" in line and "sha256:old" in line and "sha256:new" in line
