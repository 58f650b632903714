"""Bounds on what one build may write to its log: the length of a line and the bytes in all.

A build's output is hostile: one endless line, or gigabytes of them, must cost a worker no more
than a short one (a line is cut at :data:`MAX_LINE_CHARS`) and Redis no more than
``AUTOBUILD_LOG_MAX_BYTES`` (:func:`truncated_line` is the last line stored past it).
"""

from __future__ import annotations

MAX_LINE_CHARS = 16 * 1024
CUT_MARKER = "… line cut at 16 KiB"
MIB = 1024 * 1024


def cut_line(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """``line``, or its first ``limit`` characters and the cut marker when it is longer."""
    return line if len(line) <= limit else f"{line[:limit]} {CUT_MARKER}"


def truncated_line(max_bytes: int) -> str:
    """The one line stored when a log reaches ``max_bytes``: nothing after it is stored."""
    return f"Log truncated at {_mebibytes(max_bytes)}: later lines are not stored"


def _mebibytes(count: int) -> str:
    if count % MIB == 0:
        return f"{count // MIB} MiB"
    return f"{count / MIB:.2f} MiB" if count >= MIB // 100 else f"{count} bytes"
