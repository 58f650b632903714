"""Rules for pull requests: source_type pull_request, {pr}/{head_ref}/{base_ref}, push, autotest."""

from __future__ import annotations

import textwrap

import pytest

from buildrules.errors import ConfigError
from buildrules.loader import load_text
from buildrules.matcher import literal_targets, match
from buildrules.model import Config
from core.events import PullRequest, PushEvent, RefType

SHA = "4f2d1c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
IMAGE = "127.0.0.1:5000/acme/app"
PR_RULES = """\
- source_type: pull_request
  source: main
  docker_tag: ["pr-{pr}", "pr-{pr}-{short_sha}", "{head_ref}-into-{base_ref}"]
  push: false
- source_type: pull_request
  source: /^release-.*$/
  docker_tag: pr-{pr}
- source_type: branch
  source: main
  docker_tag: latest
"""


def config(rules: str = PR_RULES, extra: str = "") -> Config:
    head = textwrap.dedent(
        f"""\
        repositories:
          - provider: github
            name: Acme/App
            clone_url: https://github.com/acme/app.git
            image: {IMAGE}
        """
    )
    body = textwrap.indent(textwrap.dedent(extra), "    ") if extra else ""
    return load_text(
        head + body + "    build_rules:\n" + textwrap.indent(textwrap.dedent(rules), "      ")
    )


def pull_event(base: str = "main", *, fork: bool = False, number: int = 42) -> PushEvent:
    pull = PullRequest(number, "feature/x", base, fork, f"refs/pull/{number}/head")
    return PushEvent(
        provider="github",
        repository="acme/app",
        ref_type=RefType.PULL_REQUEST,
        ref_name=base,
        commit=SHA,
        pull_request=pull,
    )


def test_pull_request_rule_matches_the_base_branch_and_renders_pr_templates():
    result = match(config(), pull_event())
    (plan,) = result.plans
    assert plan.docker_tags == ("pr-42", "pr-42-4f2d1c9", "feature-x-into-main")
    assert plan.source_type is RefType.PULL_REQUEST
    assert plan.source_name == "pr/42"  # the key newer commits of this PR supersede by
    assert plan.push is False
    assert plan.pull_request is not None and plan.pull_request.number == 42


def test_a_regex_source_matches_the_base_branch_and_push_defaults_to_true():
    (plan,) = match(config(), pull_event("release-2")).plans
    assert plan.docker_tags == ("pr-42",) and plan.push is True


def test_branch_rules_do_not_build_pull_requests_and_pull_request_rules_not_pushes():
    assert match(config(), pull_event("develop")).reason == "no rule matches pull_request 'develop'"
    branch = PushEvent("github", "acme/app", RefType.BRANCH, "main", SHA)
    (plan,) = match(config(), branch).plans
    assert plan.docker_tags == ("latest",) and plan.pull_request is None and plan.push


def test_a_fork_pull_request_is_refused_under_autotest_internal():
    result = match(config(), pull_event(fork=True))
    assert result.plans == ()
    assert result.reason is not None and "comes from a fork" in result.reason
    assert "autotest: all" in result.reason


def test_a_fork_pull_request_builds_under_autotest_all_but_never_pushes():
    (plan,) = match(config(extra="autotest: all\n"), pull_event("release-1", fork=True)).plans
    assert plan.push is False  # the rule says push: true; a fork's build never pushes


def test_manual_triggers_never_name_pull_request_rules():
    targets = literal_targets(config().repositories[0])
    assert [(t.ref_type, t.ref_name) for t in targets] == [(RefType.BRANCH, "main")]


def problems(rules: str, extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as raised:
        config(rules, extra)
    return [p.message for p in raised.value.problems]


def test_pr_variables_exist_only_in_pull_request_rules():
    (message,) = problems("- source_type: branch\n  source: main\n  docker_tag: pr-{pr}\n")
    assert "{pr} exists only in rules with source_type: pull_request" in message


def test_push_must_be_a_boolean_and_autotest_internal_or_all():
    bad_push = problems("- source_type: pull_request\n  source: main\n  push: maybe\n")
    assert len(bad_push) == 1 and "push" in bad_push[0]
    (bad_mode,) = problems(PR_RULES, extra="autotest: everyone\n")
    assert bad_mode == "autotest must be one of internal, all, not 'everyone'"


def test_autotest_is_unset_by_default_and_read_in_any_case():
    assert config().repositories[0].autotest is None  # acts as internal; pushes run no tests
    assert config(extra="autotest: ALL\n").repositories[0].autotest == "all"
