"""The runs_on key (repository, rule, defaults) and the needs a build plan carries."""

from __future__ import annotations

import pytest

from buildrules.loader import ConfigError, load_text
from buildrules.matcher import match
from buildrules.runson import check_label
from core.events import PushEvent, RefType

CONFIG = """\
repositories:
  - provider: git
    name: a/b
    clone_url: https://example.com/a.git
    image: 127.0.0.1:5000/a/b
{repository}
    build_rules:
      - source_type: branch
        source: main
        docker_tag: a
{rule}
      - source_type: tag
        source: v1
"""


def config_text(repository: str = "", rule: str = "", defaults: str = "") -> str:
    text = CONFIG.format(repository=repository, rule=rule)
    if defaults:
        text = text.replace("    build_rules:", f"    defaults:\n{defaults}\n    build_rules:")
    return text


def load(repository: str = "", rule: str = "", defaults: str = ""):
    return load_text(config_text(repository, rule, defaults), "autobuild.yml").repositories[0]


def test_no_runs_on_and_no_platforms_need_nothing():
    repository = load()
    assert repository.runs_on == ()
    assert repository.needs_of([0, 1]) == ()


def test_a_rule_replaces_the_repository_labels_and_defaults_apply_to_every_rule():
    repository = load(repository="    runs_on: big-memory", rule="        runs_on: [GPU, fast]")
    main, tag = repository.build_rules
    assert repository.runs_on == ("big-memory",)
    assert main.runs_on == ("gpu", "fast") and tag.runs_on is None
    assert repository.needs_of([0]) == ("fast", "gpu")
    assert repository.needs_of([1]) == ("big-memory",)
    with_defaults = load(repository="    runs_on: [big-memory]", defaults="      runs_on: []")
    assert with_defaults.needs_of([0]) == () and with_defaults.needs_of([1]) == ()


def test_needs_are_the_platforms_and_the_labels_sorted():
    repository = load(
        repository="    platforms: [linux/arm64, linux/amd64]\n    runs_on: [big-memory]"
    )
    assert repository.needs_of([0]) == ("big-memory", "linux/amd64", "linux/arm64")


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("    runs_on: [Big Memory]", "autobuild.yml:6: runs_on label 'Big Memory' must be"),
        ("    runs_on: [linux/arm64]", "autobuild.yml:6: runs_on label 'linux/arm64' must be"),
        ("    runs_on: [a, A]", "autobuild.yml:6: runs_on lists label a twice"),
        ("    runs_on: {big: true}", "autobuild.yml:6: runs_on must be a list"),
        ("    runs_on: [[x]]", "autobuild.yml:6: a runs_on label must be a text value"),
        ("    run_on: [x]", "autobuild.yml:6: "),
    ],
)
def test_bad_values_name_file_and_line(repository, message):
    with pytest.raises(ConfigError) as error:
        load(repository=repository)
    assert message in str(error.value)


def test_a_bad_label_in_a_rule_names_its_line():
    with pytest.raises(ConfigError) as error:
        load(rule="        runs_on: ['-x']")
    assert "autobuild.yml:11: runs_on label '-x' must be" in str(error.value)


@pytest.mark.parametrize("bad", ["", "a,b", "a:b", "a/b", "-a", "a-", "x" * 64, "a b"])
def test_labels_cannot_hold_what_separates_needs(bad):
    with pytest.raises(ValueError, match="must be lowercase letters"):
        check_label(bad)


def test_labels_are_lowercased():
    assert check_label(" Big-Memory ") == "big-memory"
    assert check_label("x" * 63) == "x" * 63


def test_a_plan_carries_the_needs_of_every_rule_it_builds():
    text = config_text(repository="    runs_on: [big-memory]", rule="        runs_on: [gpu]")
    text = text.replace(
        "      - source_type: tag\n        source: v1\n",
        "      - source_type: branch\n        source: main\n        docker_tag: b\n",
    )
    event = PushEvent(
        provider="git", repository="a/b", ref_type=RefType.BRANCH, ref_name="main", commit="a" * 40
    )
    (plan,) = match(load_text(text), event).plans  # one build: runs_on does not split it
    assert plan.docker_tags == ("a", "b")
    assert plan.needs == ("big-memory", "gpu")  # a worker that can build both rules
