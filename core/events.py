"""The host-independent push event every git host's payload is turned into."""

from __future__ import annotations

import enum
from dataclasses import dataclass

ZERO_SHA = "0" * 40


class RefType(enum.StrEnum):
    BRANCH = "branch"
    TAG = "tag"


@dataclass(frozen=True)
class PushEvent:
    """One ref moving to one commit.

    ``changed_files`` is None when the host could not tell us every changed file (new branch,
    forced push, truncated commit list): path filters then let the build through.
    """

    provider: str
    repository: str
    ref_type: RefType
    ref_name: str
    commit: str
    before: str | None = None
    delivery_id: str = ""
    changed_files: tuple[str, ...] | None = None
    head_message: str = ""
    base_ref: str | None = None  # a tag push: the branch the tagged commit is on, if the host says

    @property
    def short_sha(self) -> str:
        return self.commit[:7]


@dataclass(frozen=True)
class Delivery:
    """What one webhook delivery said: push events to build, or why there is nothing to do.

    ``ignored`` is set (and ``events`` empty) for pings, deletions and event kinds we do not build.
    """

    delivery_id: str
    events: tuple[PushEvent, ...] = ()
    ignored: str | None = None
