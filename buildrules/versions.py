"""Version filters on template variables: ``{version|semver:major.minor}``, ``{\\1|pep440}``.

They follow docker/metadata-action's ``type=semver`` and ``type=pep440`` tags:

* ``semver[:PATTERN]``: the value is a Semantic Version (``1.2.3``, ``v1.2.3-rc.1+build.5``; a
  leading ``v`` is allowed, as node-semver's ``valid`` allows it). ``PATTERN`` is one or more of
  ``major``, ``minor``, ``patch``, ``version`` (``major.minor.patch[-prerelease]``) and ``raw``
  (the value as written) joined by ``.``, ``-`` or ``_``; the default is ``version``. A
  pre-release renders as its full ``version`` whatever the pattern (``raw`` stays ``raw``), so
  ``2.0.8-beta.67`` never takes over the ``2`` or ``2.0`` tag.
* ``pep440[:PATTERN]``: the value is a PEP 440 version, normalised with ``packaging.version``
  (``1.1beta2`` → ``1.1b2``, ``v1.2`` → ``1.2``). ``PATTERN`` as for semver; a pre-, post- or
  development release renders normalised whatever the pattern (``raw`` stays ``raw``).

A value that is not such a version renders no tag at all (metadata-action skips the tag too).
``/`` in the value becomes ``-`` first, as metadata-action does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

FILTER_KINDS = ("semver", "pep440")
PATTERN_FIELDS = ("major", "minor", "patch", "version", "raw")
_PATTERN_RE = re.compile(r"[a-z]+(?:[._-][a-z]+)*")
_PATTERN_SPLIT = re.compile(r"([._-])")
_NUMBER = r"0|[1-9][0-9]*"
_IDENT = rf"(?:{_NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER_RE = re.compile(
    rf"v?(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


class FilterError(ValueError):
    """A filter that does not exist or a pattern it cannot render."""


@dataclass(frozen=True)
class VersionFilter:
    """One ``|semver:PATTERN`` or ``|pep440:PATTERN`` after a variable."""

    kind: str
    pattern: str = "version"

    @classmethod
    def parse(cls, text: str) -> VersionFilter:
        """``semver``, ``semver:major.minor``, ``pep440``...; FilterError says what is wrong."""
        kind, colon, pattern = text.partition(":")
        if kind not in FILTER_KINDS:
            raise FilterError(
                f"unknown filter {kind!r}: write semver or pep440 "
                "(like {version|semver:major.minor} or {version|pep440})"
            )
        if not colon:
            return cls(kind)
        if not _PATTERN_RE.fullmatch(pattern) or any(
            part not in PATTERN_FIELDS for part in _PATTERN_SPLIT.split(pattern)[::2]
        ):
            raise FilterError(
                f"filter {text!r}: the pattern is {', '.join(PATTERN_FIELDS)} joined by "
                "'.', '-' or '_' (like semver:major.minor)"
            )
        return cls(kind, pattern)

    def __str__(self) -> str:
        return self.kind if self.pattern == "version" else f"{self.kind}:{self.pattern}"

    def apply(self, value: str) -> str | None:
        """``value`` through the filter; None when it is not a version of this kind."""
        raw = value.replace("/", "-")
        parts = semver_parts(raw) if self.kind == "semver" else pep440_parts(raw)
        if parts is None:
            return None
        if parts.prerelease and self.pattern != "raw":
            return parts.version
        pieces = _PATTERN_SPLIT.split(self.pattern)
        return "".join(p if i % 2 else parts.field(p) for i, p in enumerate(pieces))


@dataclass(frozen=True)
class VersionParts:
    """A parsed version: what the pattern fields render to."""

    raw: str
    major: int
    minor: int
    patch: int
    version: str
    prerelease: bool  # semver: has a pre-release; pep440: a pre-, post- or dev release

    def field(self, name: str) -> str:
        return str(getattr(self, name))

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)


def semver_parts(raw: str) -> VersionParts | None:
    """``raw`` as a Semantic Version (a leading ``v`` allowed), or None."""
    found = _SEMVER_RE.fullmatch(raw.strip())
    if found is None:
        return None
    major, minor, patch = (int(found.group(g)) for g in ("major", "minor", "patch"))
    pre = found.group("pre")
    version = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    return VersionParts(raw, major, minor, patch, version, bool(pre))


def pep440_parts(raw: str) -> VersionParts | None:
    """``raw`` as a PEP 440 version, normalised by ``packaging``, or None."""
    try:
        parsed = Version(raw)
    except InvalidVersion:
        return None
    odd = parsed.is_prerelease or parsed.is_postrelease or parsed.is_devrelease
    return VersionParts(raw, parsed.major, parsed.minor, parsed.micro, str(parsed), odd)
