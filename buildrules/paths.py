"""Path filters: globs over the files a push changed.

Glob syntax (patterns are relative to the repository root, ``/`` separates directories):

``*``        any run of characters except ``/`` (``*.md`` is a Markdown file at the root only)
``?``        one character except ``/``
``[abc]``    one of the characters (``[!abc]`` or ``[^abc]``: none of them; ranges ``[a-z]``)
``**``       as a whole path segment, zero or more directories: ``**/*.md`` is every
             Markdown file, ``docs/**`` everything under ``docs/``, ``a/**/b`` matches ``a/b``
             and ``a/x/y/b``; next to other characters (``a**``) it is a plain ``*``
``\\x``       the character ``x`` itself
``dir/``     a trailing slash means everything under the directory (``dir/**``)

A leading ``/`` or ``./`` is ignored. Matching is case-sensitive, as git paths are.

Filtering follows Cloud Build's included/ignored files: changed files matching ``ignore`` are
dropped; the rule builds when a remaining file matches ``include`` (or, with no ``include``, when
any file remains). Unknown changes (``None``: a new branch, a forced push, a truncated commit
list) always build.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from buildrules.model import PathFilter
from buildrules.ruleregex import RuleRegexError, compile_rule_regex


class GlobError(ValueError):
    """A glob pattern that cannot be used."""


@dataclass(frozen=True)
class PathDecision:
    """Whether a rule's path filter lets a push build, and why (a phrase for a person)."""

    build: bool
    reason: str


def normalize_pattern(pattern: str) -> str:
    text = pattern.strip()
    while text.startswith("./"):
        text = text[2:]
    text = text.lstrip("/")
    if text.endswith("/"):
        text += "**"
    return text


class PathMatcher(Protocol):
    def fullmatch(self, text: str) -> object | None: ...


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> PathMatcher:
    """The regex (for ``fullmatch``) equivalent to a glob; GlobError when it is malformed.

    Paths come from the push, so the regex runs with RE2, in linear time (``*a*a*a*b`` against
    a long name would backtrack in Python's ``re``); only a class like ``[!-~]``, which needs a
    lookahead to leave ``/`` out, falls back to ``re`` (one character: nothing to backtrack).
    """
    text = normalize_pattern(pattern)
    if not text:
        raise GlobError(f"empty path pattern {pattern!r}")
    segments = text.split("/")
    if any(s == "" for s in segments):
        raise GlobError(f"path pattern {pattern!r} has an empty directory name ('//')")
    regex: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex.append(".+" if last else "(?:.+/)?")
            continue
        regex.append(_translate_segment(segment, pattern))
        if not last:
            regex.append("/")
    try:
        compiled = re.compile("".join(regex), flags=re.DOTALL)
    except re.error as exc:
        raise GlobError(f"path pattern {pattern!r} is not a valid glob: {exc}") from None
    try:
        return compile_rule_regex("(?s)" + "".join(regex))
    except RuleRegexError:
        return compiled


def _translate_segment(segment: str, pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if char == "?":
            out.append("[^/]")
        elif char == "\\":
            if i + 1 >= len(segment):
                raise GlobError(f"path pattern {pattern!r} ends with a lone backslash")
            i += 1
            out.append(re.escape(segment[i]))
        elif char == "[":
            cls, i = _translate_class(segment, i, pattern)
            out.append(cls)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _translate_class(segment: str, start: int, pattern: str) -> tuple[str, int]:
    """``[...]`` starting at ``start`` → (regex, index after the closing bracket).

    A ``-`` is a range only between two other characters; anywhere else it is itself.
    """
    i = start + 1
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    tokens: list[str | None] = []  # None marks a '-' still to be decided
    first = True
    while True:
        if i >= len(segment):
            raise GlobError(f"path pattern {pattern!r} has an unclosed '['")
        char = segment[i]
        if char == "]" and not first:
            break
        if char == "\\" and i + 1 < len(segment):
            i += 1
            tokens.append(re.escape(segment[i]))
        elif char == "-":
            tokens.append(None)
        else:
            tokens.append(re.escape(char))
        first = False
        i += 1
    parts: list[str] = []
    for index, token in enumerate(tokens):
        if token is not None:
            parts.append(token)
            continue
        between = 0 < index < len(tokens) - 1
        is_range = between and tokens[index - 1] is not None and tokens[index + 1] is not None
        parts.append("-" if is_range and not parts[-1].endswith("-") else "\\-")
    inner = "".join(parts)
    if negate:
        return f"[^/{inner}]", i + 1
    try:
        plain = re.fullmatch(f"[{inner}]", "/") is None
    except re.error as exc:
        raise GlobError(f"path pattern {pattern!r} is not a valid glob: {exc}") from None
    return (f"[{inner}]" if plain else f"(?:(?!/)[{inner}])"), i + 1


def normalize_path(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def matches_any(patterns: Iterable[str], path: str) -> bool:
    candidate = normalize_path(path)
    return any(compile_glob(p).fullmatch(candidate) for p in patterns)


def evaluate(paths: PathFilter, changed_files: Sequence[str] | None) -> PathDecision:
    """Apply a rule's path filter to the files a push changed (None: not known)."""
    if not paths.active:
        return PathDecision(True, "the rule has no path filter")
    if changed_files is None:
        return PathDecision(True, "the changed files are not known, so path filters let it build")
    remaining = [f for f in changed_files if not matches_any(paths.ignore, f)]
    if not remaining:
        if not changed_files:
            return PathDecision(False, "the push changes no files")
        return PathDecision(False, "changes only touch ignored paths")
    if not paths.include:
        return PathDecision(True, f"{remaining[0]} changed and is not ignored")
    for changed in remaining:
        if matches_any(paths.include, changed):
            return PathDecision(True, f"{changed} matches paths.include")
    return PathDecision(False, "no changed file matches paths.include")
