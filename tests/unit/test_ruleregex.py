"""Rule regexes run in linear time (RE2); what RE2 cannot run is refused at load time with FILE:LINE
and the construct's name; full match, numbered and named groups keep working."""

from __future__ import annotations

import threading
import time

import pytest

from buildrules.matcher import match
from buildrules.model import KeepPolicy, NotifyTarget
from buildrules.ruleregex import RuleRegexError, compile_rule_regex, rule_fullmatch
from core.events import RefType
from tests.unit.test_loader import config_with, problems_of, rules_yaml
from tests.unit.test_matcher import config, push

BACKTRACKER = r"^release-([0-9]+\.?)+$"


def _answers_within(seconds: float, call: object) -> object:
    """``call()``'s result, failing (instead of hanging the suite) when it takes longer."""
    assert callable(call)
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"no answer within {seconds} s: the regex backtracks"
    return result[0]


def test_a_backtracking_prone_source_answers_a_hostile_branch_name_fast() -> None:
    cfg = config(f"- source_type: branch\n  source: /{BACKTRACKER}/\n  docker_tag: '{{\\1}}'\n")
    hostile = "release-" + "1" * 40 + "x"  # Python's re: about 4^20 steps
    started = time.monotonic()
    result = _answers_within(5.0, lambda: match(cfg, push(hostile)))
    assert not result.plans  # type: ignore[attr-defined]
    assert time.monotonic() - started < 1.0
    assert match(cfg, push("release-1.2.3")).plans


def test_keep_and_notify_patterns_are_linear_too() -> None:
    hostile = "release-" + "1" * 40 + "x"
    keep = KeepPolicy(tags=(f"/{BACKTRACKER}/",))
    target = NotifyTarget(
        events=("build.failed",), url="https://x.example/", branches=(f"/{BACKTRACKER}/",)
    )
    assert _answers_within(5.0, lambda: keep.matches(hostile)) is False
    assert _answers_within(5.0, lambda: target.wants_ref(RefType.BRANCH, hostile)) is False
    assert keep.matches("release-1.2")


def test_a_lookbehind_source_is_refused_naming_file_line_and_construct() -> None:
    text = config_with(rules=rules_yaml("- source_type: branch\n  source: /^(?<=x)main$/\n"))
    (problem,) = problems_of(text)
    assert str(problem).startswith("autobuild.yml:9: source /^(?<=x)main$/ uses a lookbehind")
    assert "RE2" in problem.message


@pytest.mark.parametrize(
    ("regex", "construct"),
    [
        (r"(?=v)v1", "a lookahead"),
        (r"(?!x)v1", "a negative lookahead"),
        (r"(?<!x)v1", "a negative lookbehind"),
        (r"(a)\1", "a backreference"),
        (r"(?P<x>a)(?P=x)", "a backreference"),
        (r"(?>a)", "an atomic group"),
        (r"a*+", "a possessive quantifier"),
    ],
)
def test_constructs_re2_cannot_run_are_named(regex: str, construct: str) -> None:
    with pytest.raises(RuleRegexError, match=f"uses {construct}"):
        compile_rule_regex(regex)


def test_keep_and_notify_refuse_lookaround_with_their_line() -> None:
    keep = problems_of(config_with("keep: {tags: ['/^(?=v)v.*/']}\n"))
    assert [str(p).split(" uses ")[0] for p in keep] == [
        "autobuild.yml:7: keep.tags entry /^(?=v)v.*/"
    ]
    notify = config_with("notify:\n  - url: https://x.example/\n    branches: ['/(a)\\1/']\n")
    (problem,) = problems_of(notify)
    assert str(problem).startswith("autobuild.yml:9: branches: /(a)\\1/ uses a backreference")


def test_full_match_numbered_and_named_groups_behave_as_with_python_re() -> None:
    cfg = config(
        r"""
        - source_type: tag
          source: /^v(?P<major>[0-9]+)\.([0-9]+)$/
          docker_tag: ['{\1}.{\2}', 'm{major}']
        """
    )
    (plan,) = match(cfg, push("v1.22", tag=True)).plans
    assert plan.docker_tags == ("1.22", "m1")
    assert not match(cfg, push("v1.22-rc", tag=True)).plans
    assert rule_fullmatch("a(b)?", "a") is not None
    assert rule_fullmatch("a", "ab") is None
