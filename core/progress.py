"""What a build record says about how far its attempt got: its phases and its progress.

``phases`` is one entry per phase the worker started (or passed over), in order, each with its
start, end and :class:`PhaseStatus`. ``progress`` is the structured progress the builder and
the push report while they work (the build step, the tags pushed); readers (the API, the web
UI) use these fields and never read the log's text. Both start empty for every attempt.
See docs/builds.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


def iso_time(moment: datetime | None) -> str | None:
    """``2026-01-02T03:04:05.123456Z`` (None stays None)."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class PhaseStatus(enum.StrEnum):
    RUNNING = "running"  # started, not yet ended
    SUCCESS = "success"  # ended and did its work
    FAILED = "failed"  # ended the build: the build's own failure, an error, or a time limit
    SKIPPED = "skipped"  # never ran: not wanted for this build, or an earlier phase ended it
    CANCELED = "canceled"  # was running when the build was stopped from outside

    @property
    def ended(self) -> bool:
        return self is not PhaseStatus.RUNNING


@dataclass(frozen=True)
class PhaseRecord:
    """One phase of one attempt, as the record keeps it."""

    name: str
    status: PhaseStatus = PhaseStatus.RUNNING
    started_at: datetime | None = None  # None: skipped
    finished_at: datetime | None = None

    def ended(self, status: PhaseStatus, at: datetime) -> PhaseRecord:
        return replace(self, status=status, finished_at=at)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "status": self.status.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PhaseRecord:
        return cls(
            name=data["name"],
            status=PhaseStatus(data["status"]),
            started_at=parse_time(data.get("started_at")),
            finished_at=parse_time(data.get("finished_at")),
        )


@dataclass(frozen=True)
class StepProgress:
    """The build step being run: ``number`` of ``total`` (per platform: None is the one build)."""

    number: int
    total: int
    platform: str | None = None


@dataclass(frozen=True)
class TagPushed:
    """A tag the registry confirmed, with its digest (per platform: None is the image)."""

    tag: str
    digest: str
    platform: str | None = None


@dataclass(frozen=True)
class Progress:
    """The build's structured progress: the latest step of each platform, the tags pushed."""

    steps: tuple[StepProgress, ...] = ()
    pushed: tuple[TagPushed, ...] = ()

    def with_step(self, step: StepProgress) -> Progress:
        others = tuple(s for s in self.steps if s.platform != step.platform)
        return replace(self, steps=(*others, step))

    def with_pushed(self, pushed: TagPushed) -> Progress:
        others = tuple(
            p for p in self.pushed if (p.tag, p.platform) != (pushed.tag, pushed.platform)
        )
        return replace(self, pushed=(*others, pushed))

    def step(self, platform: str | None = None) -> StepProgress | None:
        return next((s for s in self.steps if s.platform == platform), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [
                {"number": s.number, "total": s.total, "platform": s.platform} for s in self.steps
            ],
            "pushed": [
                {"tag": p.tag, "digest": p.digest, "platform": p.platform} for p in self.pushed
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Progress:
        if not data:
            return cls()
        return cls(
            steps=tuple(
                StepProgress(s["number"], s["total"], s.get("platform"))
                for s in data.get("steps", ())
            ),
            pushed=tuple(
                TagPushed(p["tag"], p["digest"], p.get("platform")) for p in data.get("pushed", ())
            ),
        )
