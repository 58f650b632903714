"""``latest: auto`` on a build rule: which version a push is, for "``latest`` only for the highest
release so far" (docker/metadata-action's ``latest=auto``; docs/rules.md#version-filters).

The version is the value of the first version filter in the rule's ``docker_tag`` (read with that
filter's kind), else the whole ref name read as a Semantic Version. Only releases count: a
semver pre-release, or a PEP 440 pre-, post- or development release, never gets ``latest``.
Deciding whether it is the highest so far needs what was queued before: ``core.latest``.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from buildrules.model import BuildRule, SourceKind
from buildrules.render import source_match
from buildrules.templates import TemplateValues, parse_template
from buildrules.versions import pep440_parts, semver_parts
from buildrules.yamlnodes import Entry, NodeReader
from core.events import ZERO_SHA, RefType

LATEST_VALUES = ("auto",)


def read_latest(reader: NodeReader, entries: dict[str, Entry]) -> bool:
    """``latest: auto`` as True; absent is False; anything else is a problem."""
    if "latest" not in entries:
        return False
    node = entries["latest"].value
    text = reader.string(node, "latest")
    if text is None:
        return False
    if text.strip().lower() not in LATEST_VALUES:
        reader.add(
            node,
            f"latest must be auto (push 'latest' for the highest release so far), not {text!r}; "
            "for 'latest' on every build write it in docker_tag",
        )
        return False
    return True


@dataclass(frozen=True)
class Release:
    """A release version of one kind (``semver`` or ``pep440``), comparable with others."""

    kind: str
    text: str

    def _key(self) -> tuple[int, ...] | Version:
        if self.kind == "pep440":
            return Version(self.text)
        return tuple(int(n) for n in self.text.split("."))

    def at_least(self, other: Release) -> bool:
        """True when this release is as high as ``other`` (another kind: this one wins)."""
        if other.kind != self.kind:
            return True
        mine, theirs = self._key(), other._key()
        if isinstance(mine, Version) and isinstance(theirs, Version):
            return mine >= theirs
        assert isinstance(mine, tuple) and isinstance(theirs, tuple)
        return mine >= theirs

    def dumps(self) -> str:
        return f"{self.kind}:{self.text}"

    @classmethod
    def loads(cls, text: str) -> Release | None:
        kind, _, version = text.partition(":")
        return release_of(kind, version)


def release_of(kind: str, value: str) -> Release | None:
    """``value`` as a release of ``kind``; None for a pre-release or a non-version."""
    raw = value.replace("/", "-")
    parts = pep440_parts(raw) if kind == "pep440" else semver_parts(raw)
    if parts is None or parts.prerelease:
        return None
    if kind == "pep440":
        return Release("pep440", str(Version(raw)))
    return Release("semver", ".".join(str(n) for n in parts.release))


def rule_release(rule: BuildRule, ref_type: RefType, ref_name: str) -> Release | None:
    """The release a push of ``ref_name`` is for ``rule`` (see the module docstring)."""
    found = source_match(rule, ref_type, ref_name)
    if found is None:
        return None
    groups = found if rule.source_kind is SourceKind.REGEX else None
    values = TemplateValues.for_ref(ref_name, ZERO_SHA, groups)
    for text in rule.docker_tags:
        for placeholder in parse_template(text).placeholders:
            if placeholder.filter is not None:
                value = values.value_of(placeholder)
                return release_of(placeholder.filter.kind, value) if value else None
    return release_of("semver", ref_name)
