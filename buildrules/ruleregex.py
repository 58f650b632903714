"""Rule regexes (``/.../`` in ``source``, ``keep.tags``, ``notify`` branches and tags), matched in
linear time.

A rule regex runs against names a pusher picks (branch and tag names, up to 255 characters), in
the web process. Python's ``re`` backtracks: ``/^release-([0-9]+\\.?)+$/`` against forty digits
and an ``x`` would take hours. So rule regexes are compiled with RE2 (``google-re2``), whose time
is linear in the name's length, and the constructs RE2 cannot run that way are refused when the
rules are loaded, with a sentence naming the construct:

- lookahead ``(?=...)`` / ``(?!...)`` and lookbehind ``(?<=...)`` / ``(?<!...)``;
- backreferences ``\\1`` / ``(?P=name)``, conditionals ``(?(1)...)``;
- atomic groups ``(?>...)`` and possessive quantifiers ``a*+``;
- ``\\Z`` (RE2 spells it ``\\z``; a rule regex must match the whole name anyway).

What people rely on stays as with ``re``: a rule regex matches the whole name (a full match),
numbered and named groups ``(?P<name>...)`` feed ``{\\1}`` and ``{name}`` in templates. One
difference: ``\\d``, ``\\w`` and ``\\s`` are ASCII-only in RE2.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the refusal is ours to report, not absl's on stderr

# Fragments of RE2's parse errors, and the construct each means (checked in this order).
_UNSUPPORTED = (
    ("(?<=", "a lookbehind (?<=...)"),
    ("(?<!", "a negative lookbehind (?<!...)"),
    ("(?=", "a lookahead (?=...)"),
    ("(?!", "a negative lookahead (?!...)"),
    ("(?P=", "a backreference (?P=name)"),
    ("(?>", "an atomic group (?>...)"),
    ("(?(", "a conditional group (?(...)...)"),
    ("bad repetition operator", "a possessive quantifier (like a*+)"),
    ("\\Z", "\\Z (write \\z, or nothing: rule regexes match the whole name)"),
)


class RuleRegexError(ValueError):
    """A regex RE2 cannot run. The message continues a sentence that starts with the regex
    ("uses a lookbehind (?<=...), which ...", "is not a valid regex: ...")."""


@dataclass(frozen=True)
class RuleMatch:
    """A full match: its groups (group 1 first) and named groups, like ``re.Match``'s."""

    values: tuple[str | None, ...] = ()
    named: Mapping[str, str | None] | None = None

    def groups(self) -> tuple[str | None, ...]:
        return self.values

    def groupdict(self) -> dict[str, str | None]:
        return dict(self.named or {})


class RulePattern:
    """A compiled rule regex: ``fullmatch`` in linear time, ``groups`` and ``groupindex`` as
    ``re.Pattern`` has them."""

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled
        self.groups: int = compiled.groups
        self.groupindex: Mapping[str, int] = dict(compiled.groupindex)

    def fullmatch(self, text: str) -> RuleMatch | None:
        found = self._compiled.fullmatch(text)
        if found is None:
            return None
        return RuleMatch(tuple(found.groups()), dict(found.groupdict()))

    def __repr__(self) -> str:
        return f"RulePattern({self.pattern!r})"


@functools.lru_cache(maxsize=512)
def compile_rule_regex(pattern: str) -> RulePattern:
    """``pattern`` (without its slashes) compiled with RE2; :class:`RuleRegexError` says why not.

    Constructs RE2 has no linear-time answer for are named; other syntax errors keep RE2's words.
    """
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise RuleRegexError(_explain(pattern, exc)) from None
    return RulePattern(pattern, compiled)


def rule_fullmatch(pattern: str, text: str) -> RuleMatch | None:
    """``pattern`` matched against all of ``text`` (compiled once, cached)."""
    return compile_rule_regex(pattern).fullmatch(text)


def _explain(pattern: str, exc: Exception) -> str:
    reason = exc.args[0] if exc.args else str(exc)
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    for fragment, construct in _UNSUPPORTED:
        if fragment in text or (fragment == "(?P=" and fragment in pattern):
            return (
                f"uses {construct}, which rule regexes do not support (they run in linear "
                "time with RE2: no lookaround, backreferences or atomic groups)"
            )
    if "invalid escape sequence: \\" in text and text.rstrip()[-1:].isdigit():
        return (
            "uses a backreference (\\1), which rule regexes do not support (they run in "
            "linear time with RE2: no lookaround, backreferences or atomic groups)"
        )
    return f"is not a valid regex: {text}"
