"""Templates for docker tags and build arg values.

Variables, written in braces:

``{sourceref}``   the short branch or tag name that was pushed (``feature/login``, ``v1.2.3``)
``{sha}``         the full 40-character commit SHA
``{short_sha}``   its first 7 characters
``{\\1}``..``{\\9}`` the numbered groups of a regex source (an optional group that did not take
                  part in the match renders as the empty string)
``{name}``        the group ``(?P<name>...)`` of a regex source

``{{`` and ``}}`` stand for literal braces. Syntax is checked by :meth:`Template.parse`; whether
every variable exists for a given source is checked by :meth:`Template.problems`, so a template
that names a group its regex lacks is refused when the configuration is loaded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from buildrules.ruleregex import RuleMatch, RulePattern

BUILTIN_VARIABLES = ("sourceref", "sha", "short_sha")
SHORT_SHA_LENGTH = 7
_PLACEHOLDER_BODY = re.compile(r"\\([1-9])|([A-Za-z_][A-Za-z0-9_]*)")


class TemplateError(ValueError):
    """A template that is not well formed (unbalanced braces, a bad variable name)."""


@dataclass(frozen=True)
class Placeholder:
    """One ``{...}`` in a template: a built-in name, a group number ("1".."9") or a group name."""

    name: str

    @property
    def group_number(self) -> int | None:
        return int(self.name) if self.name.isdigit() else None

    def __str__(self) -> str:
        return "{\\" + self.name + "}" if self.group_number else "{" + self.name + "}"


@dataclass(frozen=True)
class SourceVariables:
    """What a rule's source offers its templates: a literal name offers only the built-ins."""

    source: str
    is_regex: bool = False
    group_count: int = 0
    group_names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, source: str, pattern: RulePattern | None) -> SourceVariables:
        if pattern is None:
            return cls(source)
        return cls(source, True, pattern.groups, frozenset(pattern.groupindex))

    def describe(self) -> str:
        names = [f"{{{b}}}" for b in BUILTIN_VARIABLES]
        if self.group_count:
            last = min(self.group_count, 9)
            names.append("{\\1}" if last == 1 else f"{{\\1}}..{{\\{last}}}")
        names += [f"{{{g}}}" for g in sorted(self.group_names)]
        return ", ".join(names)


@dataclass(frozen=True)
class TemplateValues:
    """The values a template is rendered with, for one ref at one commit."""

    sourceref: str
    sha: str
    groups: tuple[str | None, ...] = ()  # groups[0] is group 1
    named: Mapping[str, str | None] | None = None

    @classmethod
    def for_ref(cls, ref_name: str, commit: str, found: RuleMatch | None) -> TemplateValues:
        if found is None:
            return cls(ref_name, commit)
        return cls(ref_name, commit, found.groups(), dict(found.groupdict()))

    @property
    def short_sha(self) -> str:
        return self.sha[:SHORT_SHA_LENGTH]

    def lookup(self, placeholder: Placeholder) -> str:
        number = placeholder.group_number
        if number is not None:
            value = self.groups[number - 1] if number <= len(self.groups) else None
            return value or ""
        if placeholder.name == "sourceref":
            return self.sourceref
        if placeholder.name == "sha":
            return self.sha
        if placeholder.name == "short_sha":
            return self.short_sha
        return (self.named or {}).get(placeholder.name) or ""


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and placeholders, in order."""

    text: str
    parts: tuple[str | Placeholder, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[str | Placeholder] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            char = text[i]
            if text.startswith("{{", i) or text.startswith("}}", i):
                literal.append(char)
                i += 2
            elif char == "}":
                raise TemplateError(
                    f"'}}' without a matching '{{' in {text!r} (write '}}}}' for a literal brace)"
                )
            elif char == "{":
                end = text.find("}", i + 1)
                if end < 0:
                    raise TemplateError(f"'{{' is never closed in {text!r}")
                body = text[i + 1 : end]
                found = _PLACEHOLDER_BODY.fullmatch(body)
                if found is None:
                    raise TemplateError(
                        f"'{{{body}}}' in {text!r} is not a variable: write {{sourceref}}, "
                        "{sha}, {short_sha}, {\\1}..{\\9} or a group name"
                    )
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(Placeholder(found.group(1) or found.group(2)))
                i = end + 1
            else:
                literal.append(char)
                i += 1
        if literal:
            parts.append("".join(literal))
        return cls(text, tuple(parts))

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def literal_text(self) -> str:
        """The template's text outside placeholders (with ``{{``/``}}`` already unescaped)."""
        return "".join(p for p in self.parts if isinstance(p, str))

    @property
    def is_literal(self) -> bool:
        return not self.placeholders

    @property
    def uses_commit(self) -> bool:
        return any(p.name in ("sha", "short_sha") for p in self.placeholders)

    def problems(self, source: SourceVariables) -> list[str]:
        """Why this template cannot be rendered for ``source`` (empty when it can)."""
        found: list[str] = []
        for placeholder in dict.fromkeys(self.placeholders):
            message = _placeholder_problem(placeholder, source)
            if message:
                found.append(message)
        return found

    def render(self, values: TemplateValues) -> str:
        return "".join(p if isinstance(p, str) else values.lookup(p) for p in self.parts)


def _placeholder_problem(placeholder: Placeholder, source: SourceVariables) -> str | None:
    number = placeholder.group_number
    if number is not None:
        if not source.is_regex:
            return (
                f"{placeholder} needs a regex source, but {source.source!r} is a literal name "
                "(write the source between slashes, like /^v([0-9.]+)$/)"
            )
        if number > source.group_count:
            count = source.group_count
            have = {0: "no groups", 1: "only 1 group"}.get(count, f"only {count} groups")
            return f"{placeholder} refers to group {number}, but {source.source} has {have}"
        return None
    if placeholder.name in BUILTIN_VARIABLES or placeholder.name in source.group_names:
        return None
    if source.is_regex:
        return (
            f"unknown variable {placeholder}: {source.source} has no group named "
            f"{placeholder.name!r} (available: {source.describe()})"
        )
    return f"unknown variable {placeholder} (available: {source.describe()})"


@functools.lru_cache(maxsize=2048)
def parse_template(text: str) -> Template:
    """:meth:`Template.parse`, cached (rules are rendered for every push)."""
    return Template.parse(text)
