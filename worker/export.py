"""A commit's files written into a directory: ``git archive`` piped into ``tar -x``, both killed
with everything they started when the build's deadline passes or the build is stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.gitcmd import Git, communicate, failure_reason, kill_group
from worker.deadline import Deadline
from worker.errors import CheckoutError

LOCAL_COMMAND_SECONDS = 120.0  # cap for waiting on git archive once tar has finished


def export_commit(git: Git, sha: str, destination: Path, deadline: Deadline) -> None:
    """Write the files of commit ``sha`` (a checked commit id) into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    handle = git.start(["archive", "--format=tar", "--end-of-options", sha])
    archive = handle.proc
    assert archive is not None and archive.stdout is not None and archive.stderr is not None
    untar = subprocess.Popen(
        ["tar", "-x", "-f", "-", "-C", str(destination), "--no-same-owner"],
        stdin=archive.stdout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    archive.stdout.close()  # tar holds the read end now
    try:
        _, tar_err = communicate(untar, deadline.backstop(), lambda: deadline.expired)
        archive_err = archive.stderr.read()
        archive.wait(timeout=deadline.timeout(LOCAL_COMMAND_SECONDS))
    except BaseException as exc:  # our deadline, or rq's job timeout arriving meanwhile
        kill_group(archive)
        kill_group(untar)
        archive.wait()
        untar.wait()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise deadline.error(f"exporting commit {sha[:7]}") from None
        raise
    finally:
        archive.stderr.close()
    if archive.returncode != 0:
        reason = failure_reason(archive_err.decode("utf-8", "replace"))
        raise CheckoutError(f"Could not export commit {sha[:7]} from the git mirror: {reason}")
    if untar.returncode != 0:
        lines = tar_err.decode("utf-8", "replace").strip().splitlines()
        raise CheckoutError(
            f"Could not unpack commit {sha[:7]}: {lines[-1] if lines else 'tar failed'}"
        )
