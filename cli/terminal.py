"""Text from a build, made safe for a terminal: a build's output is hostile, and C0/C1 control
characters and escape sequences written raw could move the cursor, rewrite earlier lines
("Build succeeded"), hide text, set the window title or write the clipboard (OSC 52). Every
control character except tab (and the newlines between lines) is shown escaped instead, like
``\\x1b``, so an escape sequence prints as harmless text."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and the C1 controls (U+0080-U+009F; U+009B is a CSI).
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROLS_KEEP_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def terminal_line(text: str) -> str:
    """One line for the terminal: every control character but tab escaped (a newline too)."""
    return _CONTROLS.sub(_escaped, text)


def terminal_text(text: str) -> str:
    """Lines for the terminal: as :func:`terminal_line`, the newlines between lines kept."""
    return _CONTROLS_KEEP_NEWLINE.sub(_escaped, text)
