"""Dockerfile syntax only BuildKit understands, found before a legacy build starts.

The legacy builder answers ``RUN --mount=...`` with a parse error ("Unknown flag: mount") that
does not say what to do; a build with ``builder: legacy`` whose Dockerfile uses such syntax fails
instead with a sentence that does: ``RUN --mount needs BuildKit: remove builder: legacy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from worker.errors import UserBuildError

_FLAGS = r"^\s*(?:--\S+\s+)*"  # the flags an instruction starts with (before its command)


def _flag(name: str) -> re.Pattern[str]:
    return re.compile(_FLAGS + rf"--{name}(?:=|\s|$)")


_HEREDOC = re.compile(_FLAGS + r"<<-?[\"']?[A-Za-z_]")
# (instruction, pattern on its arguments, what the sentence calls it)
_FEATURES = (
    ("RUN", _flag("mount"), "RUN --mount"),
    ("RUN", _flag("network"), "RUN --network"),
    ("RUN", _flag("security"), "RUN --security"),
    ("RUN", _HEREDOC, "A RUN heredoc (<<EOF)"),
    ("COPY", _flag("link"), "COPY --link"),
    ("ADD", _flag("link"), "ADD --link"),
    ("COPY", _flag("chmod"), "COPY --chmod"),
    ("ADD", _flag("chmod"), "ADD --chmod"),
    ("COPY", _HEREDOC, "A COPY heredoc (<<EOF)"),
)
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)\s+(.*)$", re.DOTALL)


@dataclass(frozen=True)
class BuildKitFeature:
    name: str  # "RUN --mount"
    line: int  # where its instruction starts (1-based)


def instructions(text: str) -> list[tuple[int, str]]:
    """(line, instruction) pairs: comments dropped, ``\\`` continuations joined."""
    found: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        found.append((start, " ".join(pending)))
        pending = []
    if pending:
        found.append((start, " ".join(pending)))
    return found


def buildkit_features(text: str) -> list[BuildKitFeature]:
    """Every use of BuildKit-only syntax in a Dockerfile, in order."""
    features: list[BuildKitFeature] = []
    for line, instruction in instructions(text):
        match = _INSTRUCTION.match(instruction)
        if match is None:
            continue
        keyword, arguments = match.group(1).upper(), match.group(2)
        for wanted, pattern, name in _FEATURES:
            if keyword == wanted and pattern.search(arguments):
                features.append(BuildKitFeature(name, line))
    return features


def require_legacy_syntax(dockerfile: Path, shown: str) -> None:
    """Raise :class:`UserBuildError` when the Dockerfile needs BuildKit (``shown``: its name in
    the message)."""
    try:
        text = dockerfile.read_text(errors="replace")
    except OSError:
        return  # the build itself reports a missing or unreadable Dockerfile
    features = buildkit_features(text)
    if features:
        first = features[0]
        raise UserBuildError(
            f"{first.name} needs BuildKit: remove builder: legacy"
            f" ({shown} line {first.line} uses it)"
        )
