"""Per-build logs as Redis Streams: whole, masked lines with a timestamp and an optional phase."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from core.build import BuildRecord, utcnow
from core.loglines import cut_line, truncated_line
from core.masking import Masker
from core.settings import Settings
from core.store import PREFIX, BuildStore, log_key

DEFAULT_MAX_LINES = 20_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def log_bytes_key(build_id: str) -> str:
    """The bytes of text stored in a build's log so far (all attempts), kept as long as it."""
    return f"{PREFIX}logbytes:{build_id}"


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
    """Appends lines to one build's log. Text is masked before it is stored.

    A line is cut at 16 KiB; once the log holds ``max_bytes`` of text, one "Log truncated" line
    is stored and nothing after it (the count is kept in Redis, so every attempt shares it)."""

    def __init__(
        self,
        connection: redis.Redis,
        build_id: str,
        masker: Masker | None = None,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        retention_seconds: int = DEFAULT_RETENTION_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.redis = connection
        self.key = log_key(build_id)
        self.bytes_key = log_bytes_key(build_id)
        self.masker = masker or Masker()
        self.max_lines = max_lines
        self.retention_seconds = retention_seconds
        self.max_bytes = max_bytes
        self._stored: int | None = None  # bytes in the log: read from Redis at the first line

    @classmethod
    def for_settings(
        cls, connection: redis.Redis, build_id: str, masker: Masker, settings: Settings
    ) -> BuildLog:
        """A log bounded as configured: AUTOBUILD_LOG_MAX_LINES, AUTOBUILD_LOG_MAX_BYTES and
        AUTOBUILD_LOG_RETENTION_DAYS."""
        return cls(
            connection,
            build_id,
            masker,
            max_lines=max(settings.log_max_lines, 1),
            retention_seconds=max(settings.log_retention_days, 1) * 24 * 3600,
            max_bytes=max(settings.log_max_bytes, 1),
        )

    def append(self, text: str, phase: str | None = None, *, marker: bool = False) -> None:
        """Store one line (cut, then masked), unless the log is full: past ``max_bytes``, the
        first line that does not fit becomes the "Log truncated" line and later ones are
        dropped. Callers feed the no-output watchdog themselves, whether a line is kept or not."""
        stored = self.stored_bytes()
        if stored > self.max_bytes:
            return
        line = self.masker.mask(cut_line(text.rstrip("\n")))
        size = len(line.encode())
        if stored + size > self.max_bytes:
            line, size, phase, marker = (
                truncated_line(self.max_bytes),
                self.max_bytes + 1,
                None,
                False,
            )
        fields: dict[str, str] = {"t": utcnow().isoformat(), "l": line}
        if phase:
            fields["p"] = phase
        if marker:
            fields["m"] = "1"
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(self.key, fields, maxlen=self.max_lines, approximate=True)  # type: ignore[arg-type]
        pipe.expire(self.key, self.retention_seconds)
        if size > self.max_bytes:
            pipe.set(self.bytes_key, size, ex=self.retention_seconds)
        else:
            pipe.incrby(self.bytes_key, size)
            pipe.expire(self.bytes_key, self.retention_seconds)
        pipe.execute()
        self._stored = size if size > self.max_bytes else stored + size

    def stored_bytes(self) -> int:
        """The bytes of text in the log (more than ``max_bytes`` once it was truncated)."""
        if self._stored is None:
            value: Any = self.redis.get(self.bytes_key)
            self._stored = int(value) if value else 0
        return self._stored

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


def read_page(
    connection: redis.Redis, build_id: str, before: str | None = None, count: int = 1000
) -> tuple[list[LogLine], bool]:
    """The last ``count`` lines (before the entry id ``before``, when given), oldest first, and
    whether there are earlier ones: a page of a log, however long the log is."""
    end = "(" + before if before else "+"
    entries: Any = connection.xrevrange(log_key(build_id), max=end, min="-", count=count + 1)
    lines = [_decode(entry_id, fields) for entry_id, fields in entries[:count]]
    lines.reverse()
    return lines, len(entries) > count


def iter_log(connection: redis.Redis, build_id: str, batch: int = 1000) -> Iterator[LogLine]:
    """Every line, read ``batch`` at a time (``XRANGE ... COUNT``): the reader holds one batch."""
    after = "0"
    while True:
        lines = read_log(connection, build_id, after, count=batch)
        yield from lines
        if len(lines) < batch:
            return
        after = lines[-1].id


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
