"""Rendering one rule for one ref at one commit: which tags and build args it produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from buildrules.model import BuildRule, SourceKind
from buildrules.ruleregex import RuleMatch
from buildrules.tags import fallback_tag, sanitize_tag
from buildrules.templates import TemplateValues, parse_template
from core.events import RefType


@dataclass(frozen=True)
class RenderedRule:
    """A rule's output for one ref: valid docker tags and build args with values filled in."""

    index: int
    image: str
    docker_tags: tuple[str, ...]
    dockerfile: str
    context: str
    build_args: tuple[tuple[str, str], ...]
    build_caching: bool
    builder: str | None = None
    platforms: tuple[str, ...] | None = None
    push: bool = True

    @property
    def build_key(self) -> tuple[object, ...]:
        """Rules with equal keys (for the same commit) are one build."""
        return (
            self.image,
            self.dockerfile,
            self.context,
            self.build_args,
            self.build_caching,
            self.builder,
            self.platforms,
            self.push,
        )


def render_tag(text: str, values: TemplateValues) -> str | None:
    """One tag template rendered and sanitised; with ``{commit_date}`` and no commit date yet, the
    template the worker finishes once it has cloned the commit (``Template.render_deferred``);
    None when a placeholder has no value (the tag is left out)."""
    template = parse_template(text)
    if template.deferred and values.commit_date is None:
        return template.render_deferred(values)
    rendered = template.render_tag(values)
    return None if rendered is None else sanitize_tag(rendered, fallback=fallback_tag(values.sha))


def source_match(rule: BuildRule, ref_type: RefType, ref_name: str) -> RuleMatch | None:
    """The match of ``rule``'s source against a short ref name, or None.

    A literal source must equal the name; a regex source must match all of it (a full match, in
    linear time: ``buildrules.ruleregex``). For a literal source the match has no groups.
    """
    if rule.source_type is not ref_type:
        return None
    if rule.source_kind is SourceKind.LITERAL:
        return RuleMatch() if rule.source == ref_name else None
    pattern = rule.pattern
    assert pattern is not None
    return pattern.fullmatch(ref_name)


def render_rule(
    rule: BuildRule,
    *,
    index: int,
    image: str,
    ref_name: str,
    commit: str,
    found: RuleMatch | None,
    now: datetime | None = None,
    commit_date: datetime | None = None,
    base_ref: str | None = None,
    pull: Mapping[str, str] | None = None,
) -> RenderedRule:
    """Render ``rule`` (already known to match ``ref_name``) at ``commit``.

    ``found`` is the regex match, for ``{\\1}`` and named groups (None for a literal source).
    ``now`` is the trigger time for ``{date}`` (None: now), printed in UTC, or in the rule's
    schedule's time zone when it has one; ``base_ref`` is the branch a pushed tag is on, when the
    host said; ``pull`` the values of ``{pr}``, ``{head_ref}`` and ``{base_ref}`` for a pull
    request. Every tag is sanitised (see ``buildrules.tags``); duplicates are dropped, order
    kept; a tag with a placeholder that has no value (a version filter on a non-version, an
    unknown ``{base_ref}``) is left out. A tag naming ``{commit_date}`` while ``commit_date`` is
    None stays a template (:func:`render_tag`).
    """
    groups = found if rule.source_kind is SourceKind.REGEX else None
    moment = now or datetime.now(UTC)
    if rule.schedule is not None:  # a rule with a schedule prints dates in its time zone
        moment = rule.schedule.local(moment)
    values = TemplateValues.for_ref(
        ref_name,
        commit,
        groups,
        now=moment,
        commit_date=commit_date,
        base_ref=base_ref,
        pull=pull,
    )
    rendered = (render_tag(t, values) for t in rule.docker_tags)
    tags = tuple(dict.fromkeys(tag for tag in rendered if tag is not None))
    build_args = tuple(
        (name, parse_template(text).render(values)) for name, text in rule.build_args
    )
    return RenderedRule(
        index=index,
        image=rule.image or image,
        docker_tags=tags,
        dockerfile=rule.dockerfile,
        context=rule.context,
        build_args=build_args,
        build_caching=rule.build_caching,
        builder=rule.builder,
        platforms=rule.platforms,
        push=rule.push,
    )
