"""What a build of a fork's pull request is given: nothing secret.

A fork's pull request runs code its author controls and the repository's owners have not
reviewed. Its build gets no build secrets (``secrets:``), no registry credentials in the build
session (a ``FROM`` of a private image fails, as on Docker Hub), no ``env`` secrets and no hooks
(for the modules that add them: ask :func:`untrusted` first), and it never pushes (the matcher
sets ``push`` false). ``network`` stays as configured. Whether forks build at all is the
repository's ``autotest: internal | all``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from core.build import BuildRecord

V = TypeVar("V")

WITHHELD_LINE = (
    "Pull request from a fork: this build gets no build secrets and no registry credentials,"
    " and pushes nothing"
)


def untrusted(record: BuildRecord) -> bool:
    """True for a build of a pull request whose head is in a fork."""
    return record.pull_request is not None and record.pull_request.fork


def withheld(record: BuildRecord, values: Mapping[str, V]) -> Mapping[str, V]:
    """``values`` (secrets, credentials, env secrets) for a trusted build; empty for a fork's."""
    return {} if untrusted(record) else values
