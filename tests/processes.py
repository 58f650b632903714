"""Which processes a test left behind: ones pointing into a directory, and this process's
children."""

from __future__ import annotations

import os
from pathlib import Path


def processes_touching(path: Path) -> list[str]:
    """Every process whose command line or working directory points into ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(path) in argv or cwd.startswith(str(path)):
            found.append(f"{entry.name}: {argv}")
    return found


def children() -> list[str]:
    """The processes this test process started that are still there (zombies included)."""
    mine = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            mine.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()!r}")
    return mine
