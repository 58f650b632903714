"""Per-build logs as Redis Streams: whole, masked lines with a timestamp and an optional phase."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from core.build import BuildRecord, utcnow
from core.masking import Masker
from core.settings import Settings
from core.store import BuildStore, log_key

DEFAULT_MAX_LINES = 20_000
DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class LogLine:
    id: str  # the stream entry id: pass it back as ``after`` to read on from here
    time: datetime
    text: str
    phase: str | None = None
    marker: bool = False  # a phase's heading line (``BuildLog.phase``): a field, not its text

    def render(self) -> str:
        stamp = self.time.strftime("%H:%M:%S")
        return f"{stamp} {self.text}"


class BuildLog:
    """Appends lines to one build's log. Text is masked before it is stored."""

    def __init__(
        self,
        connection: redis.Redis,
        build_id: str,
        masker: Masker | None = None,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        retention_seconds: int = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.redis = connection
        self.key = log_key(build_id)
        self.masker = masker or Masker()
        self.max_lines = max_lines
        self.retention_seconds = retention_seconds

    @classmethod
    def for_settings(
        cls, connection: redis.Redis, build_id: str, masker: Masker, settings: Settings
    ) -> BuildLog:
        """A log bounded as configured: AUTOBUILD_LOG_MAX_LINES, AUTOBUILD_LOG_RETENTION_DAYS."""
        return cls(
            connection,
            build_id,
            masker,
            max_lines=max(settings.log_max_lines, 1),
            retention_seconds=max(settings.log_retention_days, 1) * 24 * 3600,
        )

    def append(self, text: str, phase: str | None = None, *, marker: bool = False) -> None:
        fields: dict[str, str] = {
            "t": utcnow().isoformat(),
            "l": self.masker.mask(text.rstrip("\n")),
        }
        if phase:
            fields["p"] = phase
        if marker:
            fields["m"] = "1"
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(self.key, fields, maxlen=self.max_lines, approximate=True)  # type: ignore[arg-type]
        pipe.expire(self.key, self.retention_seconds)
        pipe.execute()

    def phase(self, phase: str, text: str) -> None:
        """A phase marker line, e.g. ``phase("clone", "Cloning ...")``: flagged as a marker in
        the stream (readers use the flag); the arrow is only for people reading the plain log."""
        self.append(f"==> {text}", phase=phase, marker=True)


def _decode(entry_id: bytes, fields: dict[bytes, bytes]) -> LogLine:
    phase = fields.get(b"p")
    return LogLine(
        id=entry_id.decode(),
        time=datetime.fromisoformat(fields[b"t"].decode()),
        text=fields[b"l"].decode(),
        phase=phase.decode() if phase else None,
        marker=b"m" in fields,
    )


def read_log(
    connection: redis.Redis, build_id: str, after: str = "0", count: int | None = None
) -> list[LogLine]:
    """Lines after the entry id ``after`` ("0": from the start)."""
    start = "(" + after if after not in ("0", "0-0", "-") else "-"
    entries: Any = connection.xrange(log_key(build_id), min=start, max="+", count=count)
    return [_decode(entry_id, fields) for entry_id, fields in entries]


def follow_log(
    connection: redis.Redis,
    store: BuildStore,
    build_id: str,
    after: str = "0",
    *,
    block_ms: int = 1000,
    deadline_seconds: float | None = None,
) -> Iterator[LogLine | None]:
    """Lines as they arrive until the build has ended and every line is read.

    Yields None when ``block_ms`` passes without a line (a heartbeat for streaming answers).
    """
    for item in follow_build(
        connection, store, build_id, after, block_ms=block_ms, deadline_seconds=deadline_seconds
    ):
        if not isinstance(item, BuildRecord):
            yield item


def follow_build(
    connection: redis.Redis,
    store: BuildStore,
    build_id: str,
    after: str = "0",
    *,
    block_ms: int = 1000,
    deadline_seconds: float | None = None,
) -> Iterator[LogLine | BuildRecord | None]:
    """:func:`follow_log`, with the build's record before each batch of lines (and each
    heartbeat). The record is read after the lines, so it is at least as new as they are: the
    worker records progress before the line that shows it."""
    started = utcnow()
    cursor = "0-0" if after in ("0", "-") else after
    key = log_key(build_id)
    record = store.get(build_id)
    while True:
        ended = record is None or record.status.terminal
        answer: Any = connection.xread({key: cursor}, count=500, block=None if ended else block_ms)
        entries: list[Any] = answer[0][1] if answer else []
        if not ended:
            record = store.get(build_id)
        if record is not None:
            yield record
        for entry_id, fields in entries:
            line = _decode(entry_id, fields)
            cursor = line.id
            yield line
        if ended and not entries:
            return
        if not entries:
            yield None
        if deadline_seconds is not None and (utcnow() - started).total_seconds() > deadline_seconds:
            return
