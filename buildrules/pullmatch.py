"""What matching does differently for a pull request: the fork gate and the PR template values.

A ``source_type: pull_request`` rule matches the pull request's *base* branch. Its build is
recorded under the ref name ``pr/<N>``, so a newer commit on the same pull request supersedes
the older build as a newer push to a branch does. A build of a fork's pull request never pushes.
"""

from __future__ import annotations

from buildrules.model import Repository
from core.events import PullRequest


def fork_refusal(repository: Repository, pull: PullRequest | None) -> str | None:
    """Why a fork's pull request is not built (``autotest: internal``), or None."""
    if pull is None or not pull.fork or repository.autotest == "all":  # None acts as internal
        return None
    return (
        f"pull request #{pull.number} comes from a fork and {repository.name} has autotest: "
        "internal (set autotest: all to build pull requests from forks, without secrets)"
    )


def pull_values(pull: PullRequest | None) -> dict[str, str] | None:
    """The values of ``{pr}``, ``{head_ref}`` and ``{base_ref}``; None for a push."""
    if pull is None:
        return None
    return {"pr": str(pull.number), "head_ref": pull.head_ref, "base_ref": pull.base_ref}
