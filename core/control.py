"""Build control in the web process: supersede, cancel, retry, and the queue cap. (What the
workers do about lost builds and automatic retries is in :mod:`core.recovery`.)"""

from __future__ import annotations

from collections.abc import Sequence

from rq import Queue

from buildrules.model import Repository
from core.build import RUNNING_STATUSES, BuildRecord, BuildStatus
from core.queue import enqueue_for
from core.records import record_from_plan
from core.store import BuildStore, StaleTransitionError


class QueueFullError(RuntimeError):
    """More builds are waiting than the configured cap allows."""

    def __init__(self, queued: int, cap: int) -> None:
        super().__init__(f"{queued} builds are already queued (the cap is {cap}); try again later.")
        self.queued = queued
        self.cap = cap


class RepositoryQueueFullError(QueueFullError):
    """The repository has its whole share of the queue waiting
    (AUTOBUILD_MAX_QUEUED_PER_REPOSITORY):
    one repository cannot fill the queue for every other."""

    def __init__(self, repository: str, queued: int, share: int) -> None:
        RuntimeError.__init__(
            self,
            f"{queued} builds of {repository} are already queued (its share of the queue is "
            f"{share}); try again later.",
        )
        self.queued = queued
        self.cap = share


def _same_ref_and_rules(older: BuildRecord, newer: BuildRecord) -> bool:
    return (
        older.id != newer.id
        and older.provider == newer.provider
        and older.repository.lower() == newer.repository.lower()
        and older.source_type == newer.source_type
        and older.source_name == newer.source_name
        and older.image == newer.image
        and bool(
            set(older.rule_indexes) & set(newer.rule_indexes)
            or older.docker_tags == newer.docker_tags
        )
        and older.created_at <= newer.created_at
    )


def supersede_allowed(repository: Repository) -> frozenset[BuildStatus]:
    """The statuses a newer push supersedes: queued; with ``cancel_running``, running too."""
    if repository.cancel_running:
        return frozenset({BuildStatus.QUEUED, *RUNNING_STATUSES})
    return frozenset({BuildStatus.QUEUED})


def superseding(
    repository: Repository, older: BuildRecord, newer: Sequence[BuildRecord]
) -> BuildRecord | None:
    """The build of ``newer`` that supersedes ``older``, if one does."""
    if older.id in {n.id for n in newer}:  # builds of one push never supersede each other
        return None
    replacement = next((n for n in newer if _same_ref_and_rules(older, n)), None)
    if replacement is None or older.status not in supersede_allowed(repository):
        return None
    return replacement


def superseded_error(replacement: BuildRecord) -> str:
    return (
        f"Superseded by build {replacement.id} of newer commit "
        f"{replacement.commit[:7]} on {replacement.source_name}."
    )


def supersede(
    store: BuildStore, repository: Repository, older: BuildRecord, replacement: BuildRecord
) -> BuildRecord | None:
    """Move ``older`` to ``superseded`` unless it ended or moved on meanwhile (then None)."""
    try:
        return store.transition(
            older.id,
            BuildStatus.SUPERSEDED,
            expect=supersede_allowed(repository),
            error=superseded_error(replacement),
        )
    except StaleTransitionError:
        return None


def cancel_build(store: BuildStore, build_id: str, who: str = "an administrator") -> BuildRecord:
    """End a queued or running build as ``canceled``. A running build's worker sees the status
    change within seconds, stops the Docker build and pushes nothing more."""
    return store.transition(build_id, BuildStatus.CANCELED, error=f"Canceled by {who}.")


def retry_build(
    store: BuildStore, queue: Queue, repository: Repository, build_id: str
) -> BuildRecord:
    """Queue a new build of the same plan, linked to the one it retries."""
    original = store.require(build_id)
    record = record_from_plan(original, original.trigger, retry_of=original.id)
    store.create([record])
    enqueue_for(queue, record, repository)
    return record
