"""Reading the Docker Engine's JSON progress streams (build and push), without the Docker SDK.

These are pure: they take the decoded chunks and hand back whole lines, errors and results, so they
are unit-tested without a daemon.

The Engine reports failures *inside* the stream (HTTP 200 then a chunk with ``error`` /
``errorDetail``), and its ``stream`` fragments are not lines (``"Step 1/2 : FROM x"``, then
``"\\n"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Per-layer statuses that only say a layer is queued: noise in a build log.
QUIET_STATUSES = frozenset({"Preparing", "Waiting", "Pulling fs layer"})
STEP_RE = re.compile(r"^Step (?P<step>\d+)/(?P<total>\d+) : ")


class LineAssembler:
    """Re-assembles ``stream`` fragments into whole lines.

    ``\\r`` inside a line (progress bars) keeps what a terminal would show: the last segment.
    """

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, fragment: str) -> list[str]:
        self._buffer += fragment
        if "\n" not in self._buffer:
            return []
        *complete, self._buffer = self._buffer.split("\n")
        return [_terminal_view(line) for line in complete]

    def flush(self) -> list[str]:
        """The unterminated rest, as a line (if there is one)."""
        rest, self._buffer = self._buffer, ""
        line = _terminal_view(rest)
        return [line] if line else []

    @property
    def pending(self) -> str:
        return self._buffer


def _terminal_view(line: str) -> str:
    line = line.rstrip("\r")
    if "\r" in line:
        line = line.rsplit("\r", 1)[1]
    return line


def stream_error(chunk: Mapping[str, Any]) -> str | None:
    """The error message a chunk carries (``error`` or ``errorDetail.message``), else None."""
    if "error" not in chunk and "errorDetail" not in chunk:
        return None
    detail = chunk.get("errorDetail")
    message = chunk.get("error")
    if not message and isinstance(detail, Mapping):
        message = detail.get("message")
    text = str(message or detail or "unknown error").strip()
    return text or "unknown error"


@dataclass(frozen=True)
class Step:
    number: int
    total: int


def parse_step(line: str) -> Step | None:
    """``Step 3/7 : RUN make`` -> Step(3, 7)."""
    match = STEP_RE.match(line)
    if not match:
        return None
    return Step(int(match.group("step")), int(match.group("total")))


def status_line(chunk: Mapping[str, Any]) -> str | None:
    """A ``status`` chunk (pulls inside a build, pushes) as a log line; progress ticks (the
    ``Pushing``/``Downloading`` bars) are dropped, the start and end of each layer are kept."""
    status = chunk.get("status")
    if not status or chunk.get("progress") or _is_progress_tick(chunk):
        return None
    if status in QUIET_STATUSES:
        return None
    layer = chunk.get("id")
    return f"{layer}: {status}" if layer else str(status)


def _is_progress_tick(chunk: Mapping[str, Any]) -> bool:
    detail = chunk.get("progressDetail")
    return isinstance(detail, Mapping) and bool(detail.get("current"))


def aux_value(chunk: Mapping[str, Any], key: str) -> str | None:
    aux = chunk.get("aux")
    if isinstance(aux, Mapping):
        value = aux.get(key)
        if isinstance(value, str) and value:
            return value
    return None
