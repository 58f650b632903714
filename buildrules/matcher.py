"""Matching pushes (and manual triggers) against build rules: which builds to queue.

Webhooks call :func:`match`. The manual trigger uses the other entry points, which never look at
``autobuild``, skip markers or path filters:

* ``{"source_type": "Tag", "source_name": "v1.1"}`` → resolve the ref to a commit, then
  :func:`plans_for_ref` (every rule, literal and regex, that matches the ref).
* ``{"docker_tag": "latest"}`` → :func:`plans_for_docker_tag` with a ``resolve`` callback that
  turns a ref into a commit (or None when the ref does not exist); :func:`targets_for_docker_tag`
  is the same without resolving.
* ``{"build": true}`` → :func:`plans_for_all` / :func:`literal_targets`: every rule with a literal
  source (a regex rule names no ref to build, as on Docker Hub).

Build once, tag many: rules that match one ref and resolve to the same image, Dockerfile, context,
build args and caching become a single BuildPlan carrying the union of their tags, in rule order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from buildrules.model import BuildPlan, BuildRule, Config, Repository, SourceKind
from buildrules.paths import evaluate
from buildrules.pullmatch import fork_refusal, pull_values
from buildrules.render import RenderedRule, render_rule, source_match
from buildrules.ruleregex import RuleMatch
from buildrules.skip import skip_marker
from buildrules.templates import parse_template
from core.events import ZERO_SHA, PullRequest, PushEvent, RefType

Resolver = Callable[[RefType, str], str | None]
"""Turns a branch or tag name into the commit it points at, or None when there is no such ref."""


@dataclass(frozen=True)
class MatchResult:
    """The builds one push asks for, or (``plans`` empty) the reason there are none.

    ``skip_marker`` is set (``"[skip ci]"``) when the head commit message asked for no build.
    ``warnings`` name tags that two different builds of this push would both have pushed: the
    earlier rule keeps such a tag and the later build goes without it.
    """

    plans: tuple[BuildPlan, ...] = ()
    reason: str | None = None
    skip_marker: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefTarget:
    """A ref a manual trigger has to resolve to a commit, and the rules to build for it."""

    ref_type: RefType
    ref_name: str
    rule_indexes: tuple[int, ...]


def match(
    config: Config, event: PushEvent, *, manual: bool = False, now: datetime | None = None
) -> MatchResult:
    """The builds ``event`` asks for in ``config``.

    With ``manual=True`` the webhook-only gates are off: rules with ``autobuild: false`` fire,
    skip markers and path filters are ignored. ``now`` fixes ``{date}`` (None: the clock's).
    """
    repository = config.find_repository(event.provider, event.repository)
    if repository is None:
        return MatchResult(
            reason=f"repository {event.provider} {event.repository!r} is not configured"
        )
    return match_repository(repository, event, manual=manual, now=now)


def match_repository(
    repository: Repository, event: PushEvent, *, manual: bool = False, now: datetime | None = None
) -> MatchResult:
    """:func:`match` for a repository already looked up (the event's repository is not checked)."""
    ref = f"{event.ref_type} {event.ref_name!r}"
    if event.commit == ZERO_SHA or not event.commit:
        return MatchResult(reason=f"the push deletes {ref}")
    refused = fork_refusal(repository, event.pull_request)
    if refused is not None:
        return MatchResult(reason=refused)
    marker = None if manual else skip_marker(event.head_message)
    if marker is not None:
        return MatchResult(reason=f"the head commit message contains {marker}", skip_marker=marker)
    matching = _matching_rules(repository, event.ref_type, event.ref_name)
    if not matching:
        return MatchResult(reason=f"no rule matches {ref}")
    if not manual:
        matching = [(i, rule, found) for i, rule, found in matching if rule.autobuild]
        if not matching:
            return MatchResult(
                reason=f"the rules for {ref} have autobuild off "
                "(a manual trigger still builds them)"
            )
        reasons: list[str] = []
        passing = []
        for item in matching:
            decision = evaluate(item[1].paths, event.changed_files)
            if decision.build:
                passing.append(item)
            else:
                reasons.append(decision.reason)
        if not passing:
            return MatchResult(reason="; ".join(dict.fromkeys(reasons)))
        matching = passing
    rendered = [
        render_rule(
            rule,
            index=index,
            image=repository.image,
            ref_name=event.ref_name,
            commit=event.commit,
            found=found,
            now=now,
            base_ref=event.base_ref,
            pull=pull_values(event.pull_request),
        )
        for index, rule, found in matching
    ]
    plans, warnings = _group(
        repository, event.ref_type, event.ref_name, event.commit, rendered, event.pull_request
    )
    if not plans:
        return MatchResult(reason=f"no tags left for {ref}", warnings=warnings)
    return MatchResult(plans=plans, warnings=warnings)


def plans_for_ref(
    repository: Repository,
    ref_type: RefType,
    ref_name: str,
    commit: str,
    *,
    rule_indexes: Iterable[int] | None = None,
    now: datetime | None = None,
) -> tuple[BuildPlan, ...]:
    """Manual trigger of one ref at ``commit``: every matching rule, autobuild or not.

    ``rule_indexes`` narrows the rules considered (positions in ``repository.build_rules``).
    Path filters and skip markers do not apply. Empty when no rule matches the ref.
    """
    allowed = None if rule_indexes is None else set(rule_indexes)
    matching = [
        item
        for item in _matching_rules(repository, ref_type, ref_name)
        if allowed is None or item[0] in allowed
    ]
    rendered = [
        render_rule(
            rule,
            index=index,
            image=repository.image,
            ref_name=ref_name,
            commit=commit,
            found=found,
            now=now,
        )
        for index, rule, found in matching
    ]
    return _group(repository, ref_type, ref_name, commit, rendered)[0]


def literal_targets(repository: Repository) -> tuple[RefTarget, ...]:
    """The refs named by literal-source rules, with their rules: what ``{"build": true}`` builds."""
    return _targets(repository, (i for i, r in enumerate(repository.build_rules) if _literal(r)))


def targets_for_docker_tag(repository: Repository, docker_tag: str) -> tuple[RefTarget, ...]:
    """The literal-source rules that push ``docker_tag``, grouped by the ref they build.

    A rule qualifies when one of its tag templates, rendered for its own source name, gives
    ``docker_tag`` (templates using ``{sha}``/``{short_sha}`` cannot be known before the commit
    is, so they are not compared). The whole rule is built, with all its tags.
    """
    indexes = []
    for index, rule in enumerate(repository.build_rules):
        if not _literal(rule):
            continue
        commitless = tuple(t for t in rule.docker_tags if not parse_template(t).uses_commit)
        if not commitless:
            continue
        probe = BuildRule(rule.source_type, rule.source, commitless)
        rendered = render_rule(
            probe, index=index, image="", ref_name=rule.source, commit=ZERO_SHA, found=None
        )
        if docker_tag in rendered.docker_tags:
            indexes.append(index)
    return _targets(repository, indexes)


def plans_for_targets(
    repository: Repository,
    targets: Sequence[RefTarget],
    resolve: Resolver,
    *,
    now: datetime | None = None,
) -> tuple[BuildPlan, ...]:
    """Plans for each target whose ref ``resolve`` finds; targets it cannot find are left out.
    ``now`` fixes ``{date}`` (a schedule passes its firing time, in its time zone)."""
    plans: list[BuildPlan] = []
    for target in targets:
        commit = resolve(target.ref_type, target.ref_name)
        if commit:
            plans += plans_for_ref(
                repository,
                target.ref_type,
                target.ref_name,
                commit,
                rule_indexes=target.rule_indexes,
                now=now,
            )
    return tuple(plans)


def plans_for_docker_tag(
    repository: Repository, docker_tag: str, resolve: Resolver
) -> tuple[BuildPlan, ...]:
    """Docker Hub's ``{"docker_tag": ...}`` trigger: build the rules that push that tag."""
    return plans_for_targets(repository, targets_for_docker_tag(repository, docker_tag), resolve)


def plans_for_all(repository: Repository, resolve: Resolver) -> tuple[BuildPlan, ...]:
    """Docker Hub's ``{"build": true}`` trigger: build every literal-source rule."""
    return plans_for_targets(repository, literal_targets(repository), resolve)


# -- internals ---------------------------------------------------------------------------------


def _literal(rule: BuildRule) -> bool:
    """A rule a manual trigger can build: a literal branch or tag (pull requests come only from
    their host's events)."""
    return rule.source_kind is SourceKind.LITERAL and rule.source_type is not RefType.PULL_REQUEST


def _matching_rules(
    repository: Repository, ref_type: RefType, ref_name: str
) -> list[tuple[int, BuildRule, RuleMatch]]:
    found_rules = []
    for index, rule in enumerate(repository.build_rules):
        found = source_match(rule, ref_type, ref_name)
        if found is not None:
            found_rules.append((index, rule, found))
    return found_rules


def _targets(repository: Repository, indexes: Iterable[int]) -> tuple[RefTarget, ...]:
    by_ref: dict[tuple[RefType, str], list[int]] = {}
    for index in indexes:
        rule = repository.build_rules[index]
        by_ref.setdefault((rule.source_type, rule.source), []).append(index)
    return tuple(RefTarget(t, n, tuple(i)) for (t, n), i in by_ref.items())


def _group(
    repository: Repository,
    ref_type: RefType,
    ref_name: str,
    commit: str,
    rendered: Sequence[RenderedRule],
    pull: PullRequest | None = None,
) -> tuple[tuple[BuildPlan, ...], tuple[str, ...]]:
    """One plan per distinct build; a tag two different builds claim stays with the first."""
    groups: dict[tuple[object, ...], list[RenderedRule]] = {}
    for item in rendered:
        groups.setdefault(item.build_key, []).append(item)
    plans: list[BuildPlan] = []
    warnings: list[str] = []
    claimed: dict[tuple[str, str], int] = {}
    for members in groups.values():
        first = members[0]
        tags: list[str] = []
        for member in members:
            for tag in member.docker_tags:
                owner = claimed.setdefault((first.image, tag), first.index)
                if owner == first.index:
                    if tag not in tags:
                        tags.append(tag)
                else:
                    warnings.append(
                        f"tag {tag!r} of {first.image} comes from build rules #{owner + 1} and "
                        f"#{member.index + 1}, which build differently; only rule #{owner + 1}'s "
                        "build pushes it"
                    )
        if not tags:
            continue
        plans.append(
            BuildPlan(
                provider=repository.provider,
                repository=repository.name,
                image=first.image,
                source_type=ref_type,
                source_name=pull.ref_name if pull else ref_name,
                commit=commit,
                docker_tags=tuple(tags),
                dockerfile=first.dockerfile,
                context=first.context,
                build_args=first.build_args,
                build_caching=first.build_caching,
                rule_indexes=tuple(m.index for m in members),
                push=first.push and not (pull is not None and pull.fork),
                pull_request=pull,
                needs=repository.needs_of(m.index for m in members),
            )
        )
    return tuple(plans), tuple(warnings)
