"""Structured progress, reported by the code that knows it and written onto the build record.

A builder calls :meth:`ProgressSink.step` when it starts a build step (the legacy builder where
the Docker API's stream records say ``Step N/M``; BuildKit from its vertexes), the push calls
:meth:`ProgressSink.pushed` once the registry confirmed a tag. Nobody reads progress out of the
log's text. :class:`RecordProgress` writes the record only when the progress changed, and only
while the build is still at the attempt that reports it.
"""

from __future__ import annotations

from typing import Protocol

from core.progress import Progress, StepProgress, TagPushed
from core.store import BuildStore


class ProgressSink(Protocol):
    """What builders and pushes report progress to (``platform``: None for a one-platform build)."""

    def step(self, number: int, total: int, platform: str | None = None) -> None:
        """The build started step ``number`` of ``total``."""
        ...

    def pushed(self, tag: str, digest: str, platform: str | None = None) -> None:
        """The registry confirmed ``tag`` as ``digest``."""
        ...


class NoProgress:
    """Progress nobody records (a build outside a worker, a unit test)."""

    def step(self, number: int, total: int, platform: str | None = None) -> None:
        pass

    def pushed(self, tag: str, digest: str, platform: str | None = None) -> None:
        pass


class PlatformProgress:
    """One platform's progress of a multi-platform build: every report names the platform."""

    def __init__(self, sink: ProgressSink, platform: str) -> None:
        self.sink = sink
        self.platform = platform

    def step(self, number: int, total: int, platform: str | None = None) -> None:
        self.sink.step(number, total, self.platform)

    def pushed(self, tag: str, digest: str, platform: str | None = None) -> None:
        self.sink.pushed(tag, digest, self.platform)


class RecordProgress:
    """Progress written as the record's ``progress`` field, on change only."""

    def __init__(self, store: BuildStore, build_id: str, attempt: int) -> None:
        self.store = store
        self.build_id = build_id
        self.attempt = attempt
        self.current = Progress()
        self.writes = 0

    def step(self, number: int, total: int, platform: str | None = None) -> None:
        self._write(self.current.with_step(StepProgress(number, total, platform)))

    def pushed(self, tag: str, digest: str, platform: str | None = None) -> None:
        self._write(self.current.with_pushed(TagPushed(tag, digest, platform)))

    def _write(self, progress: Progress) -> None:
        if progress == self.current:
            return
        self.current = progress
        self.store.update(self.build_id, expect_attempt=self.attempt, progress=progress)
        self.writes += 1
