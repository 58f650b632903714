"""Structured process logs: one ``key=value`` line per record (logfmt), with the build id.

    ts=2024-05-01T12:00:00.123Z level=info logger=worker.jobs build_id=3f2a... msg="Build started"

Every line has ``ts``, ``level``, ``logger`` and ``msg``; ``build_id`` when the record concerns a
build: given with ``extra={"build_id": ...}``, or taken from :func:`build_context`, which the worker
holds around each build (so rq's own lines about the job carry it too). Other ``extra`` fields
become keys of their own. A traceback is one ``exc="..."`` value (newlines escaped), so every
record stays on one line for log collectors.

:func:`configure_logging` installs this on the root logger unless the process already configured
logging (as :func:`logging.basicConfig` does); a :class:`MaskingFilter` on that handler masks every
configured secret in messages and tracebacks, whatever module logged them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from core.masking import Masker

_BUILD_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "autobuild_build_id", default=None
)
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+,-]+$")


@contextlib.contextmanager
def build_context(build_id: str) -> Iterator[None]:
    """Every record logged inside the block (in this thread or task) carries ``build_id``."""
    token = _BUILD_ID.set(build_id)
    try:
        yield
    finally:
        _BUILD_ID.reset(token)


def current_build_id() -> str | None:
    return _BUILD_ID.get()


def logfmt_value(value: object) -> str:
    """A value as logfmt writes it: bare when safe, else double-quoted with escapes."""
    text = "" if value is None else str(value)
    if text and _BARE.match(text):
        return text
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


class KeyValueFormatter(logging.Formatter):
    """Formats a record as one logfmt line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        fields: dict[str, object] = {
            "ts": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        build_id = getattr(record, "build_id", None) or current_build_id()
        if build_id:
            fields["build_id"] = build_id
        for key, value in record.__dict__.items():
            if value is None or key.startswith("_"):
                continue
            if key not in _STANDARD_ATTRIBUTES and key not in fields:
                fields[key] = value
        fields["msg"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exc"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


class MaskingFilter(logging.Filter):
    """Masks secrets in a record's message and traceback before any handler writes it."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we can, masked
            message = str(record.msg)
        record.msg = self.masker.mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.masker.mask(record.exc_text)
        return True


class StructuredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (recognised so it is installed once)."""


def configure_logging(
    masker: Masker | None = None, level: int | str = logging.INFO, stream: IO[str] | None = None
) -> bool:
    """Log ``key=value`` lines to ``stream`` (stderr) from every logger, masked by ``masker``.

    Does nothing (and returns False) when the root logger already has a handler that is not ours,
    like :func:`logging.basicConfig`: a process that configured its own logging keeps it. Called
    again, it updates the masker of the handler it installed."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, StructuredHandler)]
    if root.handlers and not ours:
        return False
    handler: StructuredHandler = ours[0] if ours else StructuredHandler(stream or sys.stderr)
    for old in [f for f in handler.filters if isinstance(f, MaskingFilter)]:
        handler.removeFilter(old)
    handler.addFilter(MaskingFilter(masker or Masker()))
    handler.setFormatter(KeyValueFormatter())
    if not ours:
        root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return True


def parse_logfmt(line: str) -> dict[str, str]:
    """The fields of one line written by :class:`KeyValueFormatter` (for tests and tools)."""
    fields: dict[str, str] = {}
    for found in re.finditer(r'([A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        key, raw = found.group(1), found.group(2)
        if raw.startswith('"'):
            raw = re.sub(
                r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), raw[1:-1]
            )
        fields[key] = raw
    return fields


__all__ = [
    "KeyValueFormatter",
    "MaskingFilter",
    "build_context",
    "configure_logging",
    "current_build_id",
    "logfmt_value",
    "parse_logfmt",
]
