"""Templates for docker tags and build arg values.

Variables, written in braces:

``{sourceref}``   the short branch or tag name that was pushed (``feature/login``, ``v1.2.3``)
``{sha}``         the full 40-character commit SHA
``{short_sha}``   its first 7 characters
``{\\1}``..``{\\9}`` the numbered groups of a regex source (an optional group that did not take
                  part in the match renders as the empty string)
``{name}``        the group ``(?P<name>...)`` of a regex source
``{date:FORMAT}`` the build's trigger time (a schedule's firing time, in its time zone; else UTC)
                  in a strftime FORMAT (``buildrules.datefmt``); ``{date}`` is ``{date:%Y%m%d}``
``{commit_date:FORMAT}`` the commit's committer date (UTC), known to the worker after the clone:
                  until then a tag keeps the placeholder (:attr:`Template.deferred`)
``{base_ref}``    for a tag push, the branch the tagged commit is on when the git host says so
                  (GitHub's ``base_ref``); a tag using it is left out when the host does not say

A variable may carry a version filter (``buildrules.versions``): ``{version|semver:major.minor}``,
``{\\1|semver:major}``, ``{version|pep440}``. A tag whose filtered value is not a version is left
out (a build arg gets the empty string).

Rules with ``source_type: pull_request`` also have ``{pr}`` (the number), ``{head_ref}`` (the
branch the pull request comes from) and ``{base_ref}`` (the branch it goes to, which the source
matched; ``{sourceref}`` is the same).

``{{`` and ``}}`` stand for literal braces. Syntax is checked by :meth:`Template.parse`; whether
every variable exists for a given source is checked by :meth:`Template.problems`, so a template
that names a group its regex lacks is refused when the configuration is loaded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from buildrules.datefmt import (
    DATE_VARIABLES,
    DEFAULT_DATE_FORMAT,
    DateFormatError,
    check_date_format,
    format_literal_text,
    render_date,
)
from buildrules.ruleregex import RuleMatch, RulePattern
from buildrules.versions import FilterError, VersionFilter

BUILTIN_VARIABLES = ("sourceref", "sha", "short_sha", "base_ref", *DATE_VARIABLES)
# {pr} and {head_ref} exist only in pull request rules; {base_ref} is the base branch there
PULL_REQUEST_VARIABLES = ("pr", "head_ref")
SHORT_SHA_LENGTH = 7
_PLACEHOLDER_BODY = re.compile(r"\\([1-9])|([A-Za-z_][A-Za-z0-9_]*)")
_FILTER_SEPARATOR = "|"


class TemplateError(ValueError):
    """A template that is not well formed (unbalanced braces, a bad variable name)."""


@dataclass(frozen=True)
class Placeholder:
    """One ``{...}`` in a template: a built-in name, a group number ("1".."9") or a group name,
    and an optional version filter; ``format`` is a date variable's strftime format (None for
    every other variable)."""

    name: str
    format: str | None = None
    filter: VersionFilter | None = None

    @property
    def group_number(self) -> int | None:
        return int(self.name) if self.name.isdigit() else None

    def __str__(self) -> str:
        if self.format is not None:
            return "{" + self.name + ":" + self.format + "}"
        variable = "\\" + self.name if self.group_number else self.name
        suffix = f"{_FILTER_SEPARATOR}{self.filter}" if self.filter else ""
        return "{" + variable + suffix + "}"


@dataclass(frozen=True)
class SourceVariables:
    """What a rule's source offers its templates: a literal name offers only the built-ins."""

    source: str
    is_regex: bool = False
    group_count: int = 0
    group_names: frozenset[str] = frozenset()
    pull_request: bool = False  # a pull request rule: {pr}, {head_ref}, {base_ref} exist too

    @classmethod
    def of(
        cls, source: str, pattern: RulePattern | None, *, pull_request: bool = False
    ) -> SourceVariables:
        if pattern is None:
            return cls(source, pull_request=pull_request)
        return cls(
            source, True, pattern.groups, frozenset(pattern.groupindex), pull_request=pull_request
        )

    @property
    def builtins(self) -> tuple[str, ...]:
        return BUILTIN_VARIABLES + (PULL_REQUEST_VARIABLES if self.pull_request else ())

    def describe(self) -> str:
        names = [f"{{{b}}}" for b in self.builtins if b not in DATE_VARIABLES]
        if self.group_count:
            last = min(self.group_count, 9)
            names.append("{\\1}" if last == 1 else f"{{\\1}}..{{\\{last}}}")
        names += [f"{{{g}}}" for g in sorted(self.group_names)]
        names += [f"{{{d}:FORMAT}}" for d in DATE_VARIABLES]
        return ", ".join(names)


