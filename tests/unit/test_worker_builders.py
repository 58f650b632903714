"""The build phase's choice of builder and BuildKit's layer cache and limits."""

from __future__ import annotations

import pytest

from buildrules.model import BuildRule, Repository
from core.build import BuildRecord
from core.events import RefType
from worker.builders import (
    BuildChoice,
    build_one,
    buildkit_layer_cache,
    buildkit_limits,
    choice_for,
)
from worker.containment import BuildLimits
from worker.deadline import Deadline
from worker.docker_build import BuildRequest
from worker.errors import UserBuildError

IMAGE = "127.0.0.1:5000/a/b"


def repository(**options) -> Repository:
    rules = (
        BuildRule(RefType.BRANCH, "main", ("latest",)),
        BuildRule(RefType.BRANCH, "dev", ("dev",), builder="legacy", platforms=("linux/arm64",)),
    )
    return Repository("git", "a/b", "https://example.com/a.git", IMAGE, rules, **options)


def record(*indexes: int) -> BuildRecord:
    return BuildRecord(
        id="x",
        provider="git",
        repository="a/b",
        source_type=RefType.BRANCH,
        source_name="main",
        commit="a" * 40,
        image=IMAGE,
        docker_tags=("latest",),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=indexes,
    )


def test_the_rule_of_the_build_decides_else_the_repository():
    configured = repository(platforms=("linux/amd64", "linux/arm64"))
    assert choice_for(configured, record(0)) == BuildChoice(
        "buildkit", ("linux/amd64", "linux/arm64")
    )
    assert choice_for(configured, record(1)) == BuildChoice("legacy", ("linux/arm64",))
    assert choice_for(repository(builder="legacy"), record()) == BuildChoice("legacy", ())
    assert not choice_for(repository(), record(7)).multi_platform  # a rule since removed


def test_buildkit_names_the_registry_images_of_its_tags_as_cache_sources():
    cache = buildkit_layer_cache(IMAGE, ("latest", "1.0"), True, (IMAGE,))
    assert cache.cache_from == (f"{IMAGE}:latest", f"{IMAGE}:1.0") and not cache.nocache
    assert "inline cache" in cache.summary
    off = buildkit_layer_cache(IMAGE, ("latest",), False, (IMAGE,))
    assert off.nocache and off.cache_from == ()
    assert buildkit_layer_cache("other/image", ("latest",), True, (IMAGE,)).cache_from == ()


class Daemon:
    def __init__(self, bridges: list[dict]) -> None:
        self.bridges = bridges

    def networks(self, names):
        return self.bridges


def test_without_a_bridge_the_default_network_becomes_none_and_ignored_limits_are_said():
    lines: list[str] = []
    limits = BuildLimits(None, {"memory": 1 << 26, "memswap": 1 << 26, "cpuquota": 50000})
    adjusted = buildkit_limits(Daemon([]), limits, lines.append)
    assert adjusted.network_mode == "none"
    assert lines == [
        "BuildKit does not apply the repository's cpus and memory limits (builder: legacy does)"
    ]
    assert (
        buildkit_limits(Daemon([{"Name": "bridge"}]), BuildLimits(), lines.append).network_mode
        is None
    )


def test_a_legacy_build_with_secrets_is_refused_naming_them(tmp_path):
    request = BuildRequest(
        context_dir=tmp_path,
        dockerfile="Dockerfile",
        image="127.0.0.1:5000/a/b",
        tags=("latest",),
        secrets={"NPM_TOKEN": b"x" * 12},
    )
    with pytest.raises(UserBuildError) as refused:  # before the daemon is asked anything
        build_one(None, BuildChoice("legacy"), request, Deadline(60), print, None)
    assert "Build secrets need BuildKit" in str(refused.value)
    assert "NPM_TOKEN" in str(refused.value) and "xxxx" not in str(refused.value)
