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

from core.loglines import CUT_MARKER, MAX_LINE_CHARS, cut_line

# Per-layer statuses that only say a layer is queued: noise in a build log.
QUIET_STATUSES = frozenset({"Preparing", "Waiting", "Pulling fs layer"})
STEP_RE = re.compile(r"^Step (?P<step>\d+)/(?P<total>\d+) : ")


class LineAssembler:
    """Re-assembles ``stream`` fragments into whole lines, in time linear in their length.

    ``\\r`` inside a line (progress bars) keeps what a terminal would show: the last segment. A
    line longer than ``limit`` characters keeps its first ``limit`` and ends with the cut marker;
    the rest of it is dropped as it arrives, so one endless line holds at most about twice
    ``limit`` characters.
    """

    def __init__(self, limit: int = MAX_LINE_CHARS) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._cut = False  # the current line passed the limit: drop the rest of it

    def feed(self, fragment: str) -> list[str]:
        lines: list[str] = []
        start = 0
        newline = fragment.find("\n")
        while newline != -1:
            self._add(fragment[start:newline])
            lines.append(self._take())
            start = newline + 1
            newline = fragment.find("\n", start)
        self._add(fragment[start:])
        return lines

    def flush(self) -> list[str]:
        """The unterminated rest, as a line (if there is one)."""
        line = self._take()
        return [line] if line else []

    @property
    def pending(self) -> str:
        return "".join(self._parts)

    def _add(self, text: str) -> None:
        if self._cut or not text:
            return
        self._parts.append(text)
        self._size += len(text)
        if self._size > 2 * self.limit:
            self._compact()

    def _compact(self) -> None:
        """Keep what a terminal would show; past the limit, keep the first part and cut."""
        text = "".join(self._parts)
        carriage = text.rfind("\r", 0, len(text) - 1)
        if carriage != -1:
            text = text[carriage + 1 :]
        if len(text) > self.limit:
            text, self._cut = text[: self.limit], True
        self._parts, self._size = [text], len(text)

    def _take(self) -> str:
        line = _terminal_view("".join(self._parts))
        line = f"{line} {CUT_MARKER}" if self._cut else cut_line(line, self.limit)
        self._parts, self._size, self._cut = [], 0, False
        return line


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
