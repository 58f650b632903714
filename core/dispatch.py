"""Turn build plans into build records and queued jobs, once per delivery."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from rq import Queue

from buildrules.model import BuildPlan, Repository
from core.build import BuildRecord, BuildStatus, Trigger
from core.control import (
    QueueFullError,
    RepositoryQueueFullError,
    supersede,
    supersede_allowed,
    superseded_error,
    superseding,
)
from core.latest import with_latest
from core.queue import enqueue_for
from core.records import record_from_plan
from core.settings import default_repository_share
from core.store import (
    ADMITTING,
    BuildStore,
    DispatchView,
    active_ref_key,
    add_records,
    add_transition_if_unchanged,
    changed,
)

DUPLICATE_WAIT_SECONDS = 5.0


class WrittenWithErrors(redis.exceptions.ResponseError):
    """The transaction that queues a delivery's builds ran, but Redis refused one of its
    commands: the others were made (the builds are recorded, the delivery stays claimed)."""


@dataclass(frozen=True)
class DispatchResult:
    builds: tuple[BuildRecord, ...]
    duplicate: bool = False
    superseded: tuple[BuildRecord, ...] = ()


def _wait_for_records(store: BuildStore, build_ids: Sequence[str]) -> tuple[BuildRecord, ...]:
    """The builds an earlier copy of a delivery claimed; it may still be saving them."""
    deadline = time.monotonic() + DUPLICATE_WAIT_SECONDS
    while True:
        records = store.get_many(build_ids)
        if len(records) == len(build_ids) or time.monotonic() > deadline:
            return tuple(records)
        time.sleep(0.02)


def dispatch(
    store: BuildStore,
    queue: Queue,
    repository: Repository,
    plans: Sequence[BuildPlan],
    *,
    trigger: Trigger,
    delivery_id: str | None,
    max_queued: int = 0,
    write_also: Callable[[redis.client.Pipeline, Sequence[BuildRecord]], None] | None = None,
    body_digest: str | None = None,
    max_queued_per_repository: int | None = None,
) -> DispatchResult:
    """Record one build per plan and enqueue its id. A delivery id seen before queues nothing
    and answers the builds its first copy queued. Older queued builds of the same ref and rules
    are superseded. Over ``max_queued`` waiting builds (0: no cap) raises QueueFullError: the
    cap is checked and the places reserved in one step, so deliveries at the same instant
    never overshoot it; so is the repository's share of it, ``max_queued_per_repository``
    (None: half the cap; 0: none), over which RepositoryQueueFullError is raised.
    ``body_digest`` (sha256 of a webhook's body) is claimed with the delivery id: a replayed
    body under a new delivery id is a duplicate too. A claim whose builds are still not recorded
    after :data:`DUPLICATE_WAIT_SECONDS` (its dispatch failed and could not forget the claim: a
    Redis failover) is dropped, and this copy queues the builds.

    Two round trips: one reads (claims the delivery, counts the queue, reads the refs' active
    builds), one transaction writes everything (records, indexes, superseded builds, rq jobs).
    A superseded build is a compare-and-set on the record as read; one
    that changed meanwhile is superseded again the WATCH way (:func:`supersede`), and a build
    of the same ref recorded meanwhile by another process is looked at after the write, as
    when each step was a round trip of its own. ``write_also`` adds commands of its own to that
    transaction, before the jobs are queued (the first lines of the builds' logs). A rule with
    ``latest: auto`` adds ``latest`` to its plan when it is its highest release (core.latest)."""
    plans = with_latest(store.redis, repository, plans)
    records = [record_from_plan(plan, trigger, delivery_id) for plan in plans]
    refs = {(r.provider, r.repository, r.source_type.value, r.source_name) for r in records}
    ids = [r.id for r in records]
    share = (
        default_repository_share(max_queued)
        if max_queued_per_repository is None
        else max_queued_per_repository
    )

    def read() -> DispatchView:
        return store.read_for_dispatch(
            repository.provider,
            delivery_id,
            ids,
            refs,
            max_queued,
            repository=repository.name,
            share=share,
            body_digest=body_digest,
        )

    view = read()
    if view.earlier is not None:
        earlier = _wait_for_records(store, view.earlier)
        if earlier or not store.drop_stale_claim(
            repository.provider, delivery_id, view.earlier, body_digest=body_digest
        ):
            return DispatchResult(earlier, duplicate=True)
        view = read()  # the earlier copy claimed the delivery and recorded nothing: queue it now
        if view.earlier is not None:  # (unless yet another copy just claimed it)
            return DispatchResult(_wait_for_records(store, view.earlier), duplicate=True)
    try:
        if not view.admitted:
            raise _queue_full(repository, view, len(ids), max_queued, share)
        changes = _supersede_changes(repository, view, records)
        pipe = store.redis.pipeline(transaction=True)
        pipe.multi()
        add_records(pipe, records)
        if view.reservation:
            pipe.zrem(ADMITTING, view.reservation)
        swaps = [add_transition_if_unchanged(pipe, c.raw, c.older, c.updated) for c in changes]
        if write_also is not None:
            write_also(pipe, records)
        for record in records:
            enqueue_for(queue, record, repository, pipeline=pipe)
        indexed_at = len(pipe)
        for ref in refs:
            pipe.zrange(active_ref_key(*ref), 0, -1)
        replies = pipe.execute()
    except redis.exceptions.ExecAbortError:  # refused before it ran: nothing was written
        store.release_dispatch(
            repository.provider, delivery_id, view.reservation, body_digest=body_digest
        )
        raise
    except redis.exceptions.ResponseError as refused:  # the transaction ran: builds recorded
        raise WrittenWithErrors(str(refused)) from refused
    except Exception:
        store.release_dispatch(
            repository.provider, delivery_id, view.reservation, body_digest=body_digest
        )
        raise
    superseded: list[BuildRecord] = []
    for at, change in zip(swaps, changes, strict=True):
        if replies[at]:
            superseded.append(change.updated)
        else:  # the record changed since it was read: read it again
            superseded.extend(_supersede_again(store, repository, [change.older], records))
    seen = {r.id for r in records} | {older.id for _raw, older in view.active}
    meanwhile: list[str] = []
    for members in replies[indexed_at:]:
        meanwhile.extend(m.decode() for m in members if m.decode() not in seen)
    recorded_meanwhile = store.get_many(list(dict.fromkeys(meanwhile)))
    superseded.extend(_supersede_again(store, repository, recorded_meanwhile, records))
    return DispatchResult(tuple(records), superseded=tuple(superseded))


def _queue_full(
    repository: Repository, view: DispatchView, adding: int, cap: int, share: int
) -> QueueFullError:
    if cap and view.queued + adding > cap:
        return QueueFullError(view.queued, cap)
    return RepositoryQueueFullError(
        f"{repository.provider}/{repository.name}", view.repository_queued, share
    )


@dataclass(frozen=True)
class _Change:
    raw: bytes  # the older build as read
    older: BuildRecord
    updated: BuildRecord  # the older build, superseded
    replacement: BuildRecord


def _supersede_changes(
    repository: Repository, view: DispatchView, records: Sequence[BuildRecord]
) -> list[_Change]:
    """The active builds read that the new ``records`` supersede, and what each becomes."""
    changes: list[_Change] = []
    for raw, older in view.active:
        replacement = superseding(repository, older, records)
        if replacement is not None:
            updated = changed(
                older,
                BuildStatus.SUPERSEDED,
                expect=supersede_allowed(repository),
                error=superseded_error(replacement),
            )
            changes.append(_Change(raw, older, updated, replacement))
    return changes


def _supersede_again(
    store: BuildStore,
    repository: Repository,
    olders: Sequence[BuildRecord],
    records: Sequence[BuildRecord],
) -> list[BuildRecord]:
    """Supersede, one WATCH at a time, the older builds that ``records`` replace."""
    superseded: list[BuildRecord] = []
    for older in olders:
        replacement = superseding(repository, older, records)
        if replacement is not None:
            again = supersede(store, repository, older, replacement)
            if again is not None:
                superseded.append(again)
    return superseded
