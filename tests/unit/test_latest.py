"""latest: auto: which release a push is for a rule (the Redis side: tests/integration)."""

from __future__ import annotations

import pytest

from buildrules.latest import Release, release_of, rule_release
from buildrules.loader import ConfigError, load_text
from buildrules.model import BuildRule
from core.events import RefType

CONFIG = """\
repositories:
  - provider: github
    name: acme/app
    clone_url: https://github.com/acme/app.git
    image: 127.0.0.1:5000/acme/app
    build_rules:
      - source_type: tag
        source: /^v(?P<version>.+)$/
        docker_tag: '{version|semver:major.minor}'
        latest: LATEST
"""


def rule(tags: tuple[str, ...], source: str = "/^v(?P<version>.+)$/") -> BuildRule:
    return BuildRule(RefType.TAG, source, tags, latest_auto=True)


def test_latest_auto_loads_and_other_values_are_a_problem_with_its_line() -> None:
    (loaded,) = load_text(CONFIG.replace("LATEST", "auto")).repositories[0].build_rules
    assert loaded.latest_auto is True
    with pytest.raises(ConfigError) as raised:
        load_text(CONFIG.replace("LATEST", "newest"), "autobuild.yml")
    (problem,) = raised.value.problems
    assert problem.line == 10 and "latest must be auto" in problem.message


def test_the_release_is_read_with_the_first_version_filter_of_the_rule() -> None:
    semver_rule = rule(("{version|semver:major}",))
    assert rule_release(semver_rule, RefType.TAG, "v1.4.2") == Release("semver", "1.4.2")
    pep_rule = rule(("{version|pep440}",))
    assert rule_release(pep_rule, RefType.TAG, "v1.4") == Release("pep440", "1.4")


def test_without_a_filter_the_ref_name_is_read_as_semver() -> None:
    plain = rule(("{sourceref}",), source="/^v.*$/")
    assert rule_release(plain, RefType.TAG, "v2.0.0") == Release("semver", "2.0.0")
    assert rule_release(plain, RefType.TAG, "v2.0") is None


@pytest.mark.parametrize(
    ("kind", "value"),
    [("semver", "2.0.8-beta.67"), ("pep440", "1.1beta2"), ("pep440", "1.2post1"),
     ("pep440", "1.0dev4"), ("semver", "nightly")],
)  # fmt: skip
def test_prereleases_and_non_versions_never_get_latest(kind: str, value: str) -> None:
    assert release_of(kind, value) is None


def test_releases_compare_by_version_not_by_text() -> None:
    assert Release("semver", "1.10.0").at_least(Release("semver", "1.9.3"))
    assert not Release("semver", "1.9.3").at_least(Release("semver", "1.10.0"))
    assert Release("semver", "1.2.3").at_least(Release("semver", "1.2.3"))
    assert Release("pep440", "1.10").at_least(Release("pep440", "1.9.post0".replace(".post0", "")))
    assert not Release("pep440", "1.2").at_least(Release("pep440", "1.2.1"))


def test_a_release_round_trips_through_its_stored_text() -> None:
    release = Release("pep440", "1.2.3")
    assert Release.loads(release.dumps()) == release
