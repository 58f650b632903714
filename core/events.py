"""The host-independent push (or pull request) event every git host's payload is turned into."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

ZERO_SHA = "0" * 40


class RefType(enum.StrEnum):
    BRANCH = "branch"
    TAG = "tag"
    PULL_REQUEST = "pull_request"  # a build of a pull request's head: ref name ``pr/<number>``


def pull_request_ref_name(number: int) -> str:
    """The ref name a pull request's builds are recorded (and superseded) under: ``pr/<N>``."""
    return f"pr/{number}"


@dataclass(frozen=True)
class PullRequest:
    """A pull (merge) request a build is for.

    ``fetch_ref`` is the ref at the configured clone URL that holds the head commit
    (``refs/pull/N/head`` on GitHub and Gitea, ``refs/merge-requests/N/head`` on GitLab,
    ``refs/pull-requests/N/from`` on Bitbucket Server). Bitbucket Cloud has none: there
    ``fetch_ref`` is the head branch and ``fork_clone_url`` the fork's clone URL (when the head
    is in a fork), which the worker uses only on the configured clone URL's host.
    """

    number: int
    head_ref: str
    base_ref: str
    fork: bool = False
    fetch_ref: str = ""
    fork_clone_url: str | None = None

    @property
    def ref_name(self) -> str:
        return pull_request_ref_name(self.number)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "head_ref": self.head_ref,
            "base_ref": self.base_ref,
            "fork": self.fork,
            "fetch_ref": self.fetch_ref,
            "fork_clone_url": self.fork_clone_url,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PullRequest | None:
        if not data:
            return None
        return cls(
            number=int(data["number"]),
            head_ref=str(data["head_ref"]),
            base_ref=str(data["base_ref"]),
            fork=bool(data.get("fork", False)),
            fetch_ref=str(data.get("fetch_ref", "")),
            fork_clone_url=data.get("fork_clone_url"),
        )


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
    # Set for a pull request event: ``ref_type`` is then PULL_REQUEST and ``ref_name`` the base
    # branch (what ``source_type: pull_request`` rules match).
    pull_request: PullRequest | None = None

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
