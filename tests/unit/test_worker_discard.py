"""An exported context leaves the scratch directory at once and is deleted in the background."""

from __future__ import annotations

import time
from pathlib import Path

from worker.checkout import TRASH_DIR, discard


def fill(directory: Path, files: int = 200) -> None:
    (directory / "src" / "assets").mkdir(parents=True)
    for number in range(files):
        (directory / "src" / "assets" / f"{number}.bin").write_bytes(b"x" * 1024)


def wait_empty(directory: Path, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not any(directory.iterdir()):
            return True
        time.sleep(0.02)
    return False


def test_the_context_is_out_of_the_scratch_directory_at_once_and_deleted_soon(tmp_path):
    scratch = tmp_path / "contexts"
    root = scratch / "context-abc"
    fill(root)

    discard(root)

    assert list(scratch.iterdir()) == []
    assert wait_empty(tmp_path / TRASH_DIR)


def test_leftovers_of_a_process_that_ended_are_deleted_by_the_next_build(tmp_path):
    scratch = tmp_path / "contexts"
    fill(tmp_path / TRASH_DIR / "context-left-behind")
    root = scratch / "context-new"
    fill(root)

    discard(root)

    assert wait_empty(tmp_path / TRASH_DIR)
