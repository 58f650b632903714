"""A build's log in pages: the last lines (and earlier ones on demand) as JSON, and the raw log
as a stream read in batches, so no answer holds a whole log in the web process."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import redis

from app.errors import ApiError
from core.logs import LogLine, iter_log, read_page

PAGE_LINES = 1000  # lines on a build page, and in one "load earlier lines" answer
MAX_PAGE_LINES = 5000
RAW_BATCH_LINES = 500  # lines read from Redis per batch of the raw log
_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


def wants_page(args: Mapping[str, str]) -> bool:
    """``?lines=N`` or ``?before=ID``: a page of JSON rather than the raw log."""
    return "lines" in args or "before" in args


def page_json(connection: redis.Redis, build_id: str, args: Mapping[str, str]) -> dict[str, Any]:
    """``{"lines": [...], "earlier": bool}``: the last ``lines`` (default 1000) before ``before``
    (an entry id, default: the end), oldest first."""
    before = args.get("before") or None
    if before is not None and not _ENTRY_ID.fullmatch(before):
        raise ApiError(400, "before must be a log line id (like 1700000000000-0).")
    raw = args.get("lines") or str(PAGE_LINES)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_LINES:
        raise ApiError(400, f"lines must be a whole number between 1 and {MAX_PAGE_LINES}.")
    lines, earlier = read_page(connection, build_id, before, int(raw))
    return {"lines": [line_json(line) for line in lines], "earlier": earlier}


def line_json(line: LogLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "text": line.text,
        "time": line.time.isoformat(),
        "phase": line.phase,
        "marker": line.marker,
    }


def raw_log(connection: redis.Redis, build_id: str) -> Iterator[str]:
    """The rendered log, one batch of lines per chunk of the answer."""
    batch: list[str] = []
    for line in iter_log(connection, build_id, RAW_BATCH_LINES):
        batch.append(line.render() + "\n")
        if len(batch) >= RAW_BATCH_LINES:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)
