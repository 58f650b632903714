"""Rendering one rule for one ref at one commit: which tags and build args it produces."""

from __future__ import annotations

from dataclasses import dataclass

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
        )


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
) -> RenderedRule:
    """Render ``rule`` (already known to match ``ref_name``) at ``commit``.

    ``found`` is the regex match, for ``{\\1}`` and named groups (None for a literal source).
    Every tag is sanitised (see ``buildrules.tags``); duplicates are dropped, order kept.
    """
    groups = found if rule.source_kind is SourceKind.REGEX else None
    values = TemplateValues.for_ref(ref_name, commit, groups)
    fallback = fallback_tag(commit)
    tags = tuple(
        dict.fromkeys(
            sanitize_tag(parse_template(t).render(values), fallback=fallback)
            for t in rule.docker_tags
        )
    )
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
    )
