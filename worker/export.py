"""A commit's files written into a directory: ``git archive`` piped into ``tar -x``, both killed
with everything they started when the build's deadline passes or the build is stopped.

Before anything is written, the commit's tree is listed (``ls-tree -r -l``: blob sizes from the
object headers, nothing read) and its size checked against the limit, so a small pack whose one
blob appears under thousands of names cannot fill the worker's disk; while exporting, the bytes
going into ``tar`` are counted against the same figure, in case the listing and the archive ever
disagree. Only the build context's directory is exported when that is enough.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.gitcmd import Git, GitTimeoutError, communicate, failure_reason, kill_group
from worker.containment import ContextTooLargeError, human_size
from worker.deadline import Deadline
from worker.errors import CheckoutError

LOCAL_COMMAND_SECONDS = 120.0  # cap for waiting on git archive once tar has finished
TAR_BYTES_PER_ENTRY = 3 * 512  # a header, padding and a long-name header at most, per entry
TAR_BYTES_FIXED = 16 * 1024  # git's pax global header, the end marker, padding to 10 KiB records
PUMP_CHUNK = 1 << 20


@dataclass(frozen=True)
class TreeListing:
    """The files of a commit's tree (or of one directory in it)."""

    files: int
    directories: int
    size: int  # bytes of the files (a symbolic link counts the length of its target)
    links: frozenset[str]  # paths of symbolic links

    @property
    def archive_bytes(self) -> int:
        """The most a tar archive of these files can take."""
        return self.size + TAR_BYTES_PER_ENTRY * (self.files + self.directories) + TAR_BYTES_FIXED


def list_tree(git: Git, sha: str, path: str, deadline: Deadline) -> TreeListing:
    """Every file under ``path`` (``.``: the whole tree) in commit ``sha``, with sizes."""
    args = ["ls-tree", "-r", "-t", "-l", "-z", "--end-of-options", sha]
    if path != ".":
        args += ["--", path]
    try:
        result = git.run(args, deadline.backstop(LOCAL_COMMAND_SECONDS), lambda: deadline.expired)
    except GitTimeoutError:
        raise deadline.error(f"listing commit {sha[:7]}") from None
    if not result.ok:
        reason = failure_reason(result.stderr)
        raise CheckoutError(f"Could not list commit {sha[:7]} in the git mirror: {reason}")
    files = directories = size = 0
    links: set[str] = set()
    for entry in result.stdout.split("\0"):
        meta, _, name = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == "tree":
            directories += 1
        if len(fields) != 4 or fields[1] != "blob":
            continue  # empty, a directory, or a submodule (a commit: nothing is exported)
        files += 1
        size += int(fields[3])
        if fields[0] == "120000":
            links.add(name)
    return TreeListing(files, directories, size, frozenset(links))


def export_commit(
    git: Git,
    sha: str,
    destination: Path,
    deadline: Deadline,
    paths: Sequence[str] = (),
    max_bytes: int = 0,
) -> None:
    """Write the files of commit ``sha`` (a checked commit id), or only those under ``paths``,
    into ``destination``; :class:`ContextTooLargeError` once more than ``max_bytes`` of archive
    (0: no limit) went into ``tar``."""
    destination.mkdir(parents=True, exist_ok=True)
    # after --end-of-options nothing is an option; GIT_LITERAL_PATHSPECS: no pathspec magic
    handle = git.start(["archive", "--format=tar", "--end-of-options", sha, *paths])
    archive = handle.proc
    assert archive is not None and archive.stdout is not None and archive.stderr is not None
    untar, write_end = _start_untar(archive, destination)
    pump = Pump(archive, untar, write_end, max_bytes)
    pump.start()
    try:
        _, tar_err = communicate(untar, deadline.backstop(), lambda: deadline.expired)
        pump.join()
        archive_err = archive.stderr.read()
        archive.wait(timeout=deadline.timeout(LOCAL_COMMAND_SECONDS))
    except BaseException as exc:  # our deadline, or rq's job timeout arriving meanwhile
        kill_group(archive)
        kill_group(untar)
        archive.wait()
        untar.wait()
        pump.join()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise deadline.error(f"exporting commit {sha[:7]}") from None
        raise
    finally:
        archive.stderr.close()
    if pump.exceeded:
        raise ContextTooLargeError(
            f"Commit {sha[:7]} grew past {human_size(max_bytes)} while it was exported; stopped"
        )
    if archive.returncode != 0:
        reason = failure_reason(archive_err.decode("utf-8", "replace"))
        raise CheckoutError(f"Could not export commit {sha[:7]} from the git mirror: {reason}")
    if untar.returncode != 0:
        lines = tar_err.decode("utf-8", "replace").strip().splitlines()
        raise CheckoutError(
            f"Could not unpack commit {sha[:7]}: {lines[-1] if lines else 'tar failed'}"
        )


def _start_untar(
    archive: subprocess.Popen[bytes], destination: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """``tar -x`` into ``destination`` reading a new pipe, and the pipe's write end."""
    read_end, write_end = os.pipe()
    try:
        untar = subprocess.Popen(
            ["tar", "-x", "-f", "-", "-C", str(destination), "--no-same-owner"],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except BaseException:
        os.close(write_end)
        kill_group(archive)
        archive.wait()
        raise
    finally:
        os.close(read_end)
    return untar, write_end


class Pump(threading.Thread):
    """Moves the archive into tar (``splice``: no copy through Python) and counts the bytes;
    past ``max_bytes`` it kills both and says so in ``exceeded``."""

    def __init__(
        self,
        archive: subprocess.Popen[bytes],
        untar: subprocess.Popen[bytes],
        write_end: int,
        max_bytes: int,
    ) -> None:
        super().__init__(name="autobuild-export", daemon=True)
        self.archive, self.untar, self.write_end, self.max_bytes = (
            archive,
            untar,
            write_end,
            max_bytes,
        )
        self.moved = 0
        self.exceeded = False

    def run(self) -> None:
        assert self.archive.stdout is not None
        source = self.archive.stdout.fileno()
        try:
            while True:
                select.select([source], [], [])
                moved = os.splice(source, self.write_end, PUMP_CHUNK)
                if moved == 0:
                    return
                self.moved += moved
                if self.max_bytes and self.moved > self.max_bytes:
                    self.exceeded = True
                    kill_group(self.archive)
                    kill_group(self.untar)
                    return
        except OSError:  # tar is gone (killed, or it failed): its status says why
            kill_group(self.archive)
        finally:
            os.close(self.write_end)
            self.archive.stdout.close()