@dataclass(frozen=True)
class TemplateValues:
    """The values a template is rendered with, for one ref at one commit."""

    sourceref: str
    sha: str
    groups: tuple[str | None, ...] = ()  # groups[0] is group 1
    named: Mapping[str, str | None] | None = None
    now: datetime | None = None  # {date}: the trigger time, in its zone; None: UTC now
    commit_date: datetime | None = None  # {commit_date}; None: not known yet (kept as written)
    base_ref: str | None = None  # None: the host did not say
    pull: Mapping[str, str] | None = None  # {pr}, {head_ref}, {base_ref} of a pull request

    @classmethod
    def for_ref(
        cls,
        ref_name: str,
        commit: str,
        found: RuleMatch | None,
        *,
        now: datetime | None = None,
        commit_date: datetime | None = None,
        base_ref: str | None = None,
        pull: Mapping[str, str] | None = None,
    ) -> TemplateValues:
        groups, named = (found.groups(), dict(found.groupdict())) if found else ((), None)
        return cls(ref_name, commit, groups, named, now, commit_date, base_ref, pull)

    @property
    def short_sha(self) -> str:
        return self.sha[:SHORT_SHA_LENGTH]

    def lookup(self, placeholder: Placeholder) -> str | None:
        """The placeholder's value; None when it has none (``{base_ref}`` the host did not
        give, a filtered value that is not a version)."""
        value = self.value_of(placeholder)
        if placeholder.filter is None:
            return value
        return placeholder.filter.apply(value) if value else None

    def value_of(self, placeholder: Placeholder) -> str | None:
        """The placeholder's value before its filter (None: ``{base_ref}`` not given)."""
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
        if placeholder.name == "date":
            moment = self.now or datetime.now(UTC)
            return render_date(moment, placeholder.format or DEFAULT_DATE_FORMAT)
        if placeholder.name == "commit_date":
            if self.commit_date is None:
                return str(placeholder)
            moment = self.commit_date.astimezone(UTC)
            return render_date(moment, placeholder.format or DEFAULT_DATE_FORMAT)
        if placeholder.name == "base_ref":
            return (self.pull or {}).get("base_ref") or self.base_ref or None
        if placeholder.name in PULL_REQUEST_VARIABLES:
            return (self.pull or {}).get(placeholder.name, "")
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
                placeholder = _placeholder(text[i + 1 : end], text)
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(placeholder)
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
        """The template's text outside placeholders (with ``{{``/``}}`` already unescaped), and
        what date formats print besides the date itself."""
        return "".join(
            p if isinstance(p, str) else format_literal_text(p.format or "") for p in self.parts
        )

    @property
    def deferred(self) -> bool:
        """True when it names ``{commit_date}``, which only the worker can fill in."""
        return any(p.name == "commit_date" for p in self.placeholders)

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
        """The text with every placeholder filled in (one without a value renders empty)."""
        return "".join(p if isinstance(p, str) else values.lookup(p) or "" for p in self.parts)

    def render_tag(self, values: TemplateValues) -> str | None:
        """As :meth:`render`, but None when a placeholder has no value: a tag that is left out."""
        pieces: list[str] = []
        for part in self.parts:
            value = part if isinstance(part, str) else values.lookup(part)
            if value is None:
                return None
            pieces.append(value)
        return "".join(pieces)

    def render_deferred(self, values: TemplateValues) -> str | None:
        """A template again: everything rendered but ``{commit_date:...}``, the rest's braces
        doubled, so the worker can parse it and fill in the commit date alone (None: a
        placeholder has no value, the tag is left out)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, Placeholder) and part.name == "commit_date":
                out.append(str(part))
                continue
            text = part if isinstance(part, str) else values.lookup(part)
            if text is None:
                return None
            out.append(text.replace("{", "{{").replace("}", "}}"))
        return "".join(out)


def _placeholder(body: str, text: str) -> Placeholder:
    """The placeholder ``{body}`` of ``text``: a variable with an optional version filter, or a
    date variable and its format."""
    name, colon, fmt = body.partition(":")
    if name in DATE_VARIABLES:
        try:
            if colon:
                check_date_format(name, fmt)
        except DateFormatError as exc:
            raise TemplateError(f"{exc} (in {text!r})") from None
        return Placeholder(name, fmt if colon else DEFAULT_DATE_FORMAT)
    variable, bar, filter_text = body.partition(_FILTER_SEPARATOR)
    found = _PLACEHOLDER_BODY.fullmatch(variable)
    if found is None:
        raise TemplateError(
            f"'{{{body}}}' in {text!r} is not a variable: write {{sourceref}}, "
            "{sha}, {short_sha}, {base_ref}, {date:%Y%m%d}, {commit_date:%Y%m%d}, {\\1}..{\\9} "
            "or a group name"
        )
    try:
        version_filter = VersionFilter.parse(filter_text) if bar else None
    except FilterError as exc:
        raise TemplateError(f"'{{{body}}}' in {text!r}: {exc}") from None
    return Placeholder(found.group(1) or found.group(2), filter=version_filter)


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
    if placeholder.name in source.builtins or placeholder.name in source.group_names:
        return None
    if placeholder.name in PULL_REQUEST_VARIABLES:
        return f"{placeholder} exists only in rules with source_type: pull_request"
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
